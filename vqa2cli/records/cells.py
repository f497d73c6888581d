"""Text that stays safe in every output, and comes back exactly on ``--resume``.

CSV formula injection (OWASP "CSV Injection"): a cell that starts with ``=``, ``+``, ``-``, ``@``, a TAB or a
CR is run as a formula by spreadsheet programs. Such text cells are written with a leading single quote
(``'=HYPERLINK(...)``), which spreadsheets show as text. To keep the encoding reversible a cell that already
starts with ``'`` gets one more; :func:`csv_uncell` removes exactly one leading quote. Numbers are never
quoted (a negative number is data, not a formula), nor is a lone ``-`` (the name of stdin).

File names that are not valid UTF-8 (POSIX names are bytes; Python decodes them with ``surrogateescape``)
cannot be written into UTF-8 JSON or CSV as they are. Every text field shows each undecodable byte as the
four characters ``\\xNN`` (Python's ``backslashreplace``), so all output is valid UTF-8, and records add
``path_bytes``: the hex of the name's raw bytes when it is not valid UTF-8 (``null``/empty otherwise).
``--resume`` reads ``path_bytes`` back to the real name (:func:`path_from_fields`).

Control characters (a newline, CR, TAB, ESC, ... in a file name) would split or garble a line of a table
on a terminal. Tables (``score``/``ask``/``probe`` table format) show them visibly, in the same backslash
style: ``\\n``, ``\\r``, ``\\t``, other C0/C1 controls ``\\xNN`` and the Unicode line/paragraph separators
``\\u2028``/``\\u2029`` (:func:`table_text`). JSON keeps the real text (JSON escapes it), and CSV quotes
it (:func:`csv_row_text`).
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list
CSV_ESCAPE = "'"
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, Unicode line/paragraph separators
NAMED_CONTROL = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def csv_cell(value: Any) -> Any:
    """The CSV cell for ``value``: text that a spreadsheet would run as a formula gets a leading ``'``."""
    if isinstance(value, str) and value != "-" and value.startswith(FORMULA_START + (CSV_ESCAPE,)):
        return CSV_ESCAPE + value  # a lone "-" (stdin's name) is no formula and stays as JSON shows it
    return value


def csv_uncell(text: str) -> str:
    """The inverse of :func:`csv_cell` for text read back from a vqa2 CSV."""
    return text[1:] if text.startswith(CSV_ESCAPE) else text


def csv_row_text(cells: Sequence[Any]) -> str:
    """One CSV record ending in ``\n`` (the dialect of every vqa2 CSV). Python's writer (3.11) leaves a bare
    ``\r`` unquoted when the line terminator is ``\n``, which readers then take for a line end: a row with a
    ``\r`` in any text cell is written with every cell quoted instead (same values for any CSV reader)."""
    carriage = any(isinstance(c, str) and "\r" in c for c in cells)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL if carriage else csv.QUOTE_MINIMAL).writerow(
        cells
    )
    return buf.getvalue()


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def display_text(text: str) -> str:
    """``text`` as valid Unicode: undecodable file-name bytes (lone surrogates) become ``\\xNN``."""
    if is_utf8(text):
        return text
    raw = (
        text.encode("utf-8", "surrogateescape")
        if _only_escapes(text)
        else text.encode("utf-8", "surrogatepass")
    )
    return raw.decode("utf-8", "backslashreplace")


def table_text(value: Any) -> str:
    """``value`` as text for one line of a table: :func:`display_text`, then every control character shown
    as ``\\n``/``\\r``/``\\t``/``\\xNN``/``\\uNNNN`` (module docstring)."""
    return CONTROL.sub(_control_escape, display_text(str(value)))


def _control_escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    return NAMED_CONTROL.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def _only_escapes(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def path_bytes(path: str) -> str | None:
    """Hex of the file name's raw bytes when it is not valid UTF-8, else None (the name is ``path`` itself)."""
    if is_utf8(path):
        return None
    return os.fsencode(path).hex()


def path_from_fields(path: str, raw_hex: str | None) -> str:
    """The real file name from a record's ``path`` and ``path_bytes`` fields."""
    if raw_hex:
        try:
            return os.fsdecode(bytes.fromhex(raw_hex))
        except ValueError:
            return path
    return path


def clean(value: Any) -> Any:
    """:func:`display_text` applied to every string inside dicts/lists (JSON records)."""
    if isinstance(value, str):
        return display_text(value)
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def relabel_text(text: str, names: dict[str, str]) -> str:
    """``text`` with every occurrence of a key of ``names`` replaced by its value, inside messages too
    (``"/proc/self/fd/7: cannot decode"`` → ``"clip.mp4: cannot decode"``). Longer keys first, and a key
    followed by a letter, digit or ``_`` is not a match (``/proc/self/fd/1`` is not replaced inside
    ``/proc/self/fd/12``); a name that is itself another key is not replaced again (one pass)."""
    keys = [k for k in names if k and k != names[k]]
    if not keys or not isinstance(text, str):
        return text
    if text in names:
        return names[text]
    alternatives = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    return re.sub(f"(?:{alternatives})(?!\\w)", lambda m: names[m.group()], text)


def relabel_paths(value: Any, names: dict[str, str]) -> Any:
    """``value`` (a record's JSON: dicts, lists, strings) with every key of ``names`` in every string
    (:func:`relabel_text`: whole strings and inside messages: errors, warnings) replaced by its value: the
    path a front-end sent or read (an absolute path, a server's pinned descriptor key) shown as the name
    the user gave. Dict keys are left alone."""
    if isinstance(value, str):
        return relabel_text(value, names)
    if isinstance(value, dict):
        return {k: relabel_paths(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [relabel_paths(v, names) for v in value]
    return value
