"""Calibration to a team's scale (``vqa2 calibrate``, ``--calibration FILE``): fit (fit.py), choose by CV
(select.py), the versioned file (file.py), the labels and scores read (data.py), records and gates (apply.py).

API::

    cal = vqa2cli.calibrate(scores, mos, config=record.config, scale="mos-1-5")   # fit + CV report
    cal = vqa2cli.load_calibration("team.json")                                  # refuses a bad file
    vqa2cli.apply_calibration(records, cal)     # records gain ``calibrated`` (another model: UsageError)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .file import Calibration
from .file import load as load_calibration

__all__ = ["Calibration", "calibrate", "load_calibration", "apply_calibration"]


def calibrate(
    scores: Sequence[float],
    labels: Sequence[float],
    *,
    config: dict[str, Any],
    scale: str = "mos",
    kind: str = "auto",
    folds: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
    precision: dict[str, Any] | None = None,
) -> Calibration:
    """Fit the map from ``scores`` (0–1) to ``labels`` (any scale, named ``scale``) for scores made with
    the resolved settings ``config`` (``Settings.to_dict()`` / a record's ``config``) and, when known, the
    loaded ``precision`` (``{"dtype", "quant"}``, a record's ``model``). Raises DataError
    (too few or constant labels, no usable fit: decreasing, flat, a step, worse than no fit); UsageError
    when ``scale`` states a range (``mos-1-5``) that the labels leave."""
    from .file import check_scale, make
    from .select import choose

    check_scale(scale, labels)
    fitted, report = choose(scores, labels, kind=kind, k=folds, seed=seed, n_boot=n_boot)
    return make(fitted, scores, labels, scale=scale, config=config, metrics=report, precision=precision)


def apply_calibration(records: Iterable[Any], calibration: Calibration | str) -> list[Any]:
    """Give each ok score record its ``calibrated`` value; UsageError when made with other settings."""
    from .apply import RecordGates

    gates = RecordGates(calibration)
    out = []
    for record in records:
        gates.apply(record)
        out.append(record)
    return out
