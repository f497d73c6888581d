"""`vqa2 calibrate LABELS -o FILE`: fit the model's score to a team's own scale (MOS, VMAF, ...)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import REPORT_FORMATS
from .options import (
    ConfigOpt,
    DeviceOpt,
    DtypeOpt,
    MaxMotionOpt,
    ModelOpt,
    OfflineOpt,
    PolicyOpt,
    QuantOpt,
    QuietOpt,
    ReportFormatOpt,
    StrictOpt,
    VerboseOpt,
    check_format,
    scoring_settings,
    start_console,
)

EXAMPLES = """Examples:

\b
  vqa2 calibrate team_mos.csv --scale mos-1-5 -o team.vqa2cal.json          # scores the labelled videos
  vqa2 calibrate team_mos.csv --scores batch.csv --scale mos-1-5 -o team.vqa2cal.json   # reuse a batch --csv
  vqa2 calibrate vmaf.csv --scale vmaf --kind isotonic -o vmaf.json --plot vmaf.png
  vqa2 score encode.mp4 --calibration team.vqa2cal.json --fail-calibrated-under 3.5   # gate on your scale

LABELS is a path,mos CSV (or the official label JSON), as vqa2 eval reads it; mos is any number on your
scale. Without --scores the videos are scored by eval's job into --scores-csv (default: OUTPUT.scores.csv;
--resume continues it). The map (4- or 5-parameter logistic, VQEG / ITU-T P.1401, or isotonic) is chosen
by k-fold cross-validation; PLCC, SRCC, KRCC and RMSE are reported on held-out folds before and after, with
bootstrap 95 % intervals. The file is refused for scores made with another model or settings. Too few or
constant labels, bad rows, a --scale whose stated range (mos-1-5) the labels leave, no usable fit (every
map must be non-decreasing, not flat, not a step) or a map worse held out than a straight line, and other
settings are usage errors. See docs/calibration.md."""


def calibrate_command(
    labels: Annotated[
        Path,
        typer.Argument(
            metavar="LABELS", help="path,mos CSV (or the official label JSON).", show_default=False
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="The calibration file to write.")
    ],
    scale: Annotated[
        str, typer.Option("--scale", metavar="NAME", help="Your label scale's name (mos-1-5, vmaf, ...).")
    ] = "mos",
    scores: Annotated[
        Path | None,
        typer.Option(
            "--scores",
            metavar="CSV",
            help="Use an existing batch --csv / eval --scores-csv instead of scoring.",
        ),
    ] = None,
    scores_csv: Annotated[
        Path | None,
        typer.Option(
            "--scores-csv",
            metavar="FILE",
            help="Where the scores go when scoring. [default: the output's name + .scores.csv]",
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted --scores-csv.")] = False,
    kind: Annotated[
        str,
        typer.Option(
            "--kind", metavar="auto|logistic4|logistic5|isotonic", help="The map; auto: lowest held-out RMSE."
        ),
    ] = "auto",
    folds: Annotated[int, typer.Option("--folds", metavar="K", help="Cross-validation folds.")] = 5,
    n_boot: Annotated[
        int, typer.Option("--bootstrap", metavar="N", help="Bootstrap resamples for the 95 % intervals.")
    ] = 1000,
    seed: Annotated[
        int, typer.Option("--seed", metavar="N", help="Seed of the folds and the bootstrap.")
    ] = 0,
    plot: Annotated[
        Path | None, typer.Option("--plot", metavar="PNG", help="Scatter, curve and band picture.")
    ] = None,
    media_root: Annotated[
        Path | None,
        typer.Option(
            "--media-root",
            metavar="DIR",
            help="Folder the label paths are relative to. [default: the labels file's folder]",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing OUTPUT.")] = False,
    fmt: ReportFormatOpt = "table",
    model: ModelOpt = None,
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    strict: StrictOpt = None,
    workers: Annotated[
        int, typer.Option("--workers", metavar="N", help="Decode threads ahead of the model.")
    ] = 2,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Fit the score to your own scale from labelled videos; write a calibration file."""
    from ..calibration import calibrate
    from ..calibration.data import pair, read_label_records, read_scores
    from ..calibration.file import check_scale, write
    from ..calibration.fit import KINDS
    from ..errors import UsageError

    console = start_console(quiet, verbose)
    check_format(fmt, REPORT_FORMATS)
    if kind not in ("auto", *KINDS):
        raise UsageError(f"--kind must be auto or one of {', '.join(KINDS)}, got {kind!r}")
    if output.exists() and not overwrite:
        raise UsageError(f"{output} already exists", "add --overwrite to replace it")
    records = read_label_records(labels, media_root)
    check_scale(scale, [r.mos for r in records])  # before any video is scored
    flags = dict(
        model=model,
        config=config,
        device=device,
        dtype=dtype,
        quant=quant,
        max_motion_frames=max_motion_frames,
        long_clip=long_clip,
        strict=strict,
    )
    if scores is not None:
        table, recorded, precision = read_scores(scores)
        if any(v is not None for v in flags.values()):  # the scores must be what these flags would make
            from ..calibration.file import differences, settings_key

            settings, _ = scoring_settings("calibrate", prompt=None, **flags)
            if changed := differences(settings_key(settings.to_dict()), recorded):
                raise UsageError(
                    f"{scores}: scored with other settings than the flags given ({', '.join(changed)})",
                    "give the flags the scores were made with, or leave them out",
                )
        source = str(scores)
    else:
        precision = None  # eval's rows do not record the loaded precision
        recorded, table, source = _score(
            records,
            labels,
            flags,
            scores_csv or Path(f"{output}.scores.csv"),
            resume,
            workers,
            offline,
            console,
        )
    x, y = pair(records, table, source)
    cal = calibrate(
        x,
        y,
        config=recorded,
        scale=scale,
        kind=kind,
        folds=folds,
        seed=seed,
        n_boot=n_boot,
        precision=precision,
    )
    write(cal, str(output))
    console.info(f"calibration ({cal.kind}, n={cal.n}) written to {output}")
    if plot is not None:
        from ..output.calibration_plot import plot_calibration

        plot_calibration(cal, x, y, str(plot))
        console.info(f"picture written to {plot}")
    _report(cal, fmt)


def _score(records, labels, flags, scores_csv: Path, resume, workers, offline, console):
    """Score the labelled videos with eval's job into ``scores_csv``; (config, path → score, source)."""
    from ..calibration.data import read_scores
    from ..jobs.evaluate import check_enough_videos, run_eval

    settings, ref = scoring_settings("calibrate", prompt=None, **flags)
    check_enough_videos(records)
    run_eval(
        records,
        settings,
        ref,
        console,
        labels=str(labels),
        scores_csv=scores_csv,
        resume=resume,
        workers=workers,
        stalling_style="sequence",
        offline=offline,
    )
    table, _, _ = read_scores(scores_csv)
    return settings.to_dict(), table, str(scores_csv)


def _report(cal, fmt: str) -> None:
    """The calibration on stdout through the writer registry (table: held-out metrics; json: the file)."""
    from ..output.render import make_writer
    from ..records.calibration import CalibrationRecord

    writer = make_writer(fmt, sys.stdout, "calibration")
    writer.write(CalibrationRecord(cal.to_json()))
    writer.close()


def register(app: typer.Typer) -> None:
    app.command("calibrate", epilog=EXAMPLES)(calibrate_command)
