"""Request bodies of ``vqa2 serve``: JSON or multipart, the body size limit, private upload folders.

An upload is streamed into a fresh ``tempfile.mkdtemp`` folder (mode 0700, private to the server's user)
as ``upload<.ext>`` (the client's extension, when it is plain), checked against ``--max-upload-mb``
while it is copied, given the client's ``mtime_ns`` (so ``input.mtime`` in the record, the key
``batch --resume`` matches on, is the client's file's), and deleted when the request's job ends.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .security import Refused, confine

JSON_BODY_LIMIT = 1 << 20  # bytes: a JSON request is options and a path, never media


class ApiError(Exception):
    """Any refusal: HTTP ``status``, stable ``code``, one-line ``message``, the CLI's ``exit_code``."""

    def __init__(self, status: int, code: str, message: str, exit_code: int = 4, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, " ".join(message.split())
        self.exit_code, self.retry_after = exit_code, retry_after


async def json_body(request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > JSON_BODY_LIMIT:
        raise ApiError(413, "too_large", f"JSON body over {JSON_BODY_LIMIT} bytes", 2)
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_request", f"malformed JSON body: {str(exc).splitlines()[0]}", 2) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the JSON body must be an object", 2)
    return body


@dataclass
class Input:
    path: str  # what the scorer opens
    name: str  # what the record shows
    body: dict[str, Any]
    cleanup: Any = None  # folder to delete when the job is done


async def read_input(request, task: str, *, roots: list[Path], max_upload_bytes: int) -> Input:
    """Parse a /v1/score or /v1/ask body: JSON ``{"path"}`` (confined to ``roots``) or a multipart upload."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        body = await json_body(request)
        _check_keys(body, task, upload=False)
        if not isinstance(body.get("path"), str):
            raise ApiError(422, "usage", "a JSON request needs 'path' (a file under an --allow-root folder)", 2)
        try:
            path = confine(body["path"], roots)
        except Refused as exc:
            raise ApiError(exc.status, exc.code, exc.message, 2 if exc.status == 422 else 3) from exc
        return Input(path, path, body)
    if kind == "multipart/form-data":
        return await _read_upload(request, task, max_upload_bytes)
    raise ApiError(415, "unsupported_media_type", "send multipart/form-data with a 'file' part, or JSON "
                   "{\"path\": ...} for a file under an --allow-root folder", 2)


def _check_keys(body: dict[str, Any], task: str, *, upload: bool) -> None:
    allowed = {"options", *(("name", "mtime_ns") if upload else ("path",)), *(("questions",) if task == "ask" else ()),
               *(("calibration",) if task == "score" else ())}  # serve/routes_calibration.py
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(422, "usage", f"unknown request field '{unknown[0]}' (known: {', '.join(sorted(allowed))})", 2)


async def _read_upload(request, task: str, max_upload_bytes: int) -> Input:
    from starlette.concurrency import run_in_threadpool

    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception as exc:  # noqa: BLE001 - starlette's multipart errors: a malformed body
        if isinstance(exc, BodyTooLarge):
            raise
        raise ApiError(400, "bad_request", f"malformed multipart body: {getattr(exc, 'detail', exc)}", 2) from exc
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, "usage", "the multipart body needs a 'file' part holding the video", 2)
        body = _request_part(form.get("request"), task)
        name = body.get("name") or Path(upload.filename or "upload").name
        folder = tempfile.mkdtemp(prefix="vqa2-upload-")  # mode 0700: private to the server's user
        dest = os.path.join(folder, "upload" + _safe_suffix(name))
        try:
            await run_in_threadpool(_copy, upload.file, dest, max_upload_bytes)
            mtime_ns = body.get("mtime_ns")
            if mtime_ns is not None:
                os.utime(dest, ns=(int(mtime_ns), int(mtime_ns)))
        except BaseException:
            remove(folder)
            raise
        return Input(dest, str(name), body, cleanup=folder)
    finally:
        await form.close()


def _request_part(raw: Any, task: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, str):
        raw = raw.file.read().decode("utf-8", "replace")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "bad_request", f"malformed JSON in the 'request' part: {exc}", 2) from exc
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the 'request' part must be a JSON object", 2)
    _check_keys(body, task, upload=True)
    if body.get("mtime_ns") is not None and not isinstance(body["mtime_ns"], int):
        raise ApiError(422, "usage", "'mtime_ns' must be an integer (nanoseconds)", 2)
    if body.get("name") is not None and not isinstance(body["name"], str):
        raise ApiError(422, "usage", "'name' must be a string", 2)
    return body


def _copy(src, dest: str, limit: int) -> int:
    """Copy the upload in 1 MiB chunks; ApiError 413 past ``limit`` bytes. Returns the size in bytes."""
    size = 0
    with open(dest, "xb") as out:
        while chunk := src.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "too_large", f"upload over the server's limit of {limit} bytes "
                               "(--max-upload-mb)", 3)
            out.write(chunk)
    return size


def _safe_suffix(name: str) -> str:
    suffix = os.path.splitext(name)[1]
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""


def remove(folder: str | None) -> None:
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(413, "too_large", f"request body over the server's limit of {limit} bytes "
                         "(--max-upload-mb)", 3)


class BodyLimit:
    """ASGI middleware: refuse a body whose Content-Length (or streamed size) exceeds ``limit`` bytes."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await _send_error(send, BodyTooLarge(self.limit))
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        return await self.app(scope, limited, send)


async def _send_error(send, exc: ApiError) -> None:
    body = json.dumps({"error": {"code": exc.code, "message": exc.message, "exit_code": exc.exit_code}}).encode()
    await send({"type": "http.response.start", "status": exc.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
