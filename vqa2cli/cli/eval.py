"""`vqa2 eval LABELS --model M`: SRCC / PLCC / KRCC of a model on a labelled set (the paper's tables)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import REPORT_FORMATS
from ..jobs.prefetch import DEFAULT_WORKERS_SHOWN, default_workers
from ..video.decode_pool import DEFAULT_DECODE_PROCESSES
from .calibration_opts import CalibrationOpt, record_gates
from .decode_opts import DecodeProcessesOpt
from .options import (
    ConfigOpt,
    DeviceOpt,
    DtypeOpt,
    MaxMotionOpt,
    ModelOpt,
    OfflineOpt,
    PolicyOpt,
    QuantCacheOpt,
    QuantOpt,
    QuietOpt,
    ReportFormatOpt,
    ScoringPromptOpt,
    StallingStyleOpt,
    StrictOpt,
    VerboseOpt,
    check_format,
    require_stalling_prompt,
    scoring_settings,
    start_console,
)

EXAMPLES = """Examples:

\b
  vqa2 eval konvid1k.json --model ugc-scorer --media-root /data/KoNViD_1k_videos
  vqa2 eval konvid1k.json --model ugc-scorer-paper   # as the paper evaluated: every 8th frame to SlowFast
  vqa2 eval labels.csv --model ./out --scores-csv scores.csv            # path,mos CSV
  vqa2 eval labels.csv --model ./out --scores-csv scores.csv --resume   # continue a run
  vqa2 eval lsvq_test.json --format json > metrics.json
  vqa2 eval waterloo.csv --model streaming-scorer --stalling-style stats   # path,mos,stalling CSV
  vqa2 eval heldout.csv --calibration team.json   # also PLCC/SRCC/KRCC/RMSE on your scale

Labels: the official label JSON (img_path or video_path, mos or gt_score) or a CSV with path,mos
columns, and for the streaming scorer an optional stalling column/key (none, or one 0/1 per frame, as
score --stalling); relative paths start from --media-root (default: the label file's folder). SRCC and PLCC are
computed as the official scripts do (on the raw scores, no fitting); plcc_logistic is PLCC after the
customary 4-parameter logistic fit; krcc is Kendall's tau-b. Videos that fail
(exit 3) are left out of the metrics and listed in the scores CSV."""


def eval_command(
    labels: Annotated[
        Path,
        typer.Argument(
            metavar="LABELS", help="Label file: official .json or path,mos .csv.", show_default=False
        ),
    ],
    model: ModelOpt = None,
    config: ConfigOpt = None,
    media_root: Annotated[
        Path | None,
        typer.Option(
            "--media-root",
            metavar="DIR",
            help="Folder the label paths are relative to. [default: the label file's folder]",
        ),
    ] = None,
    scores_csv: Annotated[
        Path | None,
        typer.Option(
            "--scores-csv",
            metavar="FILE",
            help="Write per-video scores here (appended and fsync'd per video; needed for --resume).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Reuse the ok rows of an existing --scores-csv whose video kept its path, size and mtime; "
            "score the rest, appending (earlier rows are never rewritten).",
        ),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            help="Threads decoding the next videos while the model runs (0 = none). "
            f"[default: {DEFAULT_WORKERS_SHOWN}]",
        ),
    ] = None,
    decode_processes: DecodeProcessesOpt = DEFAULT_DECODE_PROCESSES,
    fmt: ReportFormatOpt = "table",
    prompt: ScoringPromptOpt = None,
    stalling_style: StallingStyleOpt = "sequence",
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    quant_cache: QuantCacheOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    strict: StrictOpt = None,
    calibration: CalibrationOpt = None,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Evaluate a scorer on labelled videos: SRCC, PLCC, PLCC after a logistic fit, KRCC."""
    from ..errors import ExitCode
    from ..jobs.evaluate import check_enough_videos, run_eval
    from ..jobs.feeding import check_counts
    from ..training.datasets import read_labels

    console = start_console(quiet, verbose)
    check_format(fmt, REPORT_FORMATS)
    records = read_labels(labels, media_root)  # data errors surface before any weights load
    settings, ref = scoring_settings(
        "eval",
        model,
        config,
        prompt=prompt,
        device=device,
        dtype=dtype,
        quant=quant,
        max_motion_frames=max_motion_frames,
        long_clip=long_clip,
        strict=strict,
        quant_cache=quant_cache,
    )
    check_enough_videos(records)
    cal = record_gates(calibration, None, None)
    cal.check_config(settings.to_dict())  # a calibration for other settings: refused before loading
    if any(r.stalling is not None for r in records):
        require_stalling_prompt(settings, f"{labels}: the stalling labels", stalling_style)
    from ..pipeline import interrupts

    check_counts(workers, decode_processes)  # jobs/feeding.py: exit 2 for a negative count
    interrupts.expect(
        len(records),
        f"finished rows are in {scores_csv}; run the same command with --resume to continue"
        if scores_csv is not None
        else "no metrics printed (--scores-csv FILE keeps per-video scores for --resume)",
    )
    result = run_eval(
        records,
        settings,
        ref,
        console,
        labels=str(labels),
        scores_csv=scores_csv,
        resume=resume,
        workers=default_workers() if workers is None else workers,
        stalling_style=stalling_style,
        offline=offline,
        calibration=cal.calibration,
        decode_processes=decode_processes,
    )
    for note in result.metrics.notes:
        console.warning(note)
    from ..output.render import make_writer

    writer = make_writer(fmt, sys.stdout, "eval")
    writer.write(result)
    writer.close()
    raise typer.Exit(int(ExitCode.INPUT if result.n_failed else ExitCode.OK))


def register(app: typer.Typer) -> None:
    app.command("eval", epilog=EXAMPLES)(eval_command)
