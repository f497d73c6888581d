"""The options of a calibration and of the gates on it and on the spread (score, batch, eval), and the one
place that turns them into :class:`~vqa2cli.calibration.apply.RecordGates`. See docs/calibration.md."""

from __future__ import annotations

from typing import Annotated

import typer

CalibrationOpt = Annotated[
    str | None,
    typer.Option(
        "--calibration",
        metavar="FILE",
        help="A `vqa2 calibrate` file: records gain the score on your scale (calibrated.value/scale/extrapolated); "
        "refused for scores made with another model or settings.",
    ),
]
FailCalibratedOpt = Annotated[
    float | None,
    typer.Option(
        "--fail-calibrated-under",
        metavar="Y",
        help="Exit 1 when a calibrated value is below Y, on the calibration's scale (--fail-under stays on 0-1).",
    ),
]
FailUncertainOpt = Annotated[
    float | None,
    typer.Option(
        "--fail-uncertain-over",
        metavar="S",
        help="Exit 1 when a score's spread (spread.std, 0-0.5) is over S: the result needs a person.",
    ),
]


def record_gates(
    calibration: str | None, fail_calibrated_under: float | None, fail_uncertain_over: float | None
):
    """The gates of these options (loading the calibration file: UsageError for a bad one)."""
    from ..calibration.apply import RecordGates

    return RecordGates(
        calibration, fail_calibrated_under=fail_calibrated_under, fail_uncertain_over=fail_uncertain_over
    )
