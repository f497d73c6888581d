"""``vqa2 eval``: score a labelled set, keep per-video scores in a CSV (resumable), report correlations.

Decoding runs ahead in worker threads (pipeline.prefetch) while the model scores. The scores CSV has
one row per scored video (``SCORE_CSV_COLUMNS``, ``decoded_frames`` appended last: files written before it
are still resumed, their rows written without it), appended and fsync'd as each finishes, exactly as
``vqa2 batch`` writes its rows (:mod:`vqa2cli.pipeline.resume`): an earlier row is never rewritten, so
Ctrl-C or a crash, even during a resumed run, loses at most the row being written. With ``resume`` the
torn last line of a crash is dropped, and a video whose path, size and mtime match an ``ok`` row is
reused (a changed file is scored again); ``error`` rows are scored again, the new row appended after the
old one (the last row of a path is current). Failed videos are listed and left out of the metrics. Text
cells that a spreadsheet would run as formulas get a leading ``'`` (``output/cells.py``), undone when resuming.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DataError, InputError, UsageError
from ..output.cells import csv_cell, csv_row_text
from ..output.rowfiles import writing
from .datasets import LabelRecord
from .metrics import Correlations, correlations

SCORE_CSV_COLUMNS = ("index", "path", "mos", "score", "official_score", "level", "status", "error",
                     "size_bytes", "mtime",
                     "decoded_frames")  # appended last; files without it are still resumed


@dataclass
class EvalResult:
    labels: str
    model: str
    metrics: Correlations | None
    n_labels: int
    n_failed: int
    n_reused: int
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        metrics = self.metrics.to_dict() if self.metrics else {}
        return {"labels": self.labels, "model": self.model, **metrics,
                "n_labels": self.n_labels, "n_failed": self.n_failed, "n_reused": self.n_reused,
                "failures": self.failures}


def check_enough_videos(records: list[LabelRecord]) -> None:
    """:class:`DataError` before any weights load when the correlations cannot be computed: fewer than
    ``metrics.MIN_POINTS`` labelled videos, fewer readable ones (missing, empty, unreadable files), or MOS
    values that are all equal."""
    from ..pipeline.run import preflight
    from .metrics import MIN_POINTS

    n = len(records)
    if n < MIN_POINTS:
        raise DataError(f"{n} labelled video(s): the correlations need at least {MIN_POINTS}",
                        "add labelled videos to the label file")
    problems = preflight([r.path for r in records])
    if n - len(problems) < MIN_POINTS:
        raise DataError(f"only {n - len(problems)} of {n} labelled videos can be read, the correlations need at "
                        f"least {MIN_POINTS} (first problem: {problems[0].one_line()})",
                        "check --media-root and the label paths")
    if len({r.mos for r in records}) < 2:
        raise DataError(f"all {n} MOS values are equal ({records[0].mos:g}): the correlations are undefined",
                        "check the label file's mos column")


def _done_index(scores_csv: Path | None, resume: bool):
    """The finished rows of an earlier run (after cutting a torn last line), or None without ``resume``."""
    from ..pipeline.resume import DoneIndex, OutputSpec, repair_tail

    if scores_csv is None:
        if resume:
            raise ConfigError("--resume needs --scores-csv (the file the earlier run wrote)")
        return None
    if scores_csv.exists() and not resume:
        raise ConfigError(f"{scores_csv}: already exists",
                          "pass --resume to continue that run, or choose another path")
    if not resume:
        return None
    repair_tail(str(scores_csv))
    index = DoneIndex()
    try:
        index.add_file(OutputSpec(str(scores_csv), "csv", _file_columns(scores_csv)))
    except UsageError as exc:
        raise ConfigError(f"{scores_csv}: not a `vqa2 eval` scores CSV of this version ({exc.message})",
                          "choose another --scores-csv or delete the file") from exc
    return index


def _file_columns(scores_csv: Path) -> tuple[str, ...]:
    """The columns of an existing scores CSV: those before ``decoded_frames`` was appended when its header
    says so (an older run being resumed), else this version's (a foreign header is refused when read)."""
    older = SCORE_CSV_COLUMNS[:-1]
    try:
        with scores_csv.open("rb") as handle:
            first = handle.readline()
    except OSError:
        return SCORE_CSV_COLUMNS
    return older if first.rstrip(b"\r\n") == ",".join(older).encode() else SCORE_CSV_COLUMNS


class _RowFile:
    """The scores CSV: opened for appending, each row flushed and fsync'd as it is written (OWASP: no
    formula cells). OS errors (disk full...) are ``OutputError`` naming the file (exit 5). A file of an
    older run keeps its columns (:func:`_file_columns`)."""

    def __init__(self, path: Path):
        from ..output.rowfiles import fsync_dir

        self.path, self.columns = path, SCORE_CSV_COLUMNS
        with writing(path):
            self.handle = path.open("a", newline="", encoding="utf-8", errors="surrogateescape")
            if self.handle.tell() == 0:
                self._put(SCORE_CSV_COLUMNS)
                fsync_dir(os.path.dirname(os.path.abspath(path)))  # a new file's name survives power loss
            else:
                self.columns = _file_columns(path)

    def _put(self, cells) -> None:
        self.handle.write(csv_row_text(cells))
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def write(self, row: dict) -> None:
        with writing(self.path):
            self._put([csv_cell(row.get(c, "")) for c in self.columns])  # no stat: empty cells

    def close(self) -> None:
        try:
            self.handle.close()
        except OSError:  # a failed write was already reported; its bytes are lost either way
            pass


def _scored_row(rec: LabelRecord, prepared, scorer) -> dict:
    """One CSV row from a prefetched ``(stat, clip)``; an unreadable video is an ``error`` row, other
    errors raise."""
    from ..video.probe import file_stat

    row = {"index": rec.index, "path": str(rec.path), "mos": rec.mos}
    if prepared.error is not None and not isinstance(prepared.error, InputError):
        raise prepared.error
    if prepared.error is not None:
        stat = file_stat(rec.path)
        decoded = getattr(prepared.error, "input", {}).get("decoded_frames", "")  # damaged_input (--strict)
        return {**row, "score": "", "official_score": "", "level": "", "status": "error",
                "error": prepared.error.one_line(), "decoded_frames": decoded, **(stat.as_dict() if stat else {})}
    stat, clip = prepared.value
    d = scorer.run(clip).to_dict()
    return {**row, "score": d["score"], "official_score": d["official_score"], "level": d["level"],
            "status": "ok", "error": "", "decoded_frames": (d.get("input") or {}).get("decoded_frames", ""),
            **(stat.as_dict() if stat else {})}


def evaluate(records: list[LabelRecord], scorer, *, labels: str, model: str, scores_csv: Path | None = None,
             resume: bool = False, workers: int = 2, stalling_style: str = "sequence",
             on_error: Callable[[str], None] = lambda _: None,
             advance: Callable[[], None] = lambda: None) -> EvalResult:
    """Score every record with ``scorer`` (``prepare`` in worker threads, ``run`` here), append the CSV
    rows, compute the metrics. A record's ``stalling`` goes into its prompt, phrased as ``stalling_style``.

    Raises ConfigError (CSV exists without ``resume``, or is no eval CSV), DataError (too few videos
    scored for the metrics); an unreadable video is a failure row, not an exception."""
    from ..pipeline.interrupts import deferred
    from ..pipeline.prefetch import prefetch
    from ..pipeline.prompts import parse_stalling
    from ..video.probe import file_stat

    index = _done_index(scores_csv, resume)
    reused = {}
    if index is not None:
        for rec in records:
            state = index.match(str(rec.path), file_stat(rec.path), retry_errors=True)  # only ok rows count
            if state is not None and state.score is not None:
                reused[rec.index] = state.score
    todo = [r for r in records if r.index not in reused]

    def prepare(record: LabelRecord):
        stat = file_stat(record.path)  # before decoding, as batch: a file changed meanwhile is scored again
        stalling = parse_stalling(record.stalling, stalling_style)
        return stat, scorer.prepare(str(record.path), stalling=stalling)

    rows = _RowFile(scores_csv) if scores_csv is not None else None
    stream = prefetch(todo, prepare, workers=workers, depth=2 * workers)
    preds, mos, failures = [], [], []
    try:
        for rec in records:
            if rec.index in reused:
                preds.append(reused[rec.index])
                mos.append(rec.mos)
                advance()
                continue
            row = _scored_row(rec, next(stream), scorer)
            if row["status"] == "ok":
                preds.append(float(row["score"]))
                mos.append(rec.mos)
            else:
                failures.append(row["error"])
                on_error(row["error"])
            with deferred():  # the row and its count go together (a Ctrl-C waits for both)
                if rows is not None:
                    rows.write(row)
                advance()
    finally:
        stream.close()
        if rows is not None:
            rows.close()
    try:
        metrics = correlations(preds, mos)
    except DataError as exc:
        if failures:
            raise DataError(f"{exc.message} after {len(failures)} video(s) failed", exc.fix) from exc
        raise
    return EvalResult(labels=labels, model=model, metrics=metrics, n_labels=len(records),
                      n_failed=len(failures), n_reused=len(records) - len(todo), failures=failures)
