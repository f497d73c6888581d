"""Correlation metrics for ``vqa2 eval``: SRCC, PLCC, PLCC after a 4-parameter logistic fit, KRCC.

SRCC and PLCC are computed as the official scripts do (spec §7): ``scipy.stats.spearmanr`` /
``pearsonr`` on the raw predicted scores against the MOS, with no fitting. The customary VQA
4-parameter logistic (VQEG) fit is reported as an extra column, ``plcc_logistic``:

    f(x) = (b1 - b2) / (1 + exp(-(x - b3) / |b4|)) + b2

KRCC is Kendall's tau-b (ties handled), as ``scipy.stats.kendalltau`` computes it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DataError

MIN_POINTS = 3
MIN_POINTS_LOGISTIC = 5  # four parameters need more than four points


@dataclass(frozen=True)
class Correlations:
    srcc: float
    plcc: float
    plcc_logistic: float | None  # None when the logistic fit did not converge (see notes)
    krcc: float
    n: int
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "srcc": self.srcc,
            "plcc": self.plcc,
            "plcc_logistic": self.plcc_logistic,
            "krcc": self.krcc,
            "n": self.n,
            "notes": list(self.notes),
        }


def _check(pred: Sequence[float], mos: Sequence[float]) -> tuple[list[float], list[float]]:
    p = [float(v) for v in pred]
    m = [float(v) for v in mos]
    if len(p) != len(m):
        raise DataError(f"{len(p)} predictions but {len(m)} MOS values", "pass one score per labelled video")
    if len(p) < MIN_POINTS:
        raise DataError(
            f"correlations need at least {MIN_POINTS} videos, got {len(p)}",
            "evaluate on a larger labelled set",
        )
    if not all(math.isfinite(v) for v in p + m):
        raise DataError("predictions or MOS contain NaN or infinity", "check the label file and scores")
    for name, values in (("predicted scores", p), ("MOS values", m)):
        if max(values) == min(values):
            raise DataError(
                f"all {name} are equal ({values[0]:g}): correlation is undefined",
                "evaluate on videos with different quality",
            )
    return p, m


def logistic4(x, b1, b2, b3, b4):
    """The VQEG 4-parameter logistic mapping (numpy array in, array out). ``exp`` overflowing to inf far
    from ``b3`` is the curve's flat end (``1 / (1 + inf) = 0``), so numpy's overflow warning is silenced here
    rather than leaked to stderr; the numbers are those of the plain formula."""
    import numpy as np

    with np.errstate(over="ignore"):
        return (b1 - b2) / (1.0 + np.exp(-(x - b3) / np.abs(b4))) + b2


def fit_logistic(pred: Sequence[float], mos: Sequence[float]):
    """Fit :func:`logistic4` from predictions to MOS; returns the mapped predictions (numpy array)."""
    import numpy as np
    from scipy.optimize import curve_fit

    x = np.asarray(pred, dtype=np.float64)
    y = np.asarray(mos, dtype=np.float64)
    p0 = [float(y.max()), float(y.min()), float(np.mean(x)), float(np.std(x)) or 1.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # OptimizeWarning / overflow in exp: judged by the result
        params, _ = curve_fit(logistic4, x, y, p0=p0, maxfev=20000)
    fitted = logistic4(x, *params)
    if not np.all(np.isfinite(fitted)):
        raise RuntimeError("logistic fit produced non-finite values")
    return fitted


def correlations(pred: Sequence[float], mos: Sequence[float]) -> Correlations:
    """All eval metrics for one labelled set; raises :class:`DataError` on unusable input."""
    import numpy as np
    from scipy import stats

    p, m = _check(pred, mos)
    srcc = float(stats.spearmanr(p, m).statistic)
    plcc = float(stats.pearsonr(p, m).statistic)
    krcc = float(stats.kendalltau(p, m).statistic)
    notes: list[str] = []
    if len(p) < MIN_POINTS_LOGISTIC:
        notes.append(f"plcc_logistic needs at least {MIN_POINTS_LOGISTIC} videos, got {len(p)}")
        return Correlations(srcc=srcc, plcc=plcc, plcc_logistic=None, krcc=krcc, n=len(p), notes=tuple(notes))
    try:
        fitted = fit_logistic(p, m)
        if float(np.std(fitted)) == 0.0:
            raise RuntimeError("the fitted curve is flat")
        plcc_log: float | None = float(stats.pearsonr(fitted, m).statistic)
    except (RuntimeError, ValueError) as exc:
        plcc_log = None
        notes.append(f"plcc_logistic unavailable: the 4-parameter logistic fit failed ({exc})")
    return Correlations(srcc=srcc, plcc=plcc, plcc_logistic=plcc_log, krcc=krcc, n=len(p), notes=tuple(notes))
