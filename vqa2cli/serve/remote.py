"""``--server`` runs of score/ask/batch: server JSON rebuilt into records, written by the CLI's own writers.

:class:`RemoteScoreRecord` / :class:`RemoteAnswerRecord` are the server's ``vqa2.score/1`` / ``vqa2.answer/1``
JSON as records (``to_dict()`` returns that JSON unchanged), :class:`RemoteBatchScorer` feeds ``vqa2 batch``'s
job engine, and ``run_remote_scoring`` / ``run_remote_asking`` are ``score`` / ``ask`` with ``--server``. The
HTTP side (settings check, uploads, retries, one-line errors) is :mod:`vqa2cli.serve.client`. Exit codes are
the in-process ones: 2 for a refused option, 3 for an input the server could not use, 4 for a server fault.
"""

from __future__ import annotations

import threading
from typing import Any

from ..errors import ExitCode, InputError, UsageError
from ..records.cells import display_text, path_bytes
from ..records.results import AnswerRecord, ModelInfo, ScoreRecord
from .client import MODEL_ERROR_CODES, RemoteModelError, ServerClient, ServerError


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
    record = RemoteScoreRecord(path=data["path"], score=data.get("score"), probs=data.get("probs"),
                               level=data.get("level"), input=data.setdefault("input", {}),
                               peak_gpu_mem_gb=data.get("peak_gpu_mem_gb"), segments=data.get("segments"),
                               pooled=data.get("pooled"), worst=data.get("worst"),
                               explanation=data.get("explanation"), **_common(data))
    record.data = data
    return record


def answer_record(data: dict[str, Any]) -> RemoteAnswerRecord:
    record = RemoteAnswerRecord(path=data["path"], question=data.get("question", ""), answer=data.get("answer"),
                                generation=data.get("generation") or {}, segment=data.get("segment"),
                                **_common(data))
    record.data = data
    return record


def _common(data: dict[str, Any]) -> dict[str, Any]:
    error = data.get("error") or {}
    model = data.get("model")
    return {"status": data.get("status", "ok"), "model": ModelInfo(**model) if model else None,
            "sampling": data.get("sampling") or {}, "timing": data.get("timing") or {},
            "warnings": list(data.get("warnings") or []), "error_code": error.get("code"),
            "error": error.get("message"), "config": data.get("config")}


class RemoteBatchScorer:
    """``BatchScorer`` for ``vqa2 batch --server URL...``: ``prepare`` sends the file to the least busy
    server (from a decode worker thread), ``run`` hands the record back; rows are written by the batch's
    own writers, so --resume/--csv/--jsonl behave as in-process."""

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


def segment_request(options: dict[str, Any], *, segments: str | None, pool: str | None,
                    implied: bool) -> None:
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
            raise UsageError(f"the servers disagree: {client.url} resolves the options differently from "
                             f"{clients[0].url}", "run the same model and version on every --server")
    return clients, merge_layers(configs[0])


def collect_options(**flags: Any) -> dict[str, Any]:
    """CLI flag values (None = not given) → a request's ``options``; ``@FILE`` stalling is read here."""
    options = {k: v for k, v in flags.items() if v is not None}
    if flags.get("config") is not None:
        raise UsageError("--config cannot be sent to a server", "start the server with `vqa2 serve --config FILE`")
    options.pop("config", None)
    stalling = options.get("stalling")
    if isinstance(stalling, str) and stalling.strip().startswith("@"):
        from ..pipeline.prompts import parse_stalling

        stall = parse_stalling(stalling, options.get("stalling_style", "sequence"))
        options["stalling"] = stall.flags or "none"
    return options


def run_remote_scoring(paths: list[str], urls: list[str], options: dict[str, Any], fmt: str,
                       fail_under: float | None, send_paths: bool, console,
                       window_flags: dict[str, Any] | None = None) -> ExitCode:
    """``vqa2 score --server``: the loop of ``cli.score.run_scoring`` with the model on the server.

    ``window_flags``: ``segments_csv``/``fail_segment_under``/``plot`` of the command, applied here to
    the returned records' windows (``options`` already carries ``segments``/``pool``)."""
    import sys

    from ..cli.segments import score_exit_code, segment_options
    from ..jobs.windows import SegmentOutputs
    from ..output.render import make_writer
    from ..pipeline import interrupts
    from ..pipeline.run import error_record, preflight

    interrupts.expect(len(paths), "the results printed so far are complete")
    clients, settings = connect(urls[:1], "score", options)  # score/ask use the first server
    settings, plan = segment_options(settings, segments=options.get("segments"), pool=options.get("pool"),
                                     n_files=len(paths), **(window_flags or {}))
    if plan.plot:
        console.info("--server: the plot has no key-frame strip (the frames stay on the server)")
    early = {} if send_paths else {e.path: e for e in preflight(paths)}
    segment_out = SegmentOutputs(plan, settings, console)
    writer = make_writer(fmt, sys.stdout, "score")
    failed, below = 0, 0
    try:
        for path in paths:
            try:
                if path in early:
                    raise early[path]
                record = score_record(clients[0].score(path, options, send_path=send_paths))
            except InputError as exc:
                record = error_record(path, exc, settings)
            if record.status != "ok" and record.error_code in MODEL_ERROR_CODES:
                raise RemoteModelError(f"{clients[0].url}: {record.error}")
            if record.status != "ok":
                console.error(record.error)
                with interrupts.deferred():  # printed and counted together
                    writer.write(record)
                    interrupts.advance()
                failed += 1
                continue
            for warning in record.warnings:
                console.warning(f"{path}: {warning}")
            with interrupts.deferred():
                writer.write(record)
                interrupts.advance()
            if fail_under is not None and record.score < fail_under:
                below += 1
            replay_windows(record, segment_out.on_window)
            segment_out.after(record)
    finally:
        writer.close()
        segment_out.close()
        clients[0].close()
    return score_exit_code(console, len(paths), failed, below, fail_under, segment_out, plan.fail_segment_under)


def run_remote_asking(path: str, asked: list[str], urls: list[str], options: dict[str, Any], fmt: str,
                      send_paths: bool, console) -> ExitCode:
    """``vqa2 ask --server``: the answers of ``cli.ask.run_asking`` (not streamed token by token)."""
    import sys

    from ..output.render import make_writer
    from ..pipeline import interrupts
    from ..pipeline.run import preflight

    interrupts.expect(1, "the answers printed so far are complete")
    clients, _ = connect(urls[:1], "ask", options)
    if not send_paths:
        early = preflight([path])
        if early:
            raise early[0]
    try:
        records = [answer_record(d) for d in clients[0].ask(path, asked, options, send_path=send_paths)]
    finally:
        clients[0].close()
    if fmt == "table":
        _answer_table(records, asked)
    else:
        writer = make_writer(fmt, sys.stdout, "answer")
        try:
            for record in records:
                writer.write(record)
        finally:
            writer.close()
    interrupts.advance()
    return ExitCode.OK


def _answer_table(records, asked: list[str]) -> None:
    """The table of ``cli.ask`` (not streamed): per window (``ask --segments``) a ``[start–end]`` header."""
    import sys

    from ..video.segments import format_time

    if records and records[0].segment is not None:
        for i, record in enumerate(records):
            if i % len(asked) == 0:
                span = record.segment
                sys.stdout.write(f"[{format_time(span['start_s'])}–{format_time(span['end_s'])}]\n")
            sys.stdout.write(f"Q: {record.question}\nA: {record.answer}\n\n")
    else:
        for question, record in zip(asked, records):
            sys.stdout.write(f"Q: {question}\nA: {record.answer}" + ("\n\n" if len(asked) > 1 else "\n"))
    sys.stdout.flush()
