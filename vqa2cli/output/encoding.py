"""Text for a stream whose encoding cannot hold every character (a Windows redirect is cp1252, ``LANG=C`` or
``PYTHONIOENCODING=ascii`` ASCII): results are never lost to a ``UnicodeEncodeError`` (docs/output.md,
"Encodings").

* tables and stderr lines (for people) degrade: :data:`SYMBOLS` spell our symbols in ASCII (``±`` → ``+-``,
  ``Δ`` → ``d``), any other character the stream lacks is shown as ``\\xNN``/``\\uNNNN`` (:func:`degrade`);
* JSON, JSONL and vmaf-json stay lossless: on a stream that is not UTF-8 they are pure ASCII, non-ASCII text
  as ``\\uXXXX`` escapes (``ensure_ascii``, :func:`unicode_stream`), the same bytes in cp1252 and UTF-8;
* CSV is always UTF-8 (:func:`utf8_stream`), on stdout as in files, whatever the stream's encoding.
"""

from __future__ import annotations

import codecs
from typing import Any

# Our symbols → ASCII, used only for a character the stream cannot encode.
SYMBOLS = {
    "±": "+-",
    "Δ": "d",
    "…": "...",
    "—": "-",
    "–": "-",
    "×": "x",
    "→": "->",
    "←": "<-",
    "≥": ">=",
    "≤": "<=",
    "≈": "~",
    "²": "2",
    "·": ".",
    "µ": "u",
    "✓": "ok",
    "✗": "x",
}


def stream_encoding(stream: Any) -> str | None:
    """The codec name of a text stream (``None`` when it has none, e.g. ``io.StringIO``: it holds any text)."""
    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str) or not encoding:
        return None
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return None


def unicode_stream(stream: Any) -> bool:
    """True when ``stream`` writes UTF-8 (or any UTF), or text with no encoding (``io.StringIO``): JSON can
    go there as is. Any other encoding (cp1252, ASCII, latin-1) gets ASCII-only JSON, which reads the same
    in it and in UTF-8 (RFC 8259 wants UTF-8 for JSON exchanged between systems)."""
    encoding = stream_encoding(stream)
    return encoding is None or encoding.startswith("utf")


def degrade(text: str, encoding: str | None) -> str:
    """``text`` with each character ``encoding`` lacks spelled as in :data:`SYMBOLS`, or else as a Python
    backslash escape (``\\xe9``, ``\\u4e2d``): what a table or a stderr line shows on such a stream."""
    if encoding is None:
        return text
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        pass
    except LookupError:
        encoding = "ascii"
    out = []
    for ch in text:
        try:
            ch.encode(encoding)
            out.append(ch)
        except UnicodeEncodeError:
            out.append(SYMBOLS.get(ch, ch.encode("ascii", "backslashreplace").decode("ascii")))
    return "".join(out)


class Utf8Stream:
    """Writes text as UTF-8 bytes to ``stream.buffer`` (after flushing ``stream``'s own text): a CSV on a
    stdout whose encoding is not UTF-8. ``OSError`` is raised as :class:`~vqa2cli.errors.OutputError`
    naming ``stream.name`` (``stdout``), as the guarded stdout does (cli/app.py)."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.encoding = "utf-8"

    def _guard(self, action):
        try:
            return action()
        except OSError as exc:
            from ..errors import OutputError

            name = getattr(self.stream, "name", "stdout")
            raise OutputError(name if isinstance(name, str) else "stdout", exc) from None

    def write(self, text: str) -> int:
        self.stream.flush()
        self._guard(lambda: self.stream.buffer.write(text.encode("utf-8")))
        return len(text)

    def flush(self) -> None:
        self._guard(self.stream.buffer.flush)

    def isatty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())


def utf8_stream(stream: Any) -> Any:
    """``stream`` itself when it is UTF-8 (or has no encoding or no byte buffer), else a :class:`Utf8Stream`
    over its buffer: the CSV writer's stream, so a CSV is UTF-8 wherever it is written."""
    encoding = stream_encoding(stream)
    if encoding is None or encoding.startswith("utf") or getattr(stream, "buffer", None) is None:
        return stream
    return Utf8Stream(stream)
