"""Monotone maps from the model's score (paper scale, 0–1) to a team's label scale, chosen by k-fold CV.

Kinds (``params`` as stored in the calibration file):

============ ===============================================================================================
logistic4    ``f(x) = (b1 − b2) / (1 + exp(−(x − b3) / |b4|)) + b2`` — the VQEG 4-parameter logistic
             (jobs/metrics.py, as ITU-T P.1401 applies before PLCC); ``params = [b1, b2, b3, b4]``
logistic5    ``f(x) = b1 (1/2 − 1 / (1 + exp(b2 (x − b3)))) + b4 x + b5`` — the VQEG FR-TV Phase II
             5-parameter form; ``params = [b1, b2, b3, b4, b5]``
isotonic     pool-adjacent-violators (least squares, non-decreasing), applied by linear interpolation
             between its knots and held flat past the end knots;
             ``params = {"x": [...], "y": [...]}``
============ ===============================================================================================

Every map must be usable as a calibration over the score range it saw (checked on a 512-point grid), else
the fit is refused (:class:`~vqa2cli.errors.DataError`) with the reason:

- monotone NON-DECREASING: a higher score never maps lower (a decreasing map would turn the model's "better"
  into the team's "worse"; data where the score falls as the label rises is refused, not inverted);
- not flat: the map's rise over the scores seen is at least :data:`MIN_SPAN` of the labels' range;
- not a step (logistics): no single grid step (1/511 of the score range) carries more than
  :data:`MAX_JUMP` of the rise — a logistic whose slope scale ``|b4|`` collapses to ~0 is a step function
  that fits the training points and nothing else.

Raises DataError for too few or constant labels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import DataError

KINDS = ("logistic4", "logistic5", "isotonic")
MIN_LABELS = {"logistic4": 8, "logistic5": 12, "isotonic": 6}  # in each training fold; fewer: not a candidate
MIN_TOTAL = 10  # below this no held-out estimate means anything: refused
GRID = 512
MIN_SPAN = 0.1  # the map's rise over the scores seen, as a fraction of the labels' range: less is flat
MAX_JUMP = 0.5  # the largest grid step of a logistic, as a fraction of its rise: more is a step function


@dataclass(frozen=True)
class Fit:
    """One fitted map: ``kind`` (one of :data:`KINDS`) and its ``params`` (JSON-able)."""

    kind: str
    params: Any

    def __call__(self, x):
        """Scores (array-like, 0–1 scale) → values on the label scale (numpy float64 array)."""
        import numpy as np

        x = np.asarray(x, dtype=np.float64)
        if self.kind == "logistic4":
            b1, b2, b3, b4 = self.params
            return (b1 - b2) / (1.0 + np.exp(np.clip(-(x - b3) / abs(b4), -700, 700))) + b2
        if self.kind == "logistic5":
            b1, b2, b3, b4, b5 = self.params
            return b1 * (0.5 - 1.0 / (1.0 + np.exp(np.clip(b2 * (x - b3), -700, 700)))) + b4 * x + b5
        return np.interp(x, self.params["x"], self.params["y"])


def check_labels(scores: Sequence[float], labels: Sequence[float]) -> None:
    """DataError when the pairs cannot support a calibration: too few, non-finite, constant labels or scores."""
    n = len(labels)
    if n != len(scores):
        raise DataError(f"{len(scores)} scores for {n} labels", "pass one score per labelled video")
    if n < MIN_TOTAL:
        raise DataError(
            f"{n} labelled video(s): a calibration needs at least {MIN_TOTAL}",
            "label more videos (30 or more give useful intervals)",
        )
    if not all(math.isfinite(float(v)) for v in [*scores, *labels]):
        raise DataError("scores or labels contain NaN or infinity", "check the labels file")
    if max(labels) == min(labels):
        raise DataError(
            f"all {n} labels are equal ({labels[0]:g}): nothing to calibrate to",
            "label videos of different quality",
        )
    if max(scores) == min(scores):
        raise DataError(
            f"all {n} scores are equal ({scores[0]:g}): nothing to calibrate from",
            "label videos of different quality",
        )


def fit(kind: str, x: Sequence[float], y: Sequence[float]) -> Fit:
    """Fit ``kind`` on scores ``x`` and labels ``y``; DataError when it fails or is not monotone."""
    import numpy as np

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if kind == "isotonic":
        return _isotonic(x, y)
    from scipy.optimize import curve_fit

    hi, lo = float(y.max()), float(y.min())  # non-decreasing start: the only direction accepted
    spread = float(np.std(x)) or 0.1
    if kind == "logistic4":
        p0 = [hi, lo, float(np.mean(x)), spread]
    elif kind == "logistic5":
        p0 = [hi - lo, 1.0 / spread, float(np.mean(x)), 0.0, (hi + lo) / 2]
    else:
        raise DataError(f"unknown calibration kind {kind!r}", f"use one of {', '.join(KINDS)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # OptimizeWarning / overflow: judged by the result
            params, _ = curve_fit(lambda t, *p: Fit(kind, list(p))(t), x, y, p0=p0, maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        raise DataError(f"the {kind} fit did not converge ({exc})", "try --kind isotonic") from None
    result = Fit(kind, [float(p) for p in params])
    check_monotone(result, float(x.min()), float(x.max()), float(y.max() - y.min()))
    return result


def check_monotone(f: Fit, lo: float, hi: float, label_range: float | None = None) -> None:
    """DataError when ``f`` is not finite or not non-decreasing on [lo, hi] (scores, 0–1) or, given the
    labels' range ``label_range`` (label units), when it is flat or (a logistic) a step: module docstring."""
    import numpy as np

    values = f(np.linspace(lo, hi, GRID))
    if not np.all(np.isfinite(values)):
        raise DataError(f"the {f.kind} fit is not finite over the scores seen", "try --kind isotonic")
    steps = np.diff(values)
    tol = 1e-9 * max(1.0, float(np.abs(values).max()))
    seen = f"over the scores seen ({lo:.4f}–{hi:.4f})"
    if not np.all(steps >= -tol):
        raise DataError(
            f"the {f.kind} fit decreases {seen}: a higher score would map lower",
            _NO_FIT,
        )
    if label_range is None or label_range <= 0:
        return
    rise = float(values[-1] - values[0])
    if rise < MIN_SPAN * label_range:
        raise DataError(
            f"the {f.kind} fit is flat {seen}: it spans {rise:.3g} of the labels' {label_range:.3g}",
            _NO_FIT,
        )
    if f.kind != "isotonic" and float(steps.max()) > MAX_JUMP * rise:
        raise DataError(f"the {f.kind} fit is a step function {seen}", _NO_FIT)


_NO_FIT = (
    "label more videos, check that the scores and labels belong to the same videos, or use --kind isotonic"
)


def _isotonic(x, y) -> Fit:
    """Pool-adjacent-violators (non-decreasing) on the points sorted by score (ties averaged first); DataError
    when the result is flat (module docstring)."""
    import numpy as np

    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    ux, inverse = np.unique(xs, return_inverse=True)
    sums, counts = np.bincount(inverse, ys), np.bincount(inverse)
    blocks: list[list[float]] = []  # [sum, count, first index]
    for i, (s, c) in enumerate(zip(sums, counts)):
        blocks.append([float(s), float(c), i])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s2, c2, _ = blocks.pop()
            blocks[-1][0] += s2
            blocks[-1][1] += c2
    fitted = np.empty(len(ux))
    starts = [b[2] for b in blocks] + [len(ux)]
    for b, start, stop in zip(blocks, starts, starts[1:]):
        fitted[start:stop] = b[0] / b[1]
    result = Fit("isotonic", {"x": [float(v) for v in ux], "y": [float(v) for v in fitted]})
    check_monotone(result, float(x.min()), float(x.max()), float(y.max() - y.min()))
    return result


def folds(n: int, k: int, seed: int = 0) -> list[Any]:
    """``k`` held-out index sets (numpy arrays) of a seeded shuffle of ``range(n)``."""
    import numpy as np

    perm = np.random.default_rng(seed).permutation(n)
    return [perm[i::k] for i in range(k)]


def held_out(kind: str, x, y, k: int, seed: int = 0):
    """Held-out predictions of ``kind`` by ``k``-fold CV (numpy array aligned with ``y``); the "before"
    baseline ``kind = "linear"`` is the least-squares line fitted on the training folds."""
    import numpy as np

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    pred = np.empty_like(y)
    for test in folds(len(y), k, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        if kind == "linear":
            slope, intercept = np.polyfit(x[train], y[train], 1)
            pred[test] = slope * x[test] + intercept
        else:
            pred[test] = fit(kind, x[train], y[train])(x[test])
    return pred
