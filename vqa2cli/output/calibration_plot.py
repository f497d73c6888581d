"""``vqa2 calibrate --plot``: score vs label scatter, the fitted curve and a 95 % band (matplotlib's object
API, no pyplot, imported only here).

The band is the curve ± 1.96 × the held-out RMSE of the chosen map (``metrics.after.rmse``): where about
95 % of new labels should fall if the residuals are roughly normal and even across the range, clipped to
the labels' range (no label falls outside the scale). The score range the fit saw is marked; beyond it
values are extrapolated."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def band(calibration, curve):
    """``(lower, upper)`` of the 95 % band around ``curve`` (numpy arrays, label units): ± 1.96 × the
    held-out RMSE, clipped to the labels' range ``scale.min``–``scale.max``."""
    import numpy as np

    half = 1.96 * float(calibration.metrics["after"]["rmse"]["value"])
    low, high = float(calibration.scale["min"]), float(calibration.scale["max"])
    return np.clip(curve - half, low, high), np.clip(curve + half, low, high)


def plot_calibration(
    calibration, scores: Sequence[float], labels: Sequence[float], target: str | Path
) -> Path:
    """Write the picture (``.png``/``.svg`` by suffix, 900 x 600 px). OSError if it cannot be written."""
    import numpy as np
    from matplotlib.figure import Figure

    lo, hi = calibration.score_range
    grid = np.linspace(max(0.0, lo - 0.05), min(1.0, hi + 0.05), 256)
    curve = calibration.fit(grid)
    fig = Figure(figsize=(9, 6), dpi=100)
    ax = fig.add_subplot()
    ax.fill_between(
        grid, *band(calibration, curve), color="#9ecae1", alpha=0.5, label="95 % band (±1.96 held-out RMSE)"
    )
    ax.plot(grid, curve, color="#08519c", label=f"{calibration.kind} fit")
    ax.scatter(scores, labels, s=14, color="#252525", label=f"labelled videos (n={calibration.n})")
    for edge in (lo, hi):
        ax.axvline(edge, color="#969696", linestyle=":", linewidth=1)
    ax.set_xlabel("vqa2 score (paper scale, 0-1)")
    ax.set_ylabel(calibration.scale["name"])
    after = calibration.metrics["after"]
    ax.set_title(
        f"{calibration.model.get('name')}: held-out PLCC {after['plcc']['value']:.3f}, "
        f"SRCC {after['srcc']['value']:.3f}, RMSE {after['rmse']['value']:.3g}"
    )
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(str(target))
    return Path(target)
