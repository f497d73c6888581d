"""The HTTP client behind ``vqa2 score/ask/batch --server URL``: same records, output and exit codes.

The client first sends its options to ``POST /v1/settings`` (so a bad flag is exit 2 with the CLI's
one-line message before any file is sent), then uploads each file (multipart, with its name and
``mtime_ns`` so the record's ``path`` and ``input.mtime`` are the local file's) or, with
``--server-paths``, sends ``{"path": <absolute path>}`` for a file the server can read under its
``--allow-root``. The server's JSON record is written by the CLI's own writers, unchanged.

Failures: a server that cannot be reached, refuses the token, or stays busy (503 after
``VQA2_SERVER_WAIT`` seconds, default 300, of waiting ``Retry-After`` seconds at a time) is :class:`ServerError` (exit 4, one line naming
the URL); a 422 usage refusal is :class:`~vqa2cli.errors.UsageError` (exit 2); an input the server could
not use comes back as the same error record (exit 3) as in-process.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from ..errors import ExitCode, InputError, UsageError, Vqa2Error
from ..output.cells import display_text, path_bytes
from ..output.records import AnswerRecord, ModelInfo, ScoreRecord

MAX_BUSY_WAIT_S = 300.0  # 503 answers are waited out (Retry-After, at most MAX_WAIT_S each) this long
MAX_WAIT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
MODEL_ERROR_CODES = ("runtime_error", "internal_error")


class ServerError(Vqa2Error):
    """The server is down, refused the request, or failed (exit 4)."""


class RemoteInputError(InputError):
    """The server refused the input itself (too large, path outside its roots): exit 3, an error row."""

    def __init__(self, path: str, message: str, code: str):
        Vqa2Error.__init__(self, message if message.startswith(path) else f"{path}: {message}")
        self.path, self.code = path, code


class RemoteModelError(Vqa2Error):
    """The server's model failed on a file (out of memory...): exit 4 for score, an error row in batch."""


def server_urls(given: list[str] | str | None) -> list[str]:
    """``--server`` values, else ``VQA2_SERVER`` (comma- or space-separated); [] when neither is set."""
    values = [given] if isinstance(given, str) else list(given or [])
    if not values:
        values = [os.environ.get("VQA2_SERVER", "")]
    urls = [u.strip().rstrip("/") for v in values for u in v.replace(",", " ").split() if u.strip()]
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--server {url}: not an http(s) URL", "e.g. --server http://127.0.0.1:8000")
    return urls


class ServerClient:
    """One server. ``token`` defaults to ``VQA2_TOKEN``; ``timeout_s`` (read) to ``VQA2_SERVER_TIMEOUT`` or 900."""

    def __init__(self, url: str, token: str | None = None, timeout_s: float | None = None):
        import httpx

        self.url = url
        token = token if token is not None else os.environ.get("VQA2_TOKEN") or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        read = timeout_s if timeout_s is not None else float(os.environ.get("VQA2_SERVER_TIMEOUT", "900"))
        self.http = httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(read, connect=CONNECT_TIMEOUT_S))
        self.in_flight = 0  # requests under way (batch spreads files to the least busy server)
        self.sent = 0  # files sent

    def close(self) -> None:
        self.http.close()

    def settings(self, task: str, options: dict[str, Any]) -> dict[str, Any]:
        """The resolved config for ``options`` (UsageError with the server's one line when refused)."""
        body = self._json(self._send("POST", "/v1/settings", json={"task": task, "options": options}))
        if "config" not in body:
            raise ServerError(f"{self.url}: unexpected answer to /v1/settings")
        return body["config"]

    def score(self, path: str, options: dict[str, Any], *, send_path: bool = False) -> dict[str, Any]:
        """The server's ``vqa2.score/1`` record for the local file ``path`` (relabelled to ``path``)."""
        return self._work("score", path, {"options": options}, send_path)

    def ask(self, path: str, questions: list[str], options: dict[str, Any], *,
            send_path: bool = False) -> list[dict[str, Any]]:
        """The server's ``vqa2.answer/1`` records, one per question."""
        return self._work("ask", path, {"options": options, "questions": questions}, send_path)

    def _work(self, task: str, path: str, body: dict[str, Any], send_path: bool):
        self.sent += 1
        if send_path:
            sent = os.path.abspath(path)
            result = self._json(self._send("POST", f"/v1/{task}", json={**body, "path": sent}), path)
            return _relabel(result, sent, path)
        import json

        st = os.stat(path)
        meta = json.dumps({**body, "name": str(path), "mtime_ns": st.st_mtime_ns})
        with open(path, "rb") as fh:
            suffix = os.path.splitext(path)[1]
            safe = "upload" + (suffix if suffix.isascii() and suffix[1:].isalnum() else "")  # the name is in meta
            files = {"file": (safe, fh, "application/octet-stream")}
            response = self._send("POST", f"/v1/{task}", files=files, data={"request": meta}, rewind=fh)
        return self._json(response, path)

    def _send(self, method: str, route: str, rewind=None, **kwargs):
        import httpx

        deadline = time.monotonic() + float(os.environ.get("VQA2_SERVER_WAIT", MAX_BUSY_WAIT_S))
        while True:
            if rewind is not None:
                rewind.seek(0)
            try:
                response = self.http.request(method, route, **kwargs)
            except httpx.TransportError as exc:
                raise ServerError(f"cannot reach the vqa2 server at {self.url}: {_reason(exc)}",
                                  "start it with `vqa2 serve`, or check --server / VQA2_SERVER") from exc
            pause = min(MAX_WAIT_S, _retry_after(response))
            if response.status_code != 503 or time.monotonic() + pause > deadline:
                return response
            time.sleep(pause)

    def _json(self, response, path: str | None = None) -> Any:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, list) or (isinstance(body, dict) and ("schema" in body or "error" not in body)):
            return body  # records: ok (200), unusable input (422), model failure (500); settings (200)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            raise ServerError(f"the vqa2 server at {self.url} answered HTTP {response.status_code} "
                              f"without a vqa2 body", "is --server pointing at `vqa2 serve`?")
        message = str(error.get("message", "")).strip()
        code = error.get("exit_code")
        if code == ExitCode.USAGE and response.status_code in (400, 413, 415, 422):
            raise UsageError(message)
        if code == ExitCode.USAGE:  # the server's own usage refusal (404 no_assistant...): exit 2, its line
            raise UsageError(f"the vqa2 server at {self.url}: {message}")
        if code == ExitCode.INPUT and path is not None:
            raise RemoteInputError(path, message, str(error.get("code", "input_error")))
        fix = "set VQA2_TOKEN to the server's token" if response.status_code == 401 else None
        raise ServerError(f"the vqa2 server at {self.url} refused the request (HTTP {response.status_code}): "
                          f"{message}", fix)


def _retry_after(response) -> float:
    try:
        return max(0.1, float(response.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _relabel(result: Any, sent: str, shown: str) -> Any:
    """Name the file as the user wrote it (the server saw the absolute path) in path/error/warnings."""
    if sent == shown:
        return result
    for record in result if isinstance(result, list) else [result]:
        record["path"] = shown
        if isinstance(record.get("error"), dict) and record["error"].get("message"):
            record["error"]["message"] = record["error"]["message"].replace(sent, shown)
        record["warnings"] = [w.replace(sent, shown) for w in record.get("warnings") or []]
    return result


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
                               pooled=data.get("pooled"), worst=data.get("worst"), **_common(data))
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

    from ..cli.segments import SegmentOutputs, score_exit_code, segment_options
    from ..output.render import make_writer
    from ..pipeline.run import error_record, preflight

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
                writer.write(record)
                failed += 1
                continue
            for warning in record.warnings:
                console.warning(f"{path}: {warning}")
            writer.write(record)
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
    from ..pipeline.run import preflight

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
        return ExitCode.OK
    writer = make_writer(fmt, sys.stdout, "answer")
    try:
        for record in records:
            writer.write(record)
    finally:
        writer.close()
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


def remote_error_factory(make_error):
    """``make_error`` for ``run_batch`` that stops the batch (exit 4) when a server is unreachable."""

    def make(path: str, exc: BaseException):
        if isinstance(exc, (ServerError, UsageError)):
            raise exc
        return make_error(path, exc)

    return make
