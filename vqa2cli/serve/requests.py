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

from ..errors import ApiError  # any refusal; its HTTP status and exit code are declared in errors.API_ERRORS
from .limits import BODY_TIMEOUT_S, JSON_BODY_LIMIT, parse_json, read_json_body  # noqa: F401 - JSON_BODY_LIMIT re-exported
from .security import Refused, open_confined


async def json_body(request, body_timeout_s: float = BODY_TIMEOUT_S) -> dict[str, Any]:
    """The JSON object of ``request``: size, idle time and shape bounded while it arrives (serve/limits.py)."""
    return await read_json_body(request, body_timeout_s)


@dataclass
class Input:
    path: str  # what the scorer opens
    name: str  # what the record shows
    body: dict[str, Any]
    cleanup: Any = None  # folder to delete / pinned file to close when the job is done


async def read_input(
    request, task: str, *, roots: list[Path], max_upload_bytes: int, body_timeout_s: float = BODY_TIMEOUT_S
) -> Input:
    """Parse a /v1/score or /v1/ask body: JSON ``{"path"}`` (confined to ``roots``) or a multipart upload.
    Sizes and the time between two chunks are bounded while the body arrives (serve/limits.py)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        body = await json_body(request, body_timeout_s)
        _check_keys(body, task, upload=False)
        if body.get("path") is None:
            raise ApiError(
                422, "usage", "a JSON request needs 'path' (a file under an --allow-root folder)", 2
            )
        if not isinstance(body["path"], str):
            raise ApiError(
                422,
                "usage",
                f"'path' must be a string, not {_json_type(body['path'])}"
                " (a file under an --allow-root folder)",
                2,
            )
        try:
            pinned = open_confined(body["path"], roots)  # opened once; read through its descriptor
        except Refused as exc:
            raise ApiError(exc.status, exc.code, exc.message, 2 if exc.status == 422 else 3) from exc
        return Input(pinned.key, pinned.name, body, cleanup=pinned)
    if kind == "multipart/form-data":
        return await _read_upload(request, task, max_upload_bytes, body_timeout_s)
    raise ApiError(
        415,
        "unsupported_media_type",
        "send multipart/form-data with a 'file' part, or JSON "
        '{"path": ...} for a file under an --allow-root folder',
        2,
    )


def _check_keys(body: dict[str, Any], task: str, *, upload: bool) -> None:
    allowed = {
        "options",
        *(("name", "mtime_ns") if upload else ("path",)),
        *(("questions",) if task == "ask" else ()),
        *(("calibration",) if task == "score" else ()),
    }  # serve/routes_calibration.py
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(
            422, "usage", f"unknown request field '{unknown[0]}' (known: {', '.join(sorted(allowed))})", 2
        )


async def _read_upload(request, task: str, max_upload_bytes: int, body_timeout_s: float) -> Input:
    from .uploads import read_multipart

    folder = tempfile.mkdtemp(prefix="vqa2-upload-")  # mode 0700: private to the server's user
    try:
        upload = await read_multipart(request, folder, max_upload_bytes, body_timeout_s)
        body = _request_part(upload.request_text, task)
        name = body.get("name") or Path(upload.filename or "upload").name
        dest = os.path.join(folder, "upload" + _safe_suffix(name))
        if dest != upload.dest:
            os.rename(upload.dest, dest)  # inside the private folder: the extension tells FFmpeg the format
        mtime_ns = body.get("mtime_ns")
        if mtime_ns is not None:
            os.utime(dest, ns=(mtime_ns, mtime_ns))
        pinned = _pin(dest)  # read through its descriptor like a path request (video/opening.NO_REFERENCES)
    except BaseException:
        remove(folder)
        raise
    return Input(pinned.key, str(name), body, cleanup=PinnedUpload(folder, pinned))


class PinnedUpload:
    """An upload's private folder and its pinned descriptor, freed together by :func:`remove`."""

    def __init__(self, folder: str, pinned):
        self.folder, self.pinned = folder, pinned

    def close(self) -> None:
        self.pinned.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def _pin(dest: str):
    from ..video import source

    return source.pin(os.open(dest, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)), dest)


def _request_part(raw: str | None, task: str) -> dict[str, Any]:
    if raw is None:
        return {}
    body = parse_json(raw, "JSON in the 'request' part")
    _check_keys(body, task, upload=True)
    mtime_ns = body.get("mtime_ns")
    if mtime_ns is not None and (
        not isinstance(mtime_ns, int) or isinstance(mtime_ns, bool) or not 0 <= mtime_ns < 1 << 63
    ):
        raise ApiError(422, "usage", "'mtime_ns' must be an integer of nanoseconds from 0 to 2^63-1", 2)
    if body.get("name") is not None and not isinstance(body["name"], str):
        raise ApiError(422, "usage", "'name' must be a string", 2)
    return body


def _safe_suffix(name: str) -> str:
    suffix = os.path.splitext(name)[1]
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix) else ""


def remove(cleanup) -> None:
    """Free what a request held: its pinned descriptor (and an upload's private folder), or a folder."""
    if hasattr(cleanup, "close"):
        cleanup.close()
    elif cleanup:
        shutil.rmtree(cleanup, ignore_errors=True)


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(
            413, "too_large", f"request body over the server's limit of {limit} bytes (--max-upload-mb)", 3
        )


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


async def _send_error(send, exc: ApiError, extra: list[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps(
        {"error": {"code": exc.code, "message": exc.message, "exit_code": exc.exit_code}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json_type(value) -> str:
    """The JSON name of a parsed value's type (``123`` → ``number``), for a message about a wrong field."""
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", list: "an array", dict: "an object"}.get(
        type(value), "a string"
    )
