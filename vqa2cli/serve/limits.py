"""What a client may send to ``vqa2 serve``, and how slowly: every limit is enforced while the bytes arrive.

* **Sizes.** A declared ``Content-Length`` over the limit is refused before a byte of the body is read; a
  body sent without one (chunked) is counted as it arrives and refused (413) the moment the count crosses
  the limit. JSON bodies and the multipart ``request`` part: :data:`JSON_BODY_LIMIT`; the multipart ``file``
  part: ``--max-upload-mb``, counted while it is written to the private upload folder
  (:mod:`vqa2cli.serve.uploads`).
* **Time.** ``--header-timeout`` (default :data:`HEADER_TIMEOUT_S`): the request line and headers must have
  arrived that long after the connection opened or the previous response ended, else the connection is
  closed (uvicorn's ``timeout_keep_alive`` only covers an idle connection between requests, and
  ``h11_max_incomplete_event_size`` bounds the header *size*, not its time). ``--body-timeout`` (default
  :data:`BODY_TIMEOUT_S`): the longest wait for the next chunk of a body; past it the request is answered
  408 and the connection closed.
* **Shape.** A JSON body holds one object, nested at most :data:`MAX_JSON_DEPTH` deep, with finite numbers
  (no ``NaN``/``Infinity``, no float overflowing to infinity) and integers within ±2^63. Anything else is a
  400 with the error body, never a plain-text 500.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from typing import Any

from ..errors import ApiError

JSON_BODY_LIMIT = 1 << 20  # bytes: a JSON request is options and a path, never media
HEADER_TIMEOUT_S = 10.0  # seconds for the request line + headers
BODY_TIMEOUT_S = 30.0  # seconds of silence allowed between two chunks of a body
GRACE_S = 30.0  # seconds SIGTERM waits for requests in flight before cutting the rest
MAX_JSON_DEPTH = 32  # nesting levels of objects/arrays in a request body
INT_LIMIT = 1 << 63  # |integer| in a request body (mtime_ns is int64 nanoseconds)


_api_error = ApiError  # status and exit code: errors.API_ERRORS


def too_large(limit: int, what: str, hint: str) -> Exception:
    """The 413 refusal of ``what`` over ``limit`` bytes (``hint``: the option that sets it): ``json_too_large``
    (exit 2) for the JSON body and the multipart ``request`` part, ``too_large`` (that file's error) otherwise."""
    code = "too_large" if what == "upload" else "json_too_large"
    return _api_error(413, code, f"{what} over the server's limit of {limit} bytes{hint}")


def declared_length(request) -> int | None:
    """The request's ``Content-Length`` as an int (None when absent); 400 when it is not a number."""
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise _api_error(400, "bad_request", "Content-Length must be a decimal number of bytes", 2)
    return int(raw)


async def body_chunks(request, limit: int, idle_s: float, what: str, hint: str = "") -> AsyncIterator[bytes]:
    """The body of ``request`` chunk by chunk, refused (413) as soon as more than ``limit`` bytes are
    declared or have arrived, and (408) when no chunk arrives for ``idle_s`` seconds."""
    import asyncio

    from starlette.requests import ClientDisconnect

    declared = declared_length(request)
    if declared is not None and declared > limit:
        raise too_large(limit, what, hint)
    stream = request.stream().__aiter__()
    seen = 0
    while True:
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), idle_s)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise _api_error(
                408, "timeout", f"no data of the request body for {idle_s:g} s (the server's --body-timeout)"
            ) from None
        except ClientDisconnect:
            raise _api_error(
                400, "client_disconnected", "the client closed the connection mid-body", 2
            ) from None
        seen += len(chunk)
        if seen > limit:
            raise too_large(limit, what, hint)
        yield chunk


async def read_json_body(request, idle_s: float = BODY_TIMEOUT_S) -> dict[str, Any]:
    """The request's JSON object, read under :data:`JSON_BODY_LIMIT` and ``idle_s`` (see :func:`parse_json`)."""
    parts = [chunk async for chunk in body_chunks(request, JSON_BODY_LIMIT, idle_s, "JSON body")]
    return parse_json(b"".join(parts), "JSON body")


def parse_json(raw: bytes | str, where: str) -> dict[str, Any]:
    """``raw`` as a JSON object held to the shape rules of the module doc; ApiError 400 naming ``where``."""

    def bad(reason: str):
        return _api_error(400, "bad_request", f"malformed {where}: {reason}", 2)

    def constant(name: str):
        raise bad(f"{name} is not a number JSON allows")

    def number(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):
            raise bad(f"{text[:40]} is out of range")
        return value

    def integer(text: str) -> int:
        if len(text.lstrip("-")) > 19 or abs(int(text)) >= INT_LIMIT:
            raise bad(f"integer {text[:40]}{'...' if len(text) > 40 else ''} is out of range (|n| < 2^63)")
        return int(text)

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        body = json.loads(text or "{}", parse_constant=constant, parse_float=number, parse_int=integer)
    except RecursionError:
        raise bad(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        if hasattr(exc, "status"):
            raise
        raise bad(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    if not isinstance(body, dict):
        raise bad("it must be a JSON object")
    if _depth(body) > MAX_JSON_DEPTH:
        raise bad(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (iterative: no recursion limit to hit)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                todo.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def header_deadline_protocol(header_timeout_s: float):
    """uvicorn's h11 protocol with a deadline on the request line + headers: armed when a connection opens
    and when a response ends, the connection is closed if no request's headers are complete by then."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderDeadlineProtocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._header_timer = self.loop.call_later(header_timeout_s, self._header_deadline)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(header_timeout_s, self._header_deadline)

        def connection_lost(self, exc) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

        def _header_deadline(self) -> None:
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:  # no request whose headers arrived in time
                self.transport.close()

    return HeaderDeadlineProtocol
