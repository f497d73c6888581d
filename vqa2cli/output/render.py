"""Records → the formats of ``--format``: ONE registry of writers, one class per format (as openai-whisper's
``get_writer``). Every command's stdout results and batch's output files go through :func:`make_writer`; a new
format is one :class:`Writer` subclass in :data:`WRITERS` plus its name in ``config.OUTPUT_FORMATS`` (the
declared ``--format`` choices; tests/test_command_records.py checks both agree).

Writers are streaming so that an interrupted run keeps every finished result: a JSON list writes ``[`` on
open, one element per record and ``]`` on close (``close`` runs in a ``finally`` on Ctrl-C, and an empty run
prints ``[]``); a report kind (``record.many`` false: eval, ``train --validate-data``, doctor) is one JSON
object; JSONL/CSV write whole lines; the table streams per-file records and lays reports out on close
(output/tables.py). CSV text cells that a spreadsheet would run as formulas are neutralised, reversibly
(records/cells.py). All JSON is UTF-8 (``ensure_ascii=False``; records' text is valid UTF-8), or ``\\uXXXX``
escaped on a stream that is not UTF-8; CSV is always UTF-8 (output/encoding.py).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Protocol, TextIO

from .. import startup
from ..records.cells import csv_cell, csv_row_text
from .encoding import unicode_stream, utf8_stream


def json_text(value: Any, stream: Any, **kwargs: Any) -> str:
    """``value`` as JSON for ``stream``: non-ASCII text as is on a UTF-8 stream, as ``\\uXXXX`` escapes on any
    other (a cp1252 or ASCII stdout: output/encoding.py): valid and lossless either way."""
    return json.dumps(value, ensure_ascii=not unicode_stream(stream), **kwargs)


class Record(Protocol):
    kind: ClassVar[str]
    many: ClassVar[bool]

    def to_dict(self) -> dict[str, Any]: ...


class Writer:
    """One output format. ``record_type`` is the record class written (its ``kind``, ``many``, ``columns``);
    ``header`` is false for a CSV appended to (``--resume``); ``fail_under`` the run's score gate (0-1), which
    only the table shows (a mark on each file below it). Every ``write`` is flushed."""

    name: ClassVar[str]

    def __init__(
        self,
        stream: TextIO,
        record_type: type,
        header: bool = True,
        columns: tuple[str, ...] | None = None,
        *,
        fail_under: float | None = None,
    ):
        self.stream, self.record_type = stream, record_type
        self.header, self.columns, self.fail_under = header, columns, fail_under
        self.count = 0
        self._start()

    def _start(self) -> None:
        """What a format writes or checks before the first record (the JSON list's ``[``, the CSV header)."""

    def write(self, record: Record) -> None:
        startup.resume()  # the first result ends the process start (vqa2cli/startup.py)
        self._write(record)
        self.count += 1
        self.stream.flush()

    def _write(self, record: Record) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stream.flush()


class JsonWriter(Writer):
    """A JSON list of records (``[]`` when empty), or one object for a report kind."""

    name = "json"

    def _start(self) -> None:
        self.many = self.record_type.many
        if self.many:
            self.stream.write("[")

    def _write(self, record: Record) -> None:
        text = json_text(record.to_dict(), self.stream, indent=2)
        if not self.many:
            if self.count:
                raise ValueError(f"a {self.record_type.kind} report is one JSON object: write it once")
            self.stream.write(text + "\n")
            return
        self.stream.write(("," if self.count else "") + "\n" + text)

    def close(self) -> None:
        if self.many:
            self.stream.write("\n]\n" if self.count else "]\n")
        super().close()


class JsonlWriter(Writer):
    """JSON Lines: one compact object per line."""

    name = "jsonl"

    def _write(self, record: Record) -> None:
        self.stream.write(json_text(record.to_dict(), self.stream) + "\n")


class CsvWriter(Writer):
    """A header (unless appending) and one row per record under ``columns`` (default ``record_type.columns``;
    ``--segments-csv`` names its level columns) (OWASP: no formula cells)."""

    name = "csv"

    def _start(self) -> None:
        self.stream = utf8_stream(self.stream)  # CSV is UTF-8 on any stream (output/encoding.py)
        self.columns = list(self.columns or self.record_type.columns)
        if self.header:
            self.stream.write(csv_row_text(self.columns))
            self.stream.flush()

    def _write(self, record: Record) -> None:
        row = record.to_row()
        self.stream.write(csv_row_text([csv_cell(row[c]) for c in self.columns]))


class TableWriter(Writer):
    """For people: per-file records one line/block as each is ready, reports laid out on close."""

    name = "table"

    def _start(
        self,
    ) -> None:  # fail_under: score files below it are marked FAIL (output/tables.py score_line)
        from .tables import STREAMED, WHOLE

        kind = self.record_type.kind
        self.line, self.whole = STREAMED.get(kind), WHOLE.get(kind)
        if self.line is None and self.whole is None:
            raise ValueError(f"no table layout for {kind!r} records")
        self.held: list[Record] = []

    def _write(self, record: Record) -> None:
        if self.line is not None:
            self.stream.write(self.line(record, self.count == 0, self.fail_under))
        else:
            self.held.append(record)

    def close(self) -> None:
        if self.whole is not None:
            self.stream.write(self.whole(self.held, self.stream))
        super().close()


class VmafJsonWriter(Writer):
    """libvmaf's JSON log layout (output/vmaf.py, docs/vmaf-json.md): one document per score record, one
    compact document per line, so one file gives exactly one libvmaf JSON document and several files (``score
    a.mp4 b.mp4``, ``batch --vmaf-json``) JSON Lines of them. Score records only: raises UsageError (exit 2)
    for any other kind."""

    name = "vmaf-json"

    def _start(self) -> None:
        if self.record_type.kind != "score":
            from ..errors import UsageError

            raise UsageError(
                f"--format vmaf-json writes score records, not {self.record_type.kind} records",
                "use it with `vqa2 score` or `vqa2 batch --vmaf-json FILE`",
            )

    def _write(self, record: Record) -> None:
        from .vmaf import vmaf_document

        self.stream.write(json_text(vmaf_document(record.to_dict()), self.stream) + "\n")


WRITERS: dict[str, type[Writer]] = {
    cls.name: cls for cls in (TableWriter, JsonWriter, JsonlWriter, CsvWriter, VmafJsonWriter)
}


def make_writer(
    fmt: str,
    stream: TextIO,
    kind: str = "score",
    header: bool = True,
    columns: tuple[str, ...] | None = None,
    *,
    fail_under: float | None = None,
) -> Writer:
    """The writer of format ``fmt`` (a key of :data:`WRITERS`) for records of ``kind`` (a key of
    ``records.RECORD_TYPES``: score, answer, probe, models, eval, eval_row, data_check, doctor, batch).
    ``header`` is false for CSV appends (``--resume``), ``columns`` the CSV columns when not the record's
    (``--segments-csv``'s level columns). ``fail_under`` (``score --fail-under``, 0-1) marks each score below
    it ``FAIL`` in the table; JSON, JSONL and CSV are unchanged by it. Raises ValueError for an unknown format
    or kind."""
    from ..records import RECORD_TYPES

    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r}")
    if kind not in RECORD_TYPES:
        raise ValueError(f"unknown record kind {kind!r}")
    return WRITERS[fmt](stream, RECORD_TYPES[kind], header, columns, fail_under=fail_under)
