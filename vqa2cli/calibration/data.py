"""What ``vqa2 calibrate`` reads: the labels file (``path,mos``, as ``vqa2 eval``) checked row by row, and
the scores of an existing ``batch --csv`` or ``eval --scores-csv`` file with the settings recorded beside it
(``<file>.vqa2.json``, jobs/provenance.py). Every refusal is one DataError line naming the row."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from ..errors import DataError


def read_label_records(source: Path, media_root: Path | None = None) -> list:
    """:func:`~vqa2cli.training.datasets.read_labels` plus: a file not in UTF-8 (the line named) and a
    path labelled twice (both records named) refused. Missing files, non-numeric or NaN labels and paths
    relative to another folder are refused there, naming the record."""
    from ..training.datasets import read_labels

    source = Path(source)
    try:
        records = read_labels(source, media_root)
    except UnicodeDecodeError as exc:
        line = source.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{source}: line {line} is not UTF-8 (byte 0x{exc.object[exc.start]:02x})",
            "save the labels file as UTF-8",
        ) from None
    seen: dict[str, str] = {}
    for r in records:
        key = os.path.realpath(r.path)
        if key in seen:
            raise DataError(
                f"{source}: {r.where}: {r.path} is labelled twice (also {seen[key]})",
                "keep one label per video (average repeated ratings first)",
            )
        seen[key] = r.where
    return records


def read_scores(source: Path) -> tuple[dict[str, float], dict[str, Any], dict[str, Any]]:
    """``(real path → score, recorded config, precision)`` of the ``ok`` rows of a batch or eval scores CSV
    (the last row of a path is current). ``precision``: ``{"dtype", "quant"}`` loaded, when the file has
    those columns. DataError when the file, its columns or its settings record are missing."""
    source = Path(source)
    sidecar = Path(f"{source}.vqa2.json")
    if not source.is_file():
        raise DataError(
            f"{source}: scores file not found", "give a vqa2 batch --csv or eval --scores-csv file"
        )
    try:
        config = json.loads(sidecar.read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"{sidecar}: no readable settings record beside the scores ({type(exc).__name__})",
            "calibrate from files vqa2 batch or vqa2 eval wrote (they record the settings)",
        ) from None
    scores: dict[str, float] = {}
    precision: dict[str, Any] = {}
    with source.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"path", "score", "status"} <= set(reader.fieldnames or ()):
            raise DataError(
                f"{source}: no path, score and status columns", "give a batch --csv or eval --scores-csv"
            )
        for line, row in enumerate(reader, start=2):
            if row["status"] != "ok":
                continue
            try:
                scores[_real(row["path"], source)] = float(row["score"])
            except ValueError:
                raise DataError(f"{source}: line {line}: score {row['score']!r} is not a number") from None
            for key in ("dtype", "quant"):
                if row.get(key):
                    precision[key] = row[key]
    return scores, config, precision


def _real(path: str, source: Path) -> str:
    """A row's path as the job resolved it: from the working folder, else from the scores file's folder."""
    if path.startswith("'"):  # the CSV cell escape of records/cells.py
        path = path[1:]
    if os.path.isabs(path) or os.path.exists(path):
        return os.path.realpath(path)
    return os.path.realpath(source.parent / path)


def pair(records: list, scores: dict[str, float], source: str) -> tuple[list[float], list[float]]:
    """Scores and labels in label order; DataError naming the first label without an ok score."""
    x, y = [], []
    for r in records:
        key = os.path.realpath(r.path)
        if key not in scores:
            raise DataError(
                f"{r.where}: {r.path} has no ok score in {source}",
                "score it (vqa2 batch --resume) or remove the label",
            )
        x.append(scores[key])
        y.append(r.mos)
    return x, y
