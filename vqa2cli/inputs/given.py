"""What an input given on the command line (or in an ``@LIST``, or to the API) is, and how it is named in
records, logs and pages: :func:`input_kind` classifies it, :func:`shown` removes the credentials a URL may
carry. Pure string work: no I/O, no network, no heavy imports.
"""

from __future__ import annotations

import enum
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

STDIN = "-"  # the one spelling of "read the video from stdin"

NETWORK_SCHEMES = ("http", "https")  # the URL schemes read by the command's own process (never by the server)

MANIFEST_SUFFIXES = {".m3u8": "hls", ".mpd": "dash"}  # a URL (or file) naming an HLS or DASH manifest

REDACTED = "REDACTED"

DEFAULT_VARIANT = "highest"  # the HLS/DASH variant read without --variant: the highest bandwidth

# Query parameters that carry a secret in signed or token URLs (AWS/GCS/Azure signatures, CDN tokens).
_SECRET_QUERY = re.compile(
    r"^(x-amz-(signature|credential|security-token)|x-goog-(signature|credential)|sig|signature|token|"
    r"access_token|auth|authorization|key|api_key|apikey|password|passwd|secret|policy|hdnts|hdntl)$",
    re.IGNORECASE,
)


class InputKind(enum.Enum):
    """How an input is read: a local file, stdin (``-``), a URL, or an HLS / DASH manifest (by URL or file)."""

    FILE = "file"
    STDIN = "stdin"
    URL = "url"
    HLS = "hls"
    DASH = "dash"


def input_kind(given: str) -> InputKind:
    """The kind of ``given`` (a path, ``-`` or a URL). A manifest is recognised by its suffix (``.m3u8``,
    ``.mpd``, query string ignored), local or remote; any other ``http(s)://`` is a URL; everything else,
    including other ``scheme:`` spellings, is a file path (the decoder then reports it as missing)."""
    if given == STDIN:
        return InputKind.STDIN
    parts = urlsplit(given)
    path = parts.path if parts.scheme.lower() in NETWORK_SCHEMES else given
    for suffix, kind in MANIFEST_SUFFIXES.items():
        if path.lower().endswith(suffix):
            return InputKind(kind)
    if parts.scheme.lower() in NETWORK_SCHEMES and parts.netloc:
        return InputKind.URL
    return InputKind.FILE


def is_network(given: str) -> bool:
    """True for an ``http(s)://`` input (a URL or a remote manifest)."""
    parts = urlsplit(given)
    return parts.scheme.lower() in NETWORK_SCHEMES and bool(parts.netloc)


def shown(given: str) -> str:
    """``given`` as records, logs and pages show it: for a URL, without ``user:password@`` and with the
    values of secret-bearing query parameters (signatures, tokens, keys) replaced by ``REDACTED``; any other
    input unchanged. The fragment is dropped (never sent to a server)."""
    if not is_network(given):
        return given
    parts = urlsplit(given)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    query = [
        (k, REDACTED if _SECRET_QUERY.match(k) else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="/:,"), ""))
