"""Rate–quality math of ``vqa2 compare --ladder`` (pure; numpy/scipy imported lazily).

* :func:`upper_hull`: the renditions worth shipping, the upper convex hull of (bitrate, score) points,
  its rising part (Netflix's per-title "convex hull" idea on the no-reference score).
* :func:`bd_rate`: the Bjøntegaard delta rate (VCEG-M33) in its current piecewise-cubic form — log10 rate as
  a PCHIP function of quality (Fritsch–Carlson slopes, the JCT-VC/JVET common-test-conditions sheets,
  JCTVC-L1100 / JVET-T2010), integrated exactly over the overlapping quality range; here the quality
  axis is the model's 0-1 score. Checked against the published libx265 RD points of FAU-LMS/bjontegaard and
  that package's PCHIP results (tests/test_compare_math.py).
* :func:`order_violations`: within one content and resolution, a rendition with clearly more bitrate
  should not score clearly lower; no-reference scorers are weakest exactly here (docs/compare.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MIN_OVERLAP = 0.5  # BD-rate needs the quality ranges to overlap over at least half of the narrower one
RATE_MARGIN = 0.10  # "clearly more bitrate": at least 10 % more


def upper_hull(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points on the rising upper convex hull of ``(rate, quality)`` points, by rising rate.

    A point is kept when no other point has at most its rate and at least its quality (dominance) and it
    is not below the chord between a lower-rate and a higher-rate point (convexity). Collinear middle
    points are left out. Rate in any unit (kbit/s here), quality on any scale. Empty input → []."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    hull: list[int] = []
    for i in order:
        x, y = points[i]
        if hull and points[hull[-1]][0] == x:  # same rate, lower (or equal) quality: dominated
            continue
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = points[hull[-2]], points[hull[-1]]
            if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) >= 0:  # hull[-1] on or below the chord
                hull.pop()
            else:
                break
        hull.append(i)
    best = max(range(len(hull)), key=lambda k: (points[hull[k]][1], -k), default=-1)
    return hull[: best + 1]


@dataclass(frozen=True)
class BdRate:
    """Bjøntegaard delta rate of ``test`` against ``anchor``: ``percent`` (negative = the test needs less
    bitrate for the same score) or ``None`` with ``reason``; ``overlap``: the quality range integrated over,
    ``overlap_share``: its share (0-1) of the narrower ladder's range."""

    percent: float | None
    overlap: tuple[float, float] | None
    overlap_share: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "overlap": list(self.overlap) if self.overlap else None,
            "overlap_share": self.overlap_share,
            "reason": self.reason,
        }


def bd_rate(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
    *,
    min_overlap: float = MIN_OVERLAP,
) -> BdRate:
    """BD-rate in percent, PCHIP form (see the module docstring).

    Each curve needs at least 2 points with distinct qualities and positive rates, quality rising with
    rate (use the :func:`upper_hull` points); otherwise, or when the quality ranges overlap over less
    than ``min_overlap`` of the narrower one, ``percent`` is ``None`` and ``reason`` says why."""
    curves = []
    for name, rates, quals in (("anchor", rate_anchor, quality_anchor), ("test", rate_test, quality_test)):
        pts = sorted(zip(quals, rates))
        if len(pts) < 2 or len({q for q, _ in pts}) < len(pts):
            return BdRate(
                None,
                None,
                0.0,
                f"the {name} curve needs at least 2 renditions (on its hull) of distinct scores",
            )
        if any(r <= 0 for _, r in pts):
            return BdRate(None, None, 0.0, f"the {name} curve has a rendition without bitrate")
        curves.append(pts)
    (qa, qt) = ([q for q, _ in c] for c in curves)
    lo, hi = max(qa[0], qt[0]), min(qa[-1], qt[-1])
    narrower = min(qa[-1] - qa[0], qt[-1] - qt[0])
    share = max(0.0, hi - lo) / narrower if narrower > 0 else 0.0
    if hi <= lo or share < min_overlap:
        return BdRate(
            None,
            (lo, hi) if hi > lo else None,
            share,
            f"the ladders' score ranges overlap over {share:.0%} of the narrower one "
            f"(at least {min_overlap:.0%} needed)",
        )
    from scipy.interpolate import PchipInterpolator

    areas = [
        PchipInterpolator([q for q, _ in c], [math.log10(r) for _, r in c]).integrate(lo, hi) for c in curves
    ]
    mean_log = (float(areas[1]) - float(areas[0])) / (hi - lo)
    return BdRate((10.0**mean_log - 1.0) * 100.0, (lo, hi), share)


def order_violations(
    items: Sequence[dict[str, Any]], delta_of: Callable[[int, int], Any], *, rate_margin: float = RATE_MARGIN
) -> list[dict[str, Any]]:
    """Pairs of renditions of one content where more bitrate scores clearly lower.

    ``items``: per rendition ``path``, ``width``, ``height``, ``bitrate_kbps``, ``score``. ``delta_of(i, j)``:
    the :class:`~vqa2cli.pipeline.paired.PairedDelta` of ``j − i`` over their aligned windows. A violation:
    same resolution, ``bitrate_j ≥ (1 + rate_margin) · bitrate_i`` and the whole interval of the window
    differences below 0 (clearly lower beyond the windows' spread; no interval, no violation)."""
    found = []
    for i, low in enumerate(items):
        for j, high in enumerate(items):
            if i == j or (low["width"], low["height"]) != (high["width"], high["height"]):
                continue
            if not (low["bitrate_kbps"] and high["bitrate_kbps"]):
                continue
            if high["bitrate_kbps"] < (1.0 + rate_margin) * low["bitrate_kbps"]:
                continue
            pair = delta_of(i, j)
            if pair is not None and pair.high is not None and pair.high < 0:
                found.append(
                    {
                        "lower_rate": low["path"],
                        "higher_rate": high["path"],
                        "bitrate_kbps": [low["bitrate_kbps"], high["bitrate_kbps"]],
                        "score": [low["score"], high["score"]],
                        "delta": pair.delta,
                        "ci95": [pair.low, pair.high],
                        "resolution": f"{low['width']}x{low['height']}",
                    }
                )
    return found
