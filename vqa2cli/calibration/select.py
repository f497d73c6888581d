"""Choose the calibration by k-fold cross-validation and report held-out metrics with bootstrap intervals.

Before and after are computed the same way, on the same held-out points of the same ``k`` folds (every
labelled pair is held out exactly once): ``before`` is the raw score at each held-out point (PLCC, SRCC,
KRCC) and, for RMSE, the least-squares line fitted on the training folds and applied to the held-out points
(the raw score is on another scale, so its own RMSE means nothing); ``after`` is the chosen map fitted on the
training folds and applied to the same held-out points. Each metric carries a 95 % percentile bootstrap
interval over the held-out pairs (``n_boot`` resamples, seeded: the same resamples for before and after).
Since every map is non-decreasing (fit.py), SRCC/KRCC after equal before up to ties a flat stretch creates
and the small differences between the folds' maps.

The chosen kind is the surviving candidate with the lowest held-out RMSE; the final map is then fitted on
all pairs. ``refused`` records every kind that is not a candidate, with why: too few labels per training
fold, or a fit that is decreasing, flat or a step in some fold. The calibration is refused (DataError,
exit 2) when no candidate survives, or when the chosen map is worse held out than before (higher RMSE than
the training folds' straight line): such a map would mislead a gate.
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
    preds, refused = {}, {}
    for c in candidates:
        if n_train < MIN_LABELS[c]:
            refused[c] = (
                f"needs {MIN_LABELS[c]} labels per training fold, {k} folds of {len(y)} leave {n_train}"
            )
            continue
        try:
            preds[c] = held_out(c, x, y, k, seed)
        except DataError as exc:
            refused[c] = exc.message
    if not preds:
        raise DataError(
            "no calibration fits: " + "; ".join(f"{c}: {m}" for c, m in refused.items()),
            "label more videos across the whole quality range, check that the scores and labels belong to "
            "the same videos" + ("" if "isotonic" in refused else ", or use --kind isotonic"),
        )
    rmse = {c: float(np.sqrt(np.mean((p - y) ** 2))) for c, p in preds.items()}
    chosen = min(rmse, key=rmse.get)
    final = fit(chosen, x, y)  # DataError when the fit on all pairs is decreasing, flat or a step
    line = held_out("linear", x, y, k, seed)
    before = _with_ci(x, y, n_boot, seed)  # raw score at the held-out points: all of them, each once
    before["rmse"] = _with_ci(line, y, n_boot, seed)["rmse"]
    after = _with_ci(preds[chosen], y, n_boot, seed)
    check_better(chosen, before, after)
    report = {
        "chosen": chosen,
        "folds": k,
        "seed": seed,
        "n_boot": n_boot,
        "cv_rmse": rmse,
        "refused": refused,
        "before": before,
        "after": after,
    }
    return final, report


def check_better(chosen: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    """DataError when the chosen map's held-out RMSE is above the straight line's (``before``)."""
    b, a = before["rmse"]["value"], after["rmse"]["value"]
    if a > b:
        raise DataError(
            f"the best calibration ({chosen}) is worse held out than no fit: RMSE {a:.3g} against "
            f"{b:.3g} for a straight line (PLCC {after['plcc']['value']:.3f} against "
            f"{before['plcc']['value']:.3f})",
            "label more videos, check that the scores and labels belong to the same videos, or use "
            "--kind isotonic",
        )
