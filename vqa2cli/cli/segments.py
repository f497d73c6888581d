"""The window options shared by `score` and `batch` (--segments, --pool, --segments-csv,
--fail-segment-under, --plot, --plot-dir): parsing, validation and the exit code of `score`. What a job does
with each finished window and record (tidy rows, gate, plots) is :mod:`vqa2cli.jobs.windows`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import CHOICES, Settings, shown_default
from ..errors import ExitCode, UsageError
from ..jobs.rowfiles import check_output_path
from ..jobs.windows import SegmentOutputs, SegmentPlan

SegmentsOpt = Annotated[Optional[str], typer.Option(
    "--segments", metavar="DURATION|auto",
    help="Score in windows of DURATION (10s, 90, 1.5m, 1m30s, 2h, 00:01:30) and pool them; auto = the card's "
         f"window (video.segment_s) {shown_default('video', 'segment_s', 'card')}; at least one key-frame step (1 s). Without it, windows are used only for clips over the model's limits (--long-clip segments).")]
PoolOpt = Annotated[Optional[str], typer.Option(
    "--pool", metavar="|".join(CHOICES[("scoring", "pool")]),
    help=f"What `score` means for a clip scored in windows (weighted_mean: the duration-weighted mean). "
         f"{shown_default('scoring', 'pool')} "
         "A clip scored in one forward (within the model's limits, no --segments) has no windows to pool: "
         "stderr says so for each such file.")]
SegmentsCsvOpt = Annotated[Optional[Path], typer.Option(
    "--segments-csv", metavar="FILE",
    help="Write one tidy CSV row per window (path, index, start_s, end_s, score, level, p_*), flushed per window. "
         "Implies --segments auto. An existing FILE is refused without --overwrite.")]
FailSegmentOpt = Annotated[Optional[float], typer.Option(
    "--fail-segment-under", metavar="Y",
    help="Exit 1 when any window scores below Y (0-1); stderr names the file and time range. Implies --segments auto.")]
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", metavar="FILE.png|FILE.svg",
    help="Draw the score over time (level bands, pooled value, worst window and its key frames). One input "
         "file only; implies --segments auto. An existing FILE is refused without --overwrite.")]
OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Replace an existing --segments-csv or --plot file (as `vqa2 batch --overwrite`).")]
PlotDirOpt = Annotated[Optional[Path], typer.Option(
    "--plot-dir", metavar="DIR",
    help="Draw one score-over-time picture per file into DIR: NAME-<8 hex of the SHA-1 of its absolute path>.png, "
         "the same name in every run, shard and resume. Implies --segments auto. A picture already there is "
         "refused without --resume or --overwrite.")]

PLOT_SUFFIXES = (".png", ".svg")


def segment_options(settings: Settings, *, segments: str | None, pool: str | None, segments_csv=None,
                    fail_segment_under: float | None = None, plot=None, plot_dir=None,
                    n_files: int | None = None, overwrite: bool | None = None) -> tuple[Settings, SegmentPlan]:
    """Validate the options (UsageError, exit 2) and fold ``--pool`` into the settings (flags win).

    ``overwrite`` (``score``; None for ``batch``, which checks its outputs with its --resume): an existing
    --segments-csv or --plot file is a UsageError without it, the rule of ``batch``'s outputs."""
    from ..video.segments import window_seconds

    if pool is not None:
        settings = settings.replace(scoring={"pool": pool})
    if fail_segment_under is not None and not 0.0 <= fail_segment_under <= 1.0:
        raise UsageError(f"--fail-segment-under must be between 0 and 1, got {fail_segment_under}",
                         "scores are on the 0-1 scale")
    if plot is not None:
        if Path(plot).suffix.lower() not in PLOT_SUFFIXES:
            raise UsageError(f"--plot {plot}: unknown picture type", "name a .png or .svg file")
        if n_files is not None and n_files != 1:
            raise UsageError("--plot draws one file's timeline", "score one file, or use `vqa2 batch --plot-dir DIR`")
    if plot_dir is not None and Path(plot_dir).exists() and not Path(plot_dir).is_dir():  # missing: created
        raise UsageError(f"--plot-dir {plot_dir}: not a folder", "name a folder (it is created when missing)")
    for output in (segments_csv, plot):  # exit 5 before the weights load, as every output
        if output is not None:
            check_output_path(str(output))
    if overwrite is not None:
        from ..jobs.resume import refuse_existing

        refuse_existing([str(o) for o in (segments_csv, plot) if o is not None], overwrite=overwrite)
    window = window_seconds(segments, settings.video) if segments is not None else None
    implied = any(v is not None for v in (segments_csv, fail_segment_under, plot, plot_dir))
    if window is None and (segments is not None or implied):
        window = window_seconds(None, settings.video)
    elif settings.video.long_clip_policy == "segments":  # the card's window, used past the limits
        window_seconds(None, settings.video)
    return settings, SegmentPlan(window, str(segments_csv) if segments_csv else None, fail_segment_under,
                                 str(plot) if plot else None, str(plot_dir) if plot_dir else None, pool)


def score_exit_code(console, n_files: int, failed: int, below: int, fail_under: float | None,
                    outputs: SegmentOutputs, fail_segment_under: float | None) -> ExitCode:
    """The exit code of ``score`` (in-process or ``--server``): 3 when an input failed, else 1 when a file
    scored below ``--fail-under`` or has a window below ``--fail-segment-under`` (each said on stderr), else 0."""
    if failed:
        return ExitCode.INPUT
    if below:
        console.error(f"{below} of {n_files} file(s) scored below --fail-under {fail_under}")
    if outputs.failed_files:
        console.error(f"{outputs.failed_files} of {n_files} file(s) have a window below "
                      f"--fail-segment-under {fail_segment_under}")
    if below or outputs.failed_files:
        return ExitCode.GATE_FAILED
    return ExitCode.OK
