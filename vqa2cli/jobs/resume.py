"""Batch output files on disk: refuse to clobber, repair a torn last line, index finished rows, merge parts.

Crash safety: rows are appended as whole records and fsync'd one by one, so after Ctrl-C, ``kill -9`` or a
power loss a file holds every finished row plus at most one torn last record. ``--resume`` drops that torn
tail (the only bytes it ever removes) and appends; nothing else is rewritten. Records end at a newline: for
JSONL every ``\n`` byte (JSON escapes newlines inside strings; U+2028 and other Unicode line separators are
not record ends), for CSV a ``\n`` outside a quoted field (a path may hold a quoted newline).

Matching on ``--resume``: a file is done when the output holds a row with the same path (compared as
absolute paths from the current folder), ``size_bytes`` and ``mtime`` (within 1 ms). ``status=error``
rows count as done too (broken files stay broken); ``retry_errors`` scores them again, and the new row is
appended after the old one: when a path has several rows, the last one is current.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..errors import UsageError
from ..records.cells import csv_row_text, csv_uncell, path_from_fields
from ..records.results import SCORE_COLUMNS

CSV_HEADER = ",".join(SCORE_COLUMNS) + "\n"
MTIME_TOLERANCE_S = 1e-3
MATCH_COLUMNS = ("path", "status", "score", "size_bytes", "mtime")  # what --resume reads from a CSV row
RESTART = "use --overwrite to start it again, or choose another output file"  # `vqa2 batch`'s way


@dataclass(frozen=True)
class OutputSpec:
    path: str
    fmt: str  # csv | jsonl | vmaf-json (a JSON line per file too)
    columns: tuple[str, ...] = SCORE_COLUMNS  # CSV header (``vqa2 eval`` writes its own columns)
    restart: str = RESTART  # the command's own way to start the file again, named in refusals' hints
    key: str | None = None  # a column telling one file's rows apart (``index``: --segments-csv's windows)


@dataclass(frozen=True)
class RowState:
    status: str
    size_bytes: int | None
    mtime: float | None
    score: float | None
    key: str = ""  # the row's ``OutputSpec.key`` cell (a window's index), "" for one row per file
    identity: tuple[str, str, int | None] | None = None  # a URL's row: ETag, Last-Modified, length as sent


def path_key(path: str) -> str:
    """Rows of one input share a key: a file's absolute path; a URL as records show it (no credentials)."""
    from ..inputs.given import is_network, shown

    return shown(path) if is_network(path) else os.path.normcase(os.path.abspath(path))


def check_existing(
    outputs: list[OutputSpec], *, resume: bool, overwrite: bool, extra: Sequence[str] = ()
) -> None:
    """Usage error (exit 2) when an output (or a part file in ``extra``) exists without a mode flag."""
    if resume and overwrite:
        raise UsageError(
            "--resume and --overwrite exclude each other",
            "--resume appends to the existing output, --overwrite starts it again",
        )
    if resume or overwrite:
        return
    for path in [o.path for o in outputs] + list(extra):
        if os.path.exists(path):
            raise UsageError(
                f"{path} already exists",
                "add --resume to skip the files it already holds and append the rest, "
                "or --overwrite to start it again",
            )


def refuse_existing(paths: list[str], *, overwrite: bool) -> None:
    """The same rule for outputs written whole (``score --segments-csv``/``--plot``, which cannot resume):
    UsageError (exit 2) when one is an existing regular file and ``overwrite`` is not set. Devices, pipes
    and the like (a FIFO, anything named under ``/dev/``: ``/dev/stdout`` may lead to the shell's redirect
    target) hold nothing to lose and are written as given."""
    if overwrite:
        return
    for path in paths:
        if os.path.isfile(path) and not os.path.abspath(path).startswith("/dev/"):
            raise UsageError(f"{path} already exists", "add --overwrite to replace it")


def complete_end(data: bytes, fmt: str) -> int:
    """Bytes of ``data`` that hold whole records: up to the last ``\n`` (JSONL), or the last ``\n`` outside a
    quoted CSV field (an even number of ``"`` before it: ``""`` inside a field counts twice)."""
    if fmt != "csv":
        return data.rfind(b"\n") + 1
    end = pos = odd = 0
    for piece in data.split(b"\n")[:-1]:  # every piece but the last is followed by a newline
        pos += len(piece) + 1
        odd ^= piece.count(b'"') & 1
        if not odd:
            end = pos
    return end


def repair_tail(path: str, fmt: str = "jsonl") -> int:
    """Cut a torn last record left by a crash (see :func:`complete_end`); returns the bytes dropped."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        keep = complete_end(fh.read(), fmt)
        if keep == size:
            return 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return size - keep


def _number(value, cast):
    if value in (None, ""):
        return None
    try:
        return cast(value)
    except (TypeError, ValueError):
        pass
    if cast is float and isinstance(value, str):
        try:  # an ISO-8601 mtime
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def _state(status, size, mtime, score) -> RowState:
    return RowState(str(status or ""), _number(size, int), _number(mtime, float), _number(score, float))


def read_rows(spec: OutputSpec) -> list[tuple[str, RowState]]:
    """(path, state) of every complete row, in file order. Torn last lines are ignored, not read."""
    with open(spec.path, "rb") as fh:
        data = fh.read()
    end = complete_end(data, spec.fmt)
    text = data[:end].decode("utf-8", errors="surrogateescape")  # as older versions wrote non-UTF-8 names
    if not text:
        return []
    if spec.fmt == "csv":
        return _read_csv(spec, text)
    return _read_jsonl(spec.path, text)


def _read_csv(spec: OutputSpec, text: str) -> list[tuple[str, RowState]]:
    path, columns = spec.path, spec.columns
    if not text.startswith(",".join(columns) + "\n"):
        raise UsageError(
            f"{path}: not a vqa2 CSV to resume (its header is not this version's columns)", spec.restart
        )
    rows = []
    for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        if None in row or any(v is None for v in row.values()):
            raise UsageError(
                f"{path}: row {n} does not have {len(columns)} columns",
                f"fix or remove that row, or {spec.restart}",
            )
        path = path_from_fields(csv_uncell(row["path"]), csv_uncell(row.get("path_bytes") or ""))
        state = _state(row.get("status", "ok"), row["size_bytes"], row["mtime"], row["score"])  # windows: ok
        if row.get("etag") or row.get("last_modified"):  # a URL's row (records/results.py _origin_cells)
            ident = {
                "etag": csv_uncell(row.get("etag") or ""),
                "last_modified": row.get("last_modified"),
                # a plain URL's length is the bytes read; a manifest's (a variant is named) is not in CSV
                "content_length": None if row.get("variant") else _number(row["size_bytes"], int),
            }
            state = dataclasses.replace(state, identity=_identity(ident))
        if spec.key:
            state = dataclasses.replace(state, key=csv_uncell(row[spec.key]))
        rows.append((path, state))
    return rows


def _read_jsonl(path: str, text: str) -> list[tuple[str, RowState]]:
    rows = []
    for n, line in enumerate(text.split("\n"), start=1):  # only \n ends a record (not U+2028, \r, \x1c ...)
        if not line.strip():
            continue
        try:
            obj = _score_fields(json.loads(line))
            inp = obj.get("input") or {}
            state = _state(obj.get("status"), inp.get("size_bytes"), inp.get("mtime"), obj.get("score"))
            ident = (obj.get("origin") or {}).get("identity")
            if isinstance(ident, dict):
                state = dataclasses.replace(state, identity=_identity(ident))
            rows.append((path_from_fields(obj["path"], obj.get("path_bytes")), state))
        except (ValueError, KeyError, AttributeError, TypeError):
            raise UsageError(
                f"{path}: line {n} is not a vqa2 score record", f"fix or remove that line, or {RESTART}"
            ) from None
    return rows


def _identity(ident: dict) -> tuple[str, str, int | None]:
    length = ident.get("content_length")
    return (
        str(ident.get("etag") or ""),
        str(ident.get("last_modified") or ""),
        length if isinstance(length, int) else None,
    )


def _score_fields(obj):
    """A JSON line's record fields: a score record itself, or the ``vqa2`` object of a libvmaf-layout
    document (``batch --vmaf-json``, output/vmaf.py), which carries path, status, score and input."""
    inner = obj.get("vqa2") if isinstance(obj, dict) and "frames" in obj else None
    return inner if isinstance(inner, dict) else obj


class DoneIndex:
    """The last row per path (per path and key, for files with an ``OutputSpec.key``: the windows of
    --segments-csv) across the given outputs' files, for --resume matching."""

    def __init__(self) -> None:
        self.rows: dict[str, RowState] = {}

    def add_file(self, spec: OutputSpec) -> None:
        if not os.path.exists(spec.path):
            return
        for path, state in read_rows(spec):
            self.rows[_index_key(path, state.key)] = state

    def match(
        self, path: str, stat: tuple[int, float] | None, *, retry_errors: bool, key: str = ""
    ) -> RowState | None:
        """The row that makes ``path`` (its row ``key``: a window's index) done, or None when it must be
        (re)scored. ``stat`` is ``(size_bytes, mtime)`` (a :class:`~vqa2cli.video.opening.FileStat`), None when
        unknown."""
        state = self.rows.get(_index_key(path, key))
        if state is None or stat is None:
            return None
        size_bytes, mtime = stat
        if state.size_bytes != size_bytes or state.mtime is None:
            return None
        if abs(state.mtime - mtime) > MTIME_TOLERANCE_S:
            return None
        if retry_errors and state.status != "ok":
            return None
        return state

    def match_url(self, path: str, ident, *, retry_errors: bool) -> RowState | None:
        """:meth:`match` for a URL: the row with the same URL (as shown) whose ETag / Last-Modified /
        Content-Length agree with ``ident`` (the server's :class:`~vqa2cli.inputs.http.Identity` now) where both
        sides have them; None when it must be (re)scored (``ident`` None: the server was not reachable)."""
        state = self.rows.get(_index_key(path, ""))
        if state is None or ident is None or (retry_errors and state.status != "ok"):
            return None
        etag, modified, length = state.identity or ("", "", None)
        if etag and ident.etag and etag != ident.etag:
            return None
        if modified and ident.last_modified and modified != ident.last_modified:
            return None
        if length is not None and ident.content_length is not None and length != ident.content_length:
            return None  # the length of what the URL names (a manifest's own, not its segments')
        return state


def _index_key(path: str, key: str) -> Any:
    return path_key(path) if not key else (path_key(path), key)


# --- part files of multi-process runs ------------------------------------------------------------
def part_path(final: str, rank: int) -> str:
    return f"{final}.rank{rank}"


def existing_parts(final: str) -> list[str]:
    folder, base = os.path.split(os.path.abspath(final))
    prefix = base + ".rank"
    found = [n for n in os.listdir(folder or ".") if n.startswith(prefix) and n[len(prefix) :].isdigit()]
    return [
        os.path.join(os.path.dirname(final), n) for n in sorted(found, key=lambda n: int(n[len(prefix) :]))
    ]


def merge_parts(spec: OutputSpec, parts: list[str], *, overwrite: bool) -> int:
    """Append the rows of ``parts`` to ``spec.path`` sorted by path (skipping rows it already holds
    verbatim, so a merge interrupted half-way can simply run again), fsync, delete the parts.
    Returns the number of rows added."""
    repair_tail(spec.path, spec.fmt)
    fresh = overwrite or not os.path.exists(spec.path) or os.path.getsize(spec.path) == 0
    seen: set[bytes] = set()
    if not fresh:
        with open(spec.path, "rb") as fh:
            seen = {row for _, row in _records(fh.read(), spec.fmt)}
    new: list[tuple[str, bytes]] = []
    for part in parts:
        repair_tail(part, spec.fmt)
        with open(part, "rb") as fh:
            for path, row in _records(fh.read(), spec.fmt):
                if row not in seen:
                    new.append((path, row))
                    seen.add(row)
    new.sort(key=lambda item: item[0])
    with open(spec.path, "wb" if overwrite else "ab") as out:
        if fresh and spec.fmt == "csv":
            out.write(CSV_HEADER.encode())
        out.writelines(row for _, row in new)
        out.flush()
        os.fsync(out.fileno())
    for part in parts:
        os.remove(part)
    return len(new)


def _records(data: bytes, fmt: str) -> list[tuple[str, bytes]]:
    """(path, exact bytes) of each complete row; CSV rows may span lines (a quoted newline in a path), the
    header (this version's :data:`SCORE_COLUMNS`) is skipped."""
    text = data[: complete_end(data, fmt)].decode("utf-8", errors="surrogateescape")
    out = []
    if fmt != "csv":  # jsonl, vmaf-json
        for line in text.split("\n")[:-1]:
            if line.strip():
                out.append(
                    (
                        _score_fields(json.loads(line)).get("path", ""),
                        (line + "\n").encode("utf-8", "surrogateescape"),
                    )
                )
        return out
    for row in csv.reader(io.StringIO(text, newline="")):
        if not row or row == list(SCORE_COLUMNS):
            continue
        out.append((row[0], csv_row_text(row).encode("utf-8", "surrogateescape")))  # as CsvWriter wrote it
    return out
