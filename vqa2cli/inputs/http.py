"""``vqa2 score https://cdn.example.com/encode.mp4``: an ``http(s)://`` input downloaded by the command's own
process into a private temporary file before it is scored (never by ``vqa2 serve`` for a request).

Standard library only (:mod:`urllib.request`): what is needed here (time-outs, a redirect limit, verified
TLS, Basic credentials that never follow a redirect, byte counting) is all in it, and it keeps the
transfer byte-exact (no content decoding: ``Accept-Encoding: identity``). Rules:

* time-outs: :data:`TIMEOUT_ENV` seconds (default 30) for the connection and for
  each read; a server that stops sending for that long is an error, not a hang;
* a size cap: :data:`MAX_GB_ENV` GB (default 8) over everything one input reads (a
  manifest's segments together); a ``Content-Length`` above it is refused before the body is read;
* at most :data:`MAX_REDIRECTS` redirects, to ``http(s)`` only; a loop is one line;
* TLS certificates and host names are verified (the system's trust store; ``SSL_CERT_FILE`` honoured);
* ``Content-Length`` is checked both ways: fewer bytes before the connection closes, or more bytes than
  announced, is an :class:`~vqa2cli.errors.InputError` (the download is not used);
* ``user:password@`` in the URL is sent as HTTP Basic authorization to that host only (not to a redirect
  target); every message names the URL as :func:`~vqa2cli.inputs.given.shown` gives it.

Every failure is an :class:`~vqa2cli.errors.InputError` (exit 3) naming the input, the cause and a fix.
"""

from __future__ import annotations

import base64
import socket
import ssl
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import InputError, NetworkInputError
from .given import NETWORK_SCHEMES, shown

MAX_GB_ENV = "VQA2_NET_MAX_GB"
TIMEOUT_ENV = "VQA2_NET_TIMEOUT_S"
MAX_REDIRECTS = 5
CHUNK = 1 << 20
USER_AGENT = "vqa2"


@dataclass(frozen=True)
class Limits:
    """What one network input may take: ``max_bytes`` in all (bytes), ``timeout_s`` per connect and read."""

    max_bytes: int
    timeout_s: float

    @classmethod
    def from_env(cls) -> Limits:
        """From :data:`MAX_GB_ENV` (GB = 1e9 bytes) and :data:`TIMEOUT_ENV` (seconds); UsageError for a
        value that is not a positive number."""
        from ..environment import positive_number

        gb = positive_number(MAX_GB_ENV, "GB")
        return cls(int(gb * 1e9), positive_number(TIMEOUT_ENV, "seconds"))


@dataclass(frozen=True)
class Identity:
    """What the server says identifies the content: its ``ETag``, ``Last-Modified`` and ``Content-Length``
    (bytes), each None when not sent. The ``--resume`` key of a URL (jobs/resume.py)."""

    etag: str | None = None
    last_modified: str | None = None
    content_length: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class _Redirects:
    """A redirect handler with :data:`MAX_REDIRECTS`, http(s) targets only, and loops named as such."""

    def __init__(self, given: str):
        import urllib.request

        outer = self

        class Handler(urllib.request.HTTPRedirectHandler):
            max_redirections = MAX_REDIRECTS
            max_repeats = 1

            def redirect_request(self, req, fp, code, msg, headers, newurl):
                if urlsplit(newurl).scheme.lower() not in NETWORK_SCHEMES:
                    raise NetworkInputError(
                        shown(outer.given),
                        f"redirected to a non-HTTP URL ({urlsplit(newurl).scheme}:)",
                        "give the final http(s) URL",
                    )
                outer.hops += 1
                return super().redirect_request(req, fp, code, msg, headers, newurl)

        self.given, self.hops, self.handler = given, 0, Handler()


def _request(given: str, extra_headers: dict[str, str] | None = None):
    """The urllib request for ``given``: credentials moved from the URL into a Basic header that is not
    carried over redirects (``add_unredirected_header``)."""
    import urllib.request

    parts = urlsplit(given)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    for key, value in (extra_headers or {}).items():
        req.add_header(key, value)
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        req.add_unredirected_header("Authorization", "Basic " + base64.b64encode(pair).decode())
    return req


def open_url(given: str, limits: Limits):
    """The response to a GET of ``given`` (the caller closes it). Raises NetworkInputError naming
    ``shown(given)`` for every failure (see :func:`explain`)."""
    import urllib.request

    redirects = _Redirects(given)
    opener = urllib.request.build_opener(
        redirects.handler, urllib.request.HTTPSHandler(context=ssl.create_default_context())
    )
    try:
        return opener.open(_request(given), timeout=limits.timeout_s)
    except NetworkInputError:
        raise
    except Exception as exc:  # every transport failure is this input's one line
        raise explain(given, exc, limits) from None


def explain(given: str, exc: BaseException, limits: Limits) -> NetworkInputError:
    """The one-line error of a failed transfer of ``given``: HTTP status, redirect loop, TLS, time-out,
    refused or unresolved host, or the library's own reason; each with a fix."""
    import http.client
    import urllib.error

    name = shown(given)
    if isinstance(exc, urllib.error.HTTPError):
        if 300 <= exc.code < 400:
            return NetworkInputError(
                name,
                f"too many redirects or a redirect loop (HTTP {exc.code}, at most {MAX_REDIRECTS})",
                "give the final URL, or fix the server's redirects",
            )
        fix = {
            401: "the server wants credentials: put them in the URL (user:password@) or a signed URL",
            403: "the server refused: check the credentials or the signed URL's expiry",
            404: "check the URL",
        }.get(exc.code, "retry later, or check the server")
        return NetworkInputError(name, f"HTTP {exc.code} {exc.reason}", fix)
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, ssl.SSLError):
        why = getattr(reason, "verify_message", None) or getattr(reason, "reason", None) or str(reason)
        return NetworkInputError(
            name,
            f"TLS failure ({why})",
            "check the URL's scheme (http vs https) and the server's certificate (SSL_CERT_FILE for a "
            "private CA)",
        )
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return NetworkInputError(
            name,
            f"no answer within {limits.timeout_s:g} s",
            f"check the server, or raise {TIMEOUT_ENV}",
        )
    if isinstance(reason, socket.gaierror):
        return NetworkInputError(name, "the host name does not resolve", "check the URL's host")
    if isinstance(reason, ConnectionRefusedError):
        return NetworkInputError(name, "connection refused", "check the host and port, and that it serves")
    if isinstance(reason, http.client.IncompleteRead):
        return _short(name, len(reason.partial), reason.expected)
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return NetworkInputError(name, f"cannot be read ({text})", "check the URL and the network")


def _short(name: str, got: int, missing: int | None) -> NetworkInputError:
    return NetworkInputError(
        name,
        f"the connection closed after {got} bytes, before the length the server announced"
        + (f" ({missing} bytes missing)" if missing else ""),
        "retry; a server that lies about Content-Length cannot be read",
    )


def identity_of(response) -> Identity:
    headers = response.headers
    length = headers.get("Content-Length")
    return Identity(
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
        content_length=int(length) if length and length.strip().isdigit() else None,
    )


def download(given: str, dest: BinaryIO, limits: Limits, used: int = 0) -> tuple[int, Identity, str]:
    """GET ``given`` and append its body to ``dest``; → (bytes written, the server's :class:`Identity`,
    the URL relative references resolve against: ``given`` itself, or the redirect target without
    credentials).
    ``used``: bytes this input already took (other segments), counted against ``limits.max_bytes``.
    Raises NetworkInputError (transfer, length mismatch both ways) or InputError past the cap."""
    name = shown(given)
    with open_url(given, limits) as response:
        ident = identity_of(response)
        final = response.geturl()
        base = given if final == _request(given).full_url else final
        cap = limits.max_bytes - used
        if ident.content_length is not None and ident.content_length > cap:
            raise _over_cap(name, limits)
        try:
            if ident.content_length is not None and response.headers.get("Transfer-Encoding") is None:
                total = _exact(response, dest, ident.content_length, name)
            else:
                total = _to_end(response, dest, cap, name, limits)
        except NetworkInputError:
            raise
        except Exception as exc:
            raise explain(given, exc, limits) from None
    return total, ident, base


def _exact(response, dest: BinaryIO, length: int, name: str) -> int:
    """Read exactly ``length`` bytes from the raw socket file, then check that nothing follows (urllib asks
    ``Connection: close``, so an honest server closes right after)."""
    raw = response.fp  # the buffered socket: http.client's own accounting stops at the length silently
    total = 0
    while total < length:
        chunk = raw.read(min(CHUNK, length - total))
        if not chunk:
            raise _short(name, total, length - total)
        dest.write(chunk)
        total += len(chunk)
    try:
        extra = raw.read(1)
    except (TimeoutError, OSError):  # a keep-alive server that ignores `close`: nothing more came
        extra = b""
    if extra:
        raise NetworkInputError(
            name,
            f"the server sent more bytes than the {length} its Content-Length announced",
            "the server's answer is inconsistent; fix the server or download the file another way",
        )
    return total


def _to_end(response, dest: BinaryIO, cap: int, name: str, limits: Limits) -> int:
    total = 0
    while chunk := response.read(CHUNK):
        total += len(chunk)
        if total > cap:
            raise _over_cap(name, limits)
        dest.write(chunk)
    return total


def _over_cap(name: str, limits: Limits) -> InputError:
    return NetworkInputError(
        name,
        f"larger than the {limits.max_bytes / 1e9:g} GB cap on network inputs ({MAX_GB_ENV})",
        f"set {MAX_GB_ENV} higher, or download the file and score the file",
    )


def fetch_text(given: str, limits: Limits, max_bytes: int = 16 << 20) -> tuple[str, str, Identity]:
    """A small text resource (a manifest): → (text, the base URL of its references, identity). Raises as
    :func:`download`, and NetworkInputError past ``max_bytes`` or for text that is not UTF-8."""
    import io

    buffer = io.BytesIO()
    _, ident, base = download(given, buffer, Limits(min(max_bytes, limits.max_bytes), limits.timeout_s))
    try:
        text = buffer.getvalue().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NetworkInputError(shown(given), "the manifest is not UTF-8 text", "check the URL") from None
    return text, base, ident


def head_identity(given: str, limits: Limits | None = None) -> Identity | None:
    """The server's :class:`Identity` for ``given`` from a ``HEAD`` request (no body read; ``batch
    --resume`` compares it with the row's); None when the server cannot be asked (unreachable, an error
    status, HEAD not allowed): the input is then scored again."""
    limits = limits or Limits.from_env()
    req = _request(given)
    req.method = "HEAD"
    import urllib.request

    opener = urllib.request.build_opener(
        _Redirects(given).handler, urllib.request.HTTPSHandler(context=ssl.create_default_context())
    )
    try:
        with opener.open(req, timeout=limits.timeout_s) as response:
            return identity_of(response)
    except Exception:  # noqa: BLE001 - any failure: not known, so not resumed
        return None
