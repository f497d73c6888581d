"""The ``--server`` sources of score/ask/batch: server JSON rebuilt into records, written by the same runs.

:class:`RemoteScoreRecord` / :class:`RemoteAnswerRecord` are the server's ``vqa2.score/1`` / ``vqa2.answer/1``
JSON as records (``to_dict()`` returns that JSON unchanged). :class:`RemoteScoring` is the scoring source of
:func:`~vqa2cli.jobs.score_run.run_score`, :class:`RemoteAsking` the asking source of
:func:`~vqa2cli.jobs.ask_run.run_ask`, :class:`RemoteBatchScorer` the ``BatchScorer`` of ``vqa2 batch``'s job
engine: the loops are the in-process ones. The HTTP side (settings check, uploads, retries, one-line errors)
is :mod:`vqa2cli.remote.client`. Exit codes are the in-process ones: 2 for a refused option, 3 for an input
the server could not use or refused (an error record, the run goes on), 4 for a server fault.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import MODEL_ERROR_CODES, InputError, UsageError
from ..records.cells import display_text, path_bytes
from ..records.results import AnswerRecord, ModelInfo, ScoreRecord
from .client import RemoteModelError, ServerClient, ServerError


class RemoteScoreRecord(ScoreRecord):
    """A ``ScoreRecord`` rebuilt from the server's JSON; ``to_dict()`` is that JSON, byte for byte."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data


class RemoteAnswerRecord(AnswerRecord):
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data


def score_record(data: dict[str, Any]) -> RemoteScoreRecord:
    record = RemoteScoreRecord(
        path=data["path"],
        score=data.get("score"),
        probs=data.get("probs"),
        level=data.get("level"),
        input=data.setdefault("input", {}),
        peak_gpu_mem_gb=data.get("peak_gpu_mem_gb"),
        segments=data.get("segments"),
        pooled=data.get("pooled"),
        worst=data.get("worst"),
        explanation=data.get("explanation"),
        **_common(data),
    )
    record.data = data
    return record


def answer_record(data: dict[str, Any]) -> RemoteAnswerRecord:
    record = RemoteAnswerRecord(
        path=data["path"],
        question=data.get("question", ""),
        answer=data.get("answer"),
        generation=data.get("generation") or {},
        segment=data.get("segment"),
        **_common(data),
    )
    record.data = data
    return record


def _common(data: dict[str, Any]) -> dict[str, Any]:
    error = data.get("error") or {}
    model = data.get("model")
    return {
        "status": data.get("status", "ok"),
        "model": ModelInfo(**model) if model else None,
        "sampling": data.get("sampling") or {},
        "timing": data.get("timing") or {},
        "warnings": list(data.get("warnings") or []),
        "error_code": error.get("code"),
        "error": error.get("message"),
        "config": data.get("config"),
    }


class RemoteBatchScorer:
    """``BatchScorer`` for ``vqa2 batch --server URL...``: ``prepare`` sends the file to the least busy
    server (from a decode worker thread), ``run`` hands the record back; rows are written by the batch's
    own writers, so --resume/--csv/--jsonl behave as in-process."""

    last_thumbnails: tuple = ()  # ``JobScorer``: the key frames stay on the server (no strip in --plot)

    def __init__(self, clients: list[ServerClient], options: dict[str, Any], send_path: bool):
        self.clients, self.options, self.send_path = clients, options, send_path
        self.on_window = None  # SegmentOutputs.on_window (--segments-csv): called in ``run`` per window
        self._lock = threading.Lock()

    def prepare(self, path: str) -> RemoteScoreRecord:
        with self._lock:
            client = min(self.clients, key=lambda c: c.in_flight)
            client.in_flight += 1
        try:
            record = score_record(client.score(path, self.options, send_path=self.send_path))
        finally:
            with self._lock:
                client.in_flight -= 1
        # the row names the local file exactly (--resume matches it), also when its name is not UTF-8
        record.path = path
        record.data.update(path=display_text(path), path_bytes=path_bytes(path))
        return record

    @property
    def workers(self) -> int:
        """Decode-worker threads the batch needs at least: two requests in flight per server."""
        return 2 * len(self.clients)

    @staticmethod
    def error_factory(make_error):
        """``make_error`` for ``run_batch`` that stops the batch (exit 4) when a server is unreachable."""

        def make(path: str, exc: BaseException):
            if isinstance(exc, (ServerError, UsageError)):
                raise exc
            return make_error(path, exc)

        return make

    def run(self, prepared: RemoteScoreRecord) -> RemoteScoreRecord:
        if prepared.status != "ok" and prepared.error_code in MODEL_ERROR_CODES:
            raise RemoteModelError(prepared.error or "the server's model failed")  # a row, as in-process
        replay_windows(prepared, self.on_window)
        return prepared


def replay_windows(record: ScoreRecord, on_window) -> None:
    """Hand a returned record's windows to ``on_window(path, entry, file_stat)`` as ``SegmentingScorer``
    does while scoring (the tidy --segments-csv rows; here once the record is back)."""
    if on_window is None or record.status != "ok":
        return
    for entry in record.segments or ():
        on_window(record.path, entry, record.input or {})


def segment_request(
    options: dict[str, Any], *, segments: str | None, pool: str | None, implied: bool
) -> None:
    """Add ``segments``/``pool`` to a request's options; flags that imply windows send ``segments: auto``
    (the server resolves it to its card's window, as ``segment_options`` does in-process)."""
    if segments is None and implied:
        segments = "auto"
    options.update({k: v for k, v in (("segments", segments), ("pool", pool)) if v is not None})


def connect(urls: list[str], task: str, options: dict[str, Any]):
    """Clients for ``urls`` and the config every server resolves ``options`` to (they must agree)."""
    from ..config import merge_layers

    clients = [ServerClient(url) for url in urls]
    configs = [c.settings(task, options) for c in clients]
    for client, config in zip(clients[1:], configs[1:]):
        if config != configs[0]:
            raise UsageError(
                f"the servers disagree: {client.url} resolves the options differently from {clients[0].url}",
                "run the same model and version on every --server",
            )
    return clients, merge_layers(configs[0])


def connect_scoring(
    urls: list[str],
    options: dict[str, Any],
    *,
    segments: str | None,
    pool: str | None,
    window_flags: dict[str, Any],
    console,
):
    """``score``/``batch --server``: clients for ``urls``, the servers' settings and the window plan
    (``window_flags``: ``segment_options``'s output options; ``segments``/``pool`` join ``options``)."""
    from ..jobs.windows import segment_options

    outputs = ("segments_csv", "fail_segment_under", "plot", "plot_dir")
    segment_request(
        options, segments=segments, pool=pool, implied=any(window_flags.get(k) is not None for k in outputs)
    )
    clients, settings = connect(urls, "score", options)
    settings, plan = segment_options(
        settings, segments=options.get("segments"), pool=options.get("pool"), **window_flags
    )
    if plan.plot or plan.plot_dir:
        console.info("--server: the plots have no key-frame strip (the frames stay on the server)")
    return clients, settings, plan


def collect_options(**flags: Any) -> dict[str, Any]:
    """CLI flag values (None = not given) → a request's ``options``; ``@FILE`` stalling is read here."""
    options = {k: v for k, v in flags.items() if v is not None}
    if flags.get("config") is not None:
        raise UsageError(
            "--config cannot be sent to a server", "start the server with `vqa2 serve --config FILE`"
        )
    options.pop("config", None)
    stalling = options.get("stalling")
    if isinstance(stalling, str) and stalling.strip().startswith("@"):
        from ..pipeline.prompts import parse_stalling

        stall = parse_stalling(stalling, options.get("stalling_style", "sequence"))
        options["stalling"] = stall.flags or "none"
    return options


class RemoteScoring:
    """The scoring source of ``vqa2 score --server``: each file sent to the first server in turn (after the
    local preflight unless ``send_path``); an input the server could not use or refused is its error record,
    a model failure on the server raises :class:`RemoteModelError` (exit 4) as in-process."""

    def __init__(self, client: ServerClient, options: dict[str, Any], settings, *, send_path: bool = False):
        self.client, self.options, self.settings, self.send_path = client, options, settings, send_path

    def records(self, paths: list[str], on_window):
        from ..pipeline.run import error_record, preflight

        early = {} if self.send_path else {e.path: e for e in preflight(paths)}
        try:
            for path in paths:
                try:
                    if path in early:
                        raise early[path]
                    record = score_record(self.client.score(path, self.options, send_path=self.send_path))
                except InputError as exc:
                    record = error_record(path, exc, self.settings)
                if record.status != "ok" and record.error_code in MODEL_ERROR_CODES:
                    raise RemoteModelError(f"{self.client.url}: {record.error}")
                replay_windows(record, on_window)
                yield record
        finally:
            self.client.close()

    def thumbnails(self):
        return ()  # the frames stay on the server


class RemoteAsking:
    """The asking source of ``vqa2 ask --server``: one request with every question; the answers come whole
    (each handed to ``on_text`` at once, not token by token)."""

    def __init__(self, client: ServerClient, options: dict[str, Any], *, send_path: bool = False):
        self.client, self.options, self.send_path = client, options, send_path
        self.warnings: list[str] = []

    def answers(self, path: str, questions: list[str]):
        from ..jobs.ask_run import PendingAnswer
        from ..pipeline.run import preflight

        if not self.send_path:
            for error in preflight([path]):
                raise error
        try:
            records = [
                answer_record(d)
                for d in self.client.ask(path, questions, self.options, send_path=self.send_path)
            ]
        finally:
            self.client.close()
        for record in records:
            yield PendingAnswer(
                record.question, record.segment, lambda on_text, r=record: _streamed(r, on_text)
            )


def _streamed(record: RemoteAnswerRecord, on_text) -> RemoteAnswerRecord:
    if on_text is not None:
        on_text(record.answer or "")
    return record
