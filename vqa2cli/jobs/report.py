"""``vqa2 report``: score records read back from batch/score JSONL files → one HTML page (docs/report.md).

Each line is rebuilt into a :class:`~vqa2cli.records.results.ScoreRecord` by the record's own
``ScoreRecord.from_dict`` (``path_bytes`` undone: the real file name). A file that appears more than once in one
JSONL file keeps its last line (a ``--resume --retry-errors`` run appends a new row, as jobs/resume.py reads it).
The page is rendered by :mod:`vqa2cli.output.report_html` and written atomically (a temporary file in the same
folder, fsync'd, then renamed over the target), so a reader never sees half a page.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from ..errors import InputError, OutputError, UsageError
from ..records.cells import display_text
from ..records.results import SCORE_SCHEMA, ScoreRecord
from .rowfiles import fsync_dir

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPREAD_KEYS = ("value", "stdev", "std")  # the number of a ``spread`` object, first found
MAX_PLOT_BYTES = 16 * 1024 * 1024  # a --plot-dir picture larger than this is left out of the page


def read_scores(path: str, notes: list[str] | None = None) -> list[tuple[int, ScoreRecord, dict[str, Any]]]:
    """``(line number, record, the raw object)`` for each ``vqa2.score/1`` line of the JSONL file ``path``.

    With ``notes`` (a list), a last line without its ``\n`` that is not valid JSON (a batch still writing it,
    or killed mid-line) is left out and a note appended; without, it is an error like any other line.

    Raises :class:`InputError` (exit 3), one line naming the file (and the line), when the file cannot be read,
    is not UTF-8, or a line is not a score record (other schemas, e.g. ``vqa2.answer/1``, included)."""
    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError as exc:
        raise InputError(
            path, f"cannot read: {exc.strerror or exc}", "check the path and its permissions"
        ) from None
    out = []
    lines = data.split(b"\n")  # only \n ends a record, as jobs/resume.py reads them
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if n == len(lines) and notes is not None and not _parses(raw):  # no \n yet: a run still writing it
            notes.append(f"{display_text(path)}: line {n} is incomplete (a run still writing?); left out")
            continue
        try:
            obj = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
            if not isinstance(obj, dict) or obj.get("schema") != SCORE_SCHEMA:
                raise ValueError(f"not a {SCORE_SCHEMA} record")
            out.append((n, ScoreRecord.from_dict(obj), obj))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            why = _why(exc)
            raise InputError(
                path,
                f"line {n} is {why}",
                "give the JSONL written by `vqa2 batch --jsonl` or `vqa2 score --format jsonl`",
            ) from None
    return out


def _why(exc: Exception) -> str:
    """Why a JSONL line was refused, for the one-line error."""
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8"
    detail = {TypeError: f" ({exc})", KeyError: " (it has no 'path')"}.get(type(exc), "")
    return f"not a {SCORE_SCHEMA} record{detail}"


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except ValueError:
        return False
    return True


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def spread_of(record: ScoreRecord, raw: dict[str, Any]) -> float | None:
    """The record's ``spread`` (its JSON ``raw``'s: a number, or an object whose ``value``, ``stdev`` or
    ``std``, else first number, is taken); None otherwise."""
    value = raw.get("spread")
    if isinstance(value, dict):
        named = [value[k] for k in SPREAD_KEYS if k in value]
        value = next((v for v in [*named, *value.values()] if _number(v)), None)
    return float(value) if isinstance(value, (int, float)) and _number(value) else None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def plot_uri(plot_dir: str | None, record: ScoreRecord) -> str | None:
    """The record's ``batch --plot-dir`` picture (``jobs.windows.plot_name``) as a ``data:image/png`` URI,
    or None when there is none (no windows, not drawn, not a PNG, over ``MAX_PLOT_BYTES``)."""
    if not plot_dir or not record.segments:
        return None
    from .windows import plot_name

    try:
        with open(plot_name(plot_dir, record.path), "rb") as stream:
            data = stream.read(MAX_PLOT_BYTES + 1)
    except OSError:
        return None
    if not data.startswith(PNG_MAGIC) or len(data) > MAX_PLOT_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def collect(jsonl: Sequence[str], plot_dir: str | None = None, notes: list[str] | None = None) -> list:
    """The page's entries (``output.report_html.ReportEntry``) of the JSONL files, in file then line order;
    ``notes``: see :func:`read_scores`; a file without any record adds ``no records in FILE`` to them."""
    from ..output.report_html import ReportEntry

    entries = []
    for path in jsonl:
        last: dict[str, tuple[int, ScoreRecord, dict[str, Any]]] = {}
        scores = read_scores(path, notes)
        if not scores and notes is not None:
            notes.append(f"no records in {display_text(path)}")
        for n, record, raw in scores:  # the last line of each input (each HLS/DASH variant its own input)
            key = record.path + "\0" + str((record.origin or {}).get("variant", ""))
            last.pop(key, None)
            last[key] = (n, record, raw)
        for n, record, raw in last.values():
            entries.append(
                ReportEntry(
                    record=record,
                    source=f"{display_text(path)}:{n}",
                    spread=spread_of(record, raw),
                    plot=plot_uri(plot_dir, record),
                )
            )
    return entries


def write_atomically(target: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` through a temporary file in its folder, fsync'd and renamed over it
    (keeping the permission bits of a file it replaces).
    Raises :class:`OutputError` (exit 5) naming ``target``; no partial file is left behind."""
    folder = os.path.dirname(os.path.abspath(target))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vqa2-report-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, _mode(target))
        os.replace(tmp, target)
        tmp = None
        fsync_dir(folder)  # the new name survives power loss
    except OSError as exc:
        raise OutputError(target, exc) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _mode(target: str) -> int:
    """The permission bits of the page: those of the file it replaces, else rw-r--r--."""
    try:
        return os.stat(target).st_mode & 0o777
    except OSError:
        return 0o644


def report(
    jsonl: Sequence[str],
    html: str,
    *,
    plot_dir: str | None = None,
    overwrite: bool = False,
    notes: list[str] | None = None,
) -> int:
    """Write the HTML page of the score records in the JSONL files ``jsonl`` to ``html``; returns the number
    of files listed. Python API of ``vqa2 report`` (docs/report.md). ``plot_dir``: the ``batch --plot-dir``
    folder whose pictures go into the page. An incomplete last line of a JSONL file (a run still writing it)
    is left out with a note, shown on the page and appended to ``notes`` when given.

    Raises :class:`UsageError` (exit 2) when ``jsonl`` is empty or ``html`` exists without ``overwrite``,
    :class:`InputError` (exit 3) for an unreadable or invalid JSONL file (naming it and the line),
    :class:`OutputError` (exit 5) when the page cannot be written."""
    from ..output.report_html import render_report

    if not jsonl:
        raise UsageError("no JSONL file given", "name the files written by `vqa2 batch --jsonl`")
    if plot_dir is not None and not os.path.isdir(plot_dir):
        raise UsageError(
            f"--plot-dir {plot_dir}: not a folder", "name the folder given to `vqa2 batch --plot-dir`"
        )
    if os.path.lexists(html) and not overwrite:
        raise UsageError(f"{html} already exists", "add --overwrite to replace it")
    notes = [] if notes is None else notes
    entries = collect(jsonl, plot_dir, notes)
    write_atomically(html, render_report(entries, list(jsonl), notes))
    return len(entries)
