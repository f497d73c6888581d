"""``vqa2 eval``: score a labelled set, keep per-video scores in a CSV (resumable), report correlations.

The scores CSV has one row per label record (``index,path,mos,score,official_score,level,status,error``),
flushed as written. With ``resume`` the rows already ``ok`` for the same path are reused, so an
interrupted evaluation continues where it stopped. Failed videos are listed and left out of the metrics.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, DataError, InputError
from .datasets import LabelRecord
from .metrics import Correlations, correlations

SCORE_CSV_COLUMNS = ("index", "path", "mos", "score", "official_score", "level", "status", "error")


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


def read_done(scores_csv: Path) -> dict[str, dict]:
    """Rows of an earlier run that finished ``ok``, keyed by path."""
    with scores_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != SCORE_CSV_COLUMNS:
            raise ConfigError(f"{scores_csv}: not a `vqa2 eval` scores CSV (columns {reader.fieldnames})",
                              "choose another --scores-csv or delete the file")
        done = {}
        for row in reader:
            if row["status"] == "ok":
                try:
                    float(row["score"])
                except ValueError:
                    continue  # a torn last line from an interrupted run: score it again
                done[row["path"]] = row
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
    handle = scores_csv.open("w", newline="", encoding="utf-8")
    return done, handle


def evaluate(records: list[LabelRecord], score: Callable[[str], object], *, labels: str, model: str,
             scores_csv: Path | None = None, resume: bool = False,
             on_error: Callable[[str], None] = lambda _: None, advance: Callable[[], None] = lambda: None,
             ) -> EvalResult:
    """Score every record (``score(path) → ScoreRecord``), write the CSV, compute the metrics."""
    done, handle = _open_scores(scores_csv, resume)
    writer = csv.DictWriter(handle, SCORE_CSV_COLUMNS) if handle else None
    if writer:
        writer.writeheader()
    preds, mos, failures, reused = [], [], [], 0
    try:
        for rec in records:
            path = str(rec.path)
            row = {"index": rec.index, "path": path, "mos": rec.mos}
            if path in done:
                old = done[path]
                row.update({k: old[k] for k in ("score", "official_score", "level")}, status="ok", error="")
                reused += 1
            else:
                try:
                    result = score(path)
                    d = result.to_dict()
                    row.update(score=d["score"], official_score=d["official_score"], level=d["level"],
                               status="ok", error="")
                except InputError as exc:
                    row.update(score="", official_score="", level="", status="error", error=exc.one_line())
                    failures.append(exc.one_line())
                    on_error(exc.one_line())
            if writer:
                writer.writerow(row)
                handle.flush()
            if row["status"] == "ok":
                preds.append(float(row["score"]))
                mos.append(rec.mos)
            advance()
    finally:
        if handle:
            handle.close()
    try:
        metrics = correlations(preds, mos)
    except DataError as exc:
        if failures:
            raise DataError(f"{exc.message} after {len(failures)} video(s) failed", exc.fix) from exc
        raise
    return EvalResult(labels=labels, model=model, metrics=metrics, n_labels=len(records),
                      n_failed=len(failures), n_reused=reused, failures=failures)
