"""The window options shared by `score` and `batch` (--segments, --pool, --segments-csv,
--fail-segment-under, --plot, --plot-dir) as typer declarations. Their validation (``segment_options``) and
what a run does with each finished window and record (tidy rows, gate, plots) is :mod:`vqa2cli.jobs.windows`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import CHOICES, shown_default
from ..jobs.score_run import score_exit_code  # noqa: F401 - re-exported for the commands
from ..jobs.windows import SegmentPlan, segment_options  # noqa: F401 - re-exported for the commands

SegmentsOpt = Annotated[
    str | None,
    typer.Option(
        "--segments",
        metavar="DURATION|auto",
        help="Score in windows of DURATION (10s, 90, 1.5m, 1m30s, 2h, 00:01:30) and pool them; auto = the card's "
        f"window (video.segment_s) {shown_default('video', 'segment_s', 'card')}; at least one key-frame step (1 s). Without it, windows are used only for clips over the model's limits (--long-clip segments).",
    ),
]
PoolOpt = Annotated[
    str | None,
    typer.Option(
        "--pool",
        metavar="|".join(CHOICES[("scoring", "pool")]),
        help=f"What `score` means for a clip scored in windows (weighted_mean: the duration-weighted mean). "
        f"{shown_default('scoring', 'pool')} "
        "A clip scored in one forward (within the model's limits, no --segments) has no windows to pool: "
        "stderr says so for each such file.",
    ),
]
SegmentsCsvOpt = Annotated[
    Path | None,
    typer.Option(
        "--segments-csv",
        metavar="FILE",
        help="Write one tidy CSV row per window (path, index, start_s, end_s, score, level, p_*), flushed per window. "
        "Implies --segments auto. An existing FILE is refused without --overwrite.",
    ),
]
FailSegmentOpt = Annotated[
    float | None,
    typer.Option(
        "--fail-segment-under",
        metavar="Y",
        help="Exit 1 when any window scores below Y (0-1); stderr names the file and time range. Implies --segments auto.",
    ),
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot",
        metavar="FILE.png|FILE.svg",
        help="Draw the score over time (level bands, pooled value, worst window and its key frames). One input "
        "file only; implies --segments auto. An existing FILE is refused without --overwrite.",
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace an existing --segments-csv or --plot file (as `vqa2 batch --overwrite`)."
    ),
]
PlotDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot-dir",
        metavar="DIR",
        help="Draw one score-over-time picture per file into DIR: NAME-<8 hex of the SHA-1 of its absolute path>.png, "
        "the same name in every run, shard and resume. Implies --segments auto. A picture already there is "
        "refused without --resume or --overwrite.",
    ),
]
DurationOpt = Annotated[
    str | None,
    typer.Option(
        "--duration",
        metavar="DURATION",
        help="Score only the first DURATION of the input (90, 2.5, 10s, 1m30s, 00:01:30), window by window as it "
        "arrives; ends a live run (- with --segments, docs/live.md) on a stream that never ends. Implies "
        "--segments auto.",
    ),
]
