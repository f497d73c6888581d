"""``vqa2 eval``: score a labelled set, keep per-video scores in a CSV (resumable), report correlations.

Decoding runs ahead in worker threads (pipeline.prefetch) while the model scores. The scores CSV has
one row per label record (``index,path,mos,score,official_score,level,status,error,decoded_frames``;
files from before ``decoded_frames`` was appended are still read), flushed as
written. With ``resume`` the rows already ``ok`` for the same path are reused, so an interrupted
evaluation continues where it stopped. Failed videos are listed and left out of the metrics. Text cells that
a spreadsheet would run as formulas get a leading ``'`` (``output/cells.py``), undone when resuming.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DataError, InputError, OutputError
from ..output.cells import csv_cell, csv_uncell
from .datasets import LabelRecord
from .metrics import Correlations, correlations

SCORE_CSV_COLUMNS = ("index", "path", "mos", "score", "official_score", "level", "status", "error",
                     "decoded_frames")  # appended last; files without it are still read


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


@contextlib.contextmanager
def _writing(scores_csv: Path | None):
    """OS errors writing the scores CSV (disk full...) as an OutputError naming it (exit 5)."""
    try:
        yield
    except OSError as exc:
        raise OutputError(str(scores_csv), exc) from None


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


def read_done(scores_csv: Path) -> dict[str, dict]:
    """Rows of an earlier run that finished ``ok``, keyed by path."""
    with scores_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) not in (SCORE_CSV_COLUMNS, SCORE_CSV_COLUMNS[:-1]):
            raise ConfigError(f"{scores_csv}: not a `vqa2 eval` scores CSV (columns {reader.fieldnames})",
                              "choose another --scores-csv or delete the file")
        done = {}
        for row in reader:
            if row["status"] == "ok":
                try:
                    float(row["score"])
                except ValueError:
                    continue  # a torn last line from an interrupted run: score it again
                done[csv_uncell(row["path"])] = row
        return done


def _open_scores(scores_csv: Path | None, resume: bool) -> tuple[dict[str, dict], object | None]:
    if scores_csv is None:
        if resume:
            raise ConfigError("--resume needs --scores-csv (the file the earlier run wrote)")
        return {}, None
    if scores_csv.exists() and not resume:
        raise ConfigError(f"{scores_csv}: already exists",
                          "pass --resume to continue that run, or choose another path")
    done = read_done(scores_csv) if scores_csv.exists() else {}
    try:
        handle = scores_csv.open("w", newline="", encoding="utf-8", errors="backslashreplace")
    except OSError as exc:
        raise OutputError(str(scores_csv), exc) from None
    return done, handle


def _scored_row(rec: LabelRecord, prepared, scorer) -> dict:
    """One CSV row from a prefetched clip; an unreadable video is an ``error`` row, other errors raise."""
    row = {"index": rec.index, "path": str(rec.path), "mos": rec.mos}
    if prepared.error is not None and not isinstance(prepared.error, InputError):
        raise prepared.error
    if prepared.error is not None:
        decoded = getattr(prepared.error, "input", {}).get("decoded_frames", "")  # damaged_input (--strict)
        return {**row, "score": "", "official_score": "", "level": "", "status": "error",
                "error": prepared.error.one_line(), "decoded_frames": decoded}
    d = scorer.run(prepared.value).to_dict()
    return {**row, "score": d["score"], "official_score": d["official_score"], "level": d["level"],
            "status": "ok", "error": "", "decoded_frames": (d.get("input") or {}).get("decoded_frames", "")}


def evaluate(records: list[LabelRecord], scorer, *, labels: str, model: str, scores_csv: Path | None = None,
             resume: bool = False, workers: int = 2, stalling_style: str = "sequence",
             on_error: Callable[[str], None] = lambda _: None,
             advance: Callable[[], None] = lambda: None) -> EvalResult:
    """Score every record with ``scorer`` (``prepare`` in worker threads, ``run`` here), write the CSV,
    compute the metrics. A record's ``stalling`` goes into its prompt, phrased as ``stalling_style``."""
    from ..pipeline.prefetch import prefetch
    from ..pipeline.prompts import parse_stalling

    done, handle = _open_scores(scores_csv, resume)
    writer = csv.DictWriter(handle, SCORE_CSV_COLUMNS) if handle else None
    if writer:
        with _writing(scores_csv):
            writer.writeheader()
    todo = [r for r in records if str(r.path) not in done]

    def prepare(record: LabelRecord):
        return scorer.prepare(str(record.path), stalling=parse_stalling(record.stalling, stalling_style))

    stream = prefetch(todo, prepare, workers=workers, depth=2 * workers)
    preds, mos, failures = [], [], []
    try:
        for rec in records:
            old = done.get(str(rec.path))
            if old is not None:
                row = {"index": rec.index, "path": str(rec.path), "mos": rec.mos, "status": "ok", "error": "",
                       **{k: old[k] for k in ("score", "official_score", "level")},
                       "decoded_frames": old.get("decoded_frames") or ""}
            else:
                row = _scored_row(rec, next(stream), scorer)
            if row["status"] == "ok":
                preds.append(float(row["score"]))
                mos.append(rec.mos)
            else:
                failures.append(row["error"])
                on_error(row["error"])
            if writer:
                with _writing(scores_csv):
                    writer.writerow({k: csv_cell(v) for k, v in row.items()})  # OWASP: no formula cells
                    handle.flush()
            advance()
    finally:
        stream.close()
        if handle:
            try:
                handle.close()
            except OSError:  # a failed write was already reported; its bytes are lost either way
                pass
    try:
        metrics = correlations(preds, mos)
    except DataError as exc:
        if failures:
            raise DataError(f"{exc.message} after {len(failures)} video(s) failed", exc.fix) from exc
        raise
    return EvalResult(labels=labels, model=model, metrics=metrics, n_labels=len(records),
                      n_failed=len(failures), n_reused=len(records) - len(todo), failures=failures)
