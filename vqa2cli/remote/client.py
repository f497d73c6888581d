"""The HTTP client behind ``vqa2 score/ask/batch --server URL``: same records, output and exit codes.

The client first sends its options to ``POST /v1/settings`` (so a bad flag is exit 2 with the CLI's
one-line message before any file is sent), then uploads each file (multipart, with its name and
``mtime_ns`` so the record's ``path`` and ``input.mtime`` are the local file's) or, with
``--server-paths``, sends ``{"path": <absolute path>}`` for a file the server can read under its
``--allow-root``. The server's JSON record is written by the CLI's own writers, unchanged.

Failures: a server that cannot be reached, refuses the token, or stays busy (503 after
``VQA2_SERVER_WAIT`` seconds, default 300, of waiting ``Retry-After`` seconds at a time) is :class:`ServerError`
(exit 4, one line naming the URL); a refused option (``/v1/settings``) is :class:`~vqa2cli.errors.UsageError`
(exit 2). A file the server could not use comes back as its error record (exit 3) as in-process; a file it
refuses (any other 4xx on a file request: 400 malformed, 403 outside the roots or not a regular file, 404,
413 too large, 415, 422) is :class:`RemoteInputError`, the same error record/row and exit 3 with the
server's code and line, and the run goes on with the next file. A connection that fails before the request
is sent is retried by httpx's transport (``CONNECT_RETRIES``); one reset or closed mid-request is sent again
(``RESET_RETRIES`` times: scoring is idempotent) before it is reported.
"""

from __future__ import annotations

import os
import time
from typing import Any

from ..errors import ExitCode, InputError, UsageError, Vqa2Error

MAX_BUSY_WAIT_S = 300.0  # 503 answers are waited out (Retry-After, at most MAX_WAIT_S each) this long
MAX_WAIT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
CONNECT_RETRIES = 2  # httpx transport retries: a connection that could not be opened
RESET_RETRIES = 2  # a request whose connection was reset or closed before the answer is sent again


class ServerError(Vqa2Error):
    """The server is down, refused the request, or failed (exit 4)."""


class RemoteInputError(InputError):
    """The server refused the input itself (too large, path outside its roots): exit 3, an error row."""

    def __init__(self, path: str, message: str, code: str, fix: str | None = None):
        super().__init__(path, message.removeprefix(f"{path}: "), fix)
        self.code = code


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
        self.http = httpx.Client(
            base_url=url,
            headers=headers,
            timeout=httpx.Timeout(read, connect=CONNECT_TIMEOUT_S),
            transport=httpx.HTTPTransport(retries=CONNECT_RETRIES),
        )
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

    def ask(
        self, path: str, questions: list[str], options: dict[str, Any], *, send_path: bool = False
    ) -> list[dict[str, Any]]:
        """The server's ``vqa2.answer/1`` records, one per question."""
        return self._work("ask", path, {"options": options, "questions": questions}, send_path)

    def _work(self, task: str, path: str, body: dict[str, Any], send_path: bool):
        self.sent += 1
        from ..inputs.materialize import is_local_copy

        if send_path and not is_local_copy(path):  # -, a URL, a manifest: this process's copy is uploaded
            sent = os.path.abspath(path)
            result = self._json(self._send("POST", f"/v1/{task}", json={**body, "path": sent}), path, sent)
            return _relabel(result, sent, path)
        import json

        st = os.stat(path)
        meta = json.dumps({**body, "name": str(path), "mtime_ns": st.st_mtime_ns})
        with open(path, "rb") as fh:
            suffix = os.path.splitext(path)[1]
            safe = "upload" + (
                suffix if suffix.isascii() and suffix[1:].isalnum() else ""
            )  # the name is in meta
            files = {"file": (safe, fh, "application/octet-stream")}
            response = self._send("POST", f"/v1/{task}", files=files, data={"request": meta}, rewind=fh)
        return self._json(response, path)

    def _send(self, method: str, route: str, rewind=None, **kwargs):
        import httpx

        deadline = time.monotonic() + float(os.environ.get("VQA2_SERVER_WAIT", MAX_BUSY_WAIT_S))
        resets = 0
        while True:
            if rewind is not None:
                rewind.seek(0)
            try:
                response = self.http.request(method, route, **kwargs)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                if resets < RESET_RETRIES:  # reset or closed mid-request: the same request once more
                    resets += 1
                    time.sleep(0.2 * resets)
                    continue
                raise ServerError(
                    f"the vqa2 server at {self.url} closed the connection {resets + 1} times: {_reason(exc)}",
                    "check the server's log; it may have restarted",
                ) from exc
            except httpx.TransportError as exc:
                raise ServerError(
                    f"cannot reach the vqa2 server at {self.url}: {_reason(exc)}",
                    "start it with `vqa2 serve`, or check --server / VQA2_SERVER",
                ) from exc
            pause = min(MAX_WAIT_S, _retry_after(response))
            if response.status_code != 503 or time.monotonic() + pause > deadline:
                return response
            time.sleep(pause)

    def _json(self, response, path: str | None = None, sent: str | None = None) -> Any:
        """The answer's JSON; a refusal raised as its kind. ``path``: the local file of a file request
        (``sent``: the name the server was given for it, replaced by ``path`` in the server's line)."""
        try:
            body = response.json()
        except ValueError:
            body = None
        records = isinstance(body, list) or (isinstance(body, dict) and "schema" in body)
        if records or (isinstance(body, dict) and "error" not in body and 200 <= response.status_code < 300):
            return body  # records: ok (200), unusable input (422), model failure (500); settings (200)
        error = body.get("error") if isinstance(body, dict) else None
        status = response.status_code
        if not isinstance(error, dict):
            error = {"code": "http_error", "message": f"HTTP {status} without a vqa2 error body"}
            if not (path is not None and 400 <= status < 500 and status != 401):
                raise ServerError(
                    f"the vqa2 server at {self.url} answered HTTP {status} without a vqa2 body",
                    "is --server pointing at `vqa2 serve`?",
                )
        message = " ".join(str(error.get("message", "")).split()) or f"HTTP {status}"
        code = error.get("exit_code")
        if path is not None and 400 <= status < 500 and status != 401:  # the server refused this file
            if sent and sent != path:
                message = message.replace(sent, path)
            message = message.removeprefix(f"{path}: ")  # the line names the file once, in front
            raise RemoteInputError(
                path,
                f"refused by the vqa2 server (HTTP {status}): {message}",
                str(error.get("code") or "input_error"),
                _REFUSAL_FIXES.get(status),
            )
        if code == ExitCode.USAGE and status in (400, 413, 415, 422):
            raise UsageError(message)
        if code == ExitCode.USAGE:  # the server's own usage refusal (404 no_assistant...): exit 2, its line
            raise UsageError(f"the vqa2 server at {self.url}: {message}")
        fix = "set VQA2_TOKEN to the server's token" if status == 401 else None
        raise ServerError(
            f"the vqa2 server at {self.url} refused the request (HTTP {status}): {message}", fix
        )


_REFUSAL_FIXES = {
    403: "with --server-paths the file must be a regular file under the server's --allow-root; "
    "leave --server-paths out to upload it",
    413: "the file is over the server's --max-upload-mb; score it in-process or raise the server's limit",
}


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
    from ..records.cells import relabel_text  # the one rule of every route and client

    if sent == shown:
        return result
    names = {sent: shown}
    for record in result if isinstance(result, list) else [result]:
        record["path"] = shown
        if isinstance(record.get("error"), dict) and record["error"].get("message"):
            record["error"]["message"] = relabel_text(record["error"]["message"], names)
        elif isinstance(record.get("error"), str):
            record["error"] = relabel_text(record["error"], names)
        record["warnings"] = [relabel_text(w, names) for w in record.get("warnings") or []]
    return result
