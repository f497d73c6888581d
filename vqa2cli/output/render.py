"""Records → table | json | jsonl | csv, one record at a time, flushed as written.

Writers are streaming so that an interrupted run keeps every finished result: JSON writes ``[`` on
open, one element per record and ``]`` on close (``close`` runs in a ``finally`` on Ctrl-C, and an
empty run prints ``[]``); JSONL/CSV write whole lines; the table prints one aligned line per record (control
characters in names shown as ``\\n``, ``\\xNN``: ``output/cells.py``). CSV text cells that a spreadsheet
would run as formulas are neutralised, reversibly (``output/cells.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol, TextIO

from .cells import csv_cell, csv_row_text, table_text
from .records import ANSWER_COLUMNS, SCORE_COLUMNS

FORMATS = ("table", "json", "jsonl", "csv")


class Record(Protocol):
    def to_dict(self) -> dict[str, Any]: ...
    def to_row(self) -> dict[str, Any]: ...


class Writer:
    def __init__(self, stream: TextIO):
        self.stream = stream
        self.count = 0

    def write(self, record: Record) -> None:
        self._write(record)
        self.count += 1
        self.stream.flush()

    def _write(self, record: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stream.flush()


class JsonWriter(Writer):
    def __init__(self, stream: TextIO):
        super().__init__(stream)
        stream.write("[")

    def _write(self, record: Record) -> None:
        sep = "," if self.count else ""
        self.stream.write(sep + "\n" + json.dumps(record.to_dict(), ensure_ascii=False, indent=2))

    def close(self) -> None:
        self.stream.write("\n]\n" if self.count else "]\n")
        super().close()


class JsonlWriter(Writer):
    def _write(self, record: Record) -> None:
        self.stream.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")


class CsvWriter(Writer):
    def __init__(self, stream: TextIO, columns: Sequence[str], header: bool = True):
        super().__init__(stream)
        self.columns = list(columns)
        if header:
            stream.write(csv_row_text(self.columns))
            stream.flush()

    def _write(self, record: Record) -> None:
        row = record.to_row()
        self.stream.write(csv_row_text([csv_cell(row[c]) for c in self.columns]))  # OWASP: no formula cells


TABLE_SCORE = (("score", 7), ("level", 6), ("keyframes", 9), ("motion_frames", 13), ("infer_s", 8))


class TableWriter(Writer):
    """Human table: one line per record, printed as soon as the record is ready."""

    def __init__(self, stream: TextIO, kind: str):
        super().__init__(stream)
        self.kind = kind
        self.header_done = False

    def _write(self, record: Record) -> None:
        row = record.to_row()
        if self.kind == "answer":
            self.stream.write(_answer_block(row))
            return
        if not self.header_done:
            self.stream.write("  ".join(n.upper().ljust(w) for n, w in TABLE_SCORE) + "  FILE\n")
            self.header_done = True
        if row["status"] != "ok":
            message = str(row["error"])  # already starts with the path
            if not message.startswith(str(row["path"])):
                message = f"{row['path']}: {message}"
            self.stream.write(f"{'ERROR':<7}  {'-':<6}  {'':<9}  {'':<13}  {'':<8}  {table_text(message)}\n")
            return
        cells = [_fmt(row[name]).ljust(width) for name, width in TABLE_SCORE]
        self.stream.write("  ".join(cells) + "  " + table_text(row["path"]) + "\n")  # one line whatever the name
        worst = getattr(record, "worst", None)
        if worst:  # a clip scored in windows: where it is worst
            self.stream.write(_worst_line(worst, len(record.segments or ())))


def _worst_line(worst: dict[str, Any], n_windows: int) -> str:
    from ..video.segments import format_time

    span = f"{format_time(worst['start_s'])}–{format_time(worst['end_s'])}"
    return f"{_fmt(worst['score']):<7}  {worst['level']:<6}  worst of {n_windows} windows: {span}\n"


def _answer_block(row: dict[str, Any]) -> str:
    path = table_text(row["path"])
    if row["status"] != "ok":
        return f"{path}: ERROR {table_text(row['error'])}\n"
    return f"{path}\nQ: {row['question']}\nA: {row['answer']}\n\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def make_writer(fmt: str, stream: TextIO, kind: str = "score", header: bool = True) -> Writer:
    """``kind`` is ``score`` or ``answer``; ``header`` is for CSV appends (``--resume``)."""
    if fmt == "json":
        return JsonWriter(stream)
    if fmt == "jsonl":
        return JsonlWriter(stream)
    if fmt == "csv":
        return CsvWriter(stream, SCORE_COLUMNS if kind == "score" else ANSWER_COLUMNS, header)
    if fmt == "table":
        return TableWriter(stream, kind)
    raise ValueError(f"unknown format {fmt!r}")
