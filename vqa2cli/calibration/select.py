"""Choose the calibration by k-fold cross-validation and report held-out metrics with bootstrap intervals.

``before``: the raw score (PLCC, SRCC, KRCC as ``vqa2 eval`` computes them, jobs/metrics.py) and, for RMSE,
the least-squares line from score to label fitted on the training folds (the raw score is on another scale,
so its own RMSE means nothing). ``after``: the chosen map's held-out predictions. Each metric carries a 95 %
percentile bootstrap interval over the held-out pairs (``n_boot`` resamples, seeded). The chosen kind is
the candidate with the lowest held-out RMSE; the final map is then fitted on all pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import DataError
from .fit import KINDS, MIN_LABELS, Fit, check_labels, fit, held_out

METRICS = ("plcc", "srcc", "krcc", "rmse")


def metrics(pred, y) -> dict[str, float]:
    """PLCC, SRCC, KRCC (tau-b) and RMSE of predictions ``pred`` against labels ``y``."""
    import numpy as np
    from scipy import stats

    pred, y = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.std(pred) == 0 or np.std(y) == 0:
        nan = float("nan")
        return {"plcc": nan, "srcc": nan, "krcc": nan, "rmse": float(np.sqrt(np.mean((pred - y) ** 2)))}
    return {
        "plcc": float(stats.pearsonr(pred, y).statistic),
        "srcc": float(stats.spearmanr(pred, y).statistic),
        "krcc": float(stats.kendalltau(pred, y).statistic),
        "rmse": float(np.sqrt(np.mean((pred - y) ** 2))),
    }


def bootstrap(pred, y, n_boot: int = 1000, seed: int = 0) -> dict[str, list[float]]:
    """95 % percentile intervals ``[lo, hi]`` of each metric over ``n_boot`` resamples of the pairs."""
    import numpy as np

    pred, y = np.asarray(pred, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {m: [] for m in METRICS}
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        for name, value in metrics(pred[idx], y[idx]).items():
            draws[name].append(value)
    out = {}
    for name, values in draws.items():
        v = np.asarray(values)
        v = v[np.isfinite(v)]
        out[name] = [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if len(v) else [None, None]
    return out


def _with_ci(pred, y, n_boot: int, seed: int) -> dict[str, Any]:
    values, ci = metrics(pred, y), bootstrap(pred, y, n_boot, seed)
    return {name: {"value": values[name], "ci95": ci[name]} for name in METRICS}


def choose(
    scores: Sequence[float],
    labels: Sequence[float],
    *,
    kind: str = "auto",
    k: int = 5,
    seed: int = 0,
    n_boot: int = 1000,
) -> tuple[Fit, dict[str, Any]]:
    """The calibration of ``labels`` on ``scores`` and its report (``chosen``, ``folds``, ``cv_rmse`` per
    candidate, ``before``/``after`` held-out metrics with ``ci95``, ``refused``: candidates that failed and
    why). ``kind``: ``auto`` (every kind the fold size supports) or one of :data:`KINDS`.

    Raises DataError (too few/constant labels, no candidate fits monotonically)."""
    import numpy as np

    check_labels(scores, labels)
    x, y = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    k = max(2, min(k, len(y) // 2))
    n_train = len(y) - -(-len(y) // k)  # smallest training fold
    candidates = list(KINDS) if kind == "auto" else [kind]
    if kind != "auto" and n_train < MIN_LABELS[kind]:
        raise DataError(
            f"{len(y)} labelled videos are too few for {kind} with {k} folds (each training fold "
            f"needs {MIN_LABELS[kind]})",
            "label more videos or use --kind isotonic",
        )
    candidates = [c for c in candidates if n_train >= MIN_LABELS[c]]
    preds, refused = {}, {}
    for c in candidates:
        try:
            preds[c] = held_out(c, x, y, k, seed)
        except DataError as exc:
            refused[c] = exc.message
    if not preds:
        raise DataError(
            "no calibration fits: " + "; ".join(f"{c}: {m}" for c, m in refused.items()),
            "label more videos across the whole quality range",
        )
    rmse = {c: float(np.sqrt(np.mean((p - y) ** 2))) for c, p in preds.items()}
    chosen = min(rmse, key=rmse.get)
    final = fit(chosen, x, y)  # DataError when the fit on all pairs is not monotone
    before = _with_ci(x, y, n_boot, seed)
    before["rmse"] = _with_ci(held_out("linear", x, y, k, seed), y, n_boot, seed)["rmse"]
    report = {
        "chosen": chosen,
        "folds": k,
        "seed": seed,
        "n_boot": n_boot,
        "cv_rmse": rmse,
        "refused": refused,
        "before": before,
        "after": _with_ci(preds[chosen], y, n_boot, seed),
    }
    return final, report
