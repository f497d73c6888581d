"""Multipart uploads of ``vqa2 serve``, parsed while they arrive (python-multipart's streaming parser).

Starlette's ``request.form()`` bounds only the text fields (1 MiB each) and spools a file part to a
temporary file of any size before the route sees it, so an upload limit checked afterwards is checked after
the fact. Here the body is fed to :class:`python_multipart.MultipartParser` chunk by chunk
(:func:`~vqa2cli.serve.limits.body_chunks`: total size and idle time bounded) and each part is checked as
its bytes come in: the ``file`` part is written straight into the private upload folder and refused (413)
the moment it passes ``--max-upload-mb``; the ``request`` part (JSON) is refused past
:data:`~vqa2cli.serve.limits.JSON_BODY_LIMIT`; any other part name, a second file, or part headers over
16 KiB are refused at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..errors import ApiError
from .limits import BODY_TIMEOUT_S, JSON_BODY_LIMIT, body_chunks, too_large

PART_HEADER_LIMIT = 16 << 10  # bytes of headers per part
PARTS = ("file", "request")


_api_error = ApiError  # status and exit code: errors.API_ERRORS


@dataclass
class Upload:
    """What a multipart body held: the file written to ``dest`` (``size`` bytes, the client's
    ``filename``) and the ``request`` part's text (None when absent)."""

    dest: str | None = None
    filename: str | None = None
    size: int = 0
    request_text: str | None = None
    _out: object = None
    _part: dict = field(default_factory=dict)


class _Parts:
    """python-multipart callbacks: route each part's bytes to the upload file or the request buffer."""

    def __init__(self, folder: str, max_upload_bytes: int):
        self.folder, self.limit = folder, max_upload_bytes
        self.upload = Upload()
        self.header_name = self.header_value = b""
        self.header_bytes = 0
        self.name: str | None = None
        self.request = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }

    def on_part_begin(self) -> None:
        self.header_bytes, self.name, self.disposition = 0, None, b""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self.header_value += data[start:end]

    def _count(self, n: int) -> None:
        self.header_bytes += n
        if self.header_bytes > PART_HEADER_LIMIT:
            raise _api_error(400, "bad_request", f"multipart part headers over {PART_HEADER_LIMIT} bytes", 2)

    def on_header_end(self) -> None:
        if self.header_name.strip().lower() == b"content-disposition":
            self.disposition = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self.disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if name not in PARTS:
            raise _api_error(
                422,
                "usage",
                f"unknown multipart part '{name[:40]}': send the video as the 'file' "
                "part (and options as an optional 'request' part)",
                2,
            )
        if name == "file":
            if self.upload.dest is not None:
                raise _api_error(422, "usage", "one 'file' part per request", 2)
            filename = options.get(b"filename")
            self.upload.filename = filename.decode("utf-8", "surrogateescape") if filename else None
            self.upload.dest = os.path.join(self.folder, "upload")
            self.upload._out = open(self.upload.dest, "xb")  # noqa: SIM115 - closed in on_part_end / close()
        elif self.upload.request_text is not None or self.request:
            raise _api_error(422, "usage", "one 'request' part per request", 2)
        self.name = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.name == "file":
            self.upload.size += end - start
            if self.upload.size > self.limit:
                raise too_large(self.limit, "upload", " (--max-upload-mb)")
            self.upload._out.write(data[start:end])
        else:
            if len(self.request) + end - start > JSON_BODY_LIMIT:
                raise too_large(JSON_BODY_LIMIT, "the 'request' part", "")
            self.request += data[start:end]

    def on_part_end(self) -> None:
        if self.name == "file":
            self.close()
        elif self.name == "request":
            self.upload.request_text = self.request.decode("utf-8", "replace")

    def close(self) -> None:
        if self.upload._out is not None:
            self.upload._out.close()
            self.upload._out = None


async def read_multipart(
    request, folder: str, max_upload_bytes: int, idle_s: float = BODY_TIMEOUT_S
) -> Upload:
    """Parse ``request``'s multipart body into ``folder`` (see the module doc). Raises ApiError: 400
    malformed, 408 idle past ``idle_s`` seconds, 413 over a limit, 422 unexpected parts; the caller removes
    ``folder`` on error."""
    from python_multipart import MultipartParser
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import parse_options_header

    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise _api_error(400, "bad_request", "malformed multipart body: no boundary in Content-Type", 2)
    parts = _Parts(folder, max_upload_bytes)
    parser = MultipartParser(boundary, parts.callbacks())
    total = max_upload_bytes + JSON_BODY_LIMIT + (64 << 10)  # both parts plus their headers and boundaries
    try:
        async for chunk in body_chunks(request, total, idle_s, "request body", " (--max-upload-mb)"):
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise _api_error(400, "bad_request", f"malformed multipart body: {exc}", 2) from None
    finally:
        parts.close()
    if parts.upload.dest is None:
        raise _api_error(422, "usage", "the multipart body needs a 'file' part holding the video", 2)
    return parts.upload
