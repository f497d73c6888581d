"""MOS → the five quality levels the VQA² scorers are trained to answer (paper: 20-point bins).

The MOS is normalised to 0–100 with the dataset's min/max (or a given range), then binned:
[80, 100] high, [60, 80) good, [40, 60) fair, [20, 40) poor, [0, 20) low. The top of the scale
belongs to "high" (the official label files' ``level = floor(5·norm) + 1`` gives 6 only there, spec §7).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import DataError

LEVELS_HIGH_TO_LOW: tuple[str, ...] = ("high", "good", "fair", "poor", "low")
ANSWER_TEMPLATE = "The quality of the video is {level}."


def resolve_mos_range(mos: Sequence[float], given: tuple[float, float] | None) -> tuple[float, float]:
    """The (low, high) used for normalisation: ``given`` (checked), else the data's min and max."""
    if given is not None:
        low, high = float(given[0]), float(given[1])
        if not high > low:
            raise DataError(f"--mos-range {low:g} {high:g}: the upper end must be above the lower end")
        outside = [v for v in mos if v < low or v > high]
        if outside:
            raise DataError(
                f"{len(outside)} MOS values lie outside --mos-range {low:g}..{high:g} (e.g. {outside[0]:g})",
                "widen --mos-range or leave it out to use min/max",
            )
        return low, high
    if not mos:
        raise DataError("no MOS values to normalise")
    low, high = float(min(mos)), float(max(mos))
    if high == low:
        raise DataError(
            f"every MOS equals {low:g}: levels need a spread of quality",
            "pass --mos-range LOW HIGH with the scale of your labels",
        )
    return low, high


def normalise(mos: float, low: float, high: float) -> float:
    """MOS on 0–100."""
    return (float(mos) - low) / (high - low) * 100.0


def level_for(mos: float, low: float, high: float) -> str:
    """The level word for one MOS (``high`` … ``low``)."""
    norm = normalise(mos, low, high)
    if norm < 0.0 or norm > 100.0:
        raise DataError(f"MOS {mos:g} lies outside {low:g}..{high:g}")
    bin_from_bottom = min(int(norm // 20.0), 4)  # 0 = low … 4 = high; 100 falls in "high"
    return LEVELS_HIGH_TO_LOW[4 - bin_from_bottom]


def answer_for(mos: float, low: float, high: float) -> str:
    """The stage-2 training answer, e.g. ``The quality of the video is good.``"""
    return ANSWER_TEMPLATE.format(level=level_for(mos, low, high))
