"""`vqa2 eval LABELS --model M`: SRCC / PLCC / KRCC of a model on a labelled set (the paper's tables)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import REPORT_FORMATS
from .options import (ConfigOpt, DeviceOpt, DtypeOpt, MaxMotionOpt, ModelOpt, OfflineOpt, PolicyOpt, StrictOpt, QuantOpt, QuantCacheOpt,
                      QuietOpt, ReportFormatOpt, ScoringPromptOpt, StallingStyleOpt, VerboseOpt, check_format,
                      model_label, require_stalling_prompt, scoring_settings, start_console)

EXAMPLES = """Examples:

\b
  vqa2 eval konvid1k.json --model ugc-scorer --media-root /data/KoNViD_1k_videos
  vqa2 eval konvid1k.json --model ugc-scorer-paper   # as the paper evaluated: every 8th frame to SlowFast
  vqa2 eval labels.csv --model ./out --scores-csv scores.csv            # path,mos CSV
  vqa2 eval labels.csv --model ./out --scores-csv scores.csv --resume   # continue a run
  vqa2 eval lsvq_test.json --format json > metrics.json
  vqa2 eval waterloo.csv --model streaming-scorer --stalling-style stats   # path,mos,stalling CSV

Labels: the official label JSON (img_path or video_path, mos or gt_score) or a CSV with path,mos
columns, and for the streaming scorer an optional stalling column/key (none, or one 0/1 per frame, as
score --stalling); relative paths start from --media-root (default: the label file's folder). SRCC and PLCC are
computed as the official scripts do (on the raw scores, no fitting); plcc_logistic is PLCC after the
customary 4-parameter logistic fit; krcc is Kendall's tau-b. Exit codes: 0 ok, 2 usage or data error
(or --scores-csv locked by another run), 3 some videos failed (left out of the metrics, listed in the scores
CSV), 4 model error, 5 an output could not be written."""


def _render_table(result) -> str:
    m = result.metrics
    logistic = "n/a" if m.plcc_logistic is None else f"{m.plcc_logistic:.4f}"
    lines = [f"labels         {result.labels}", f"model          {result.model}",
             f"SRCC           {m.srcc:.4f}", f"PLCC           {m.plcc:.4f}",
             f"PLCC-logistic  {logistic}", f"KRCC           {m.krcc:.4f}",
             f"n              {m.n}" + (f" ({result.n_failed} failed)" if result.n_failed else "")]
    return "\n".join(lines) + "\n"


def eval_command(
    labels: Annotated[Path, typer.Argument(metavar="LABELS", help="Label file: official .json or path,mos .csv.",
                                           show_default=False)],
    model: ModelOpt = None,
    config: ConfigOpt = None,
    media_root: Annotated[Optional[Path], typer.Option(
        "--media-root", metavar="DIR", help="Folder the label paths are relative to. [default: the label file's folder]")] = None,
    scores_csv: Annotated[Optional[Path], typer.Option(
        "--scores-csv", metavar="FILE",
        help="Write per-video scores here (appended and fsync'd per video; needed for --resume).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Reuse the ok rows of an existing --scores-csv whose video kept its path, size and mtime; "
                         "score the rest, appending (earlier rows are never rewritten).")] = False,
    workers: Annotated[int, typer.Option(
        "--workers", metavar="N", help="Threads decoding the next videos while the model runs (0 = none).")] = 2,
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
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Evaluate a scorer on labelled videos: SRCC, PLCC, PLCC after a logistic fit, KRCC."""
    from ..errors import ExitCode
    from ..pipeline.run import Scorer
    from ..training.datasets import read_labels
    from ..training.evaluate import check_enough_videos, evaluate

    console = start_console(quiet, verbose)
    check_format(fmt, REPORT_FORMATS)
    records = read_labels(labels, media_root)  # data errors surface before any weights load
    settings, ref = scoring_settings("eval", model, config, prompt=prompt, device=device, dtype=dtype, quant=quant,
                                     max_motion_frames=max_motion_frames, long_clip=long_clip,
                                     strict=strict, quant_cache=quant_cache)
    check_enough_videos(records)
    if any(r.stalling is not None for r in records):
        require_stalling_prompt(settings, f"{labels}: the stalling labels", stalling_style)
    from ..pipeline.lock import locked_outputs

    with locked_outputs([str(scores_csv)] if scores_csv is not None else [], console.warning):
        if scores_csv is not None:  # the per-video CSV records its settings; --resume must not mix others in
            _record_settings(scores_csv, settings, resume, stalling_style)
        console.info(f"Loading {model_label(settings)} to score {len(records)} videos ...")
        scorer = Scorer.load(settings, ref, offline=offline)
        console.info(scorer.memory_note)
        with console.progress(len(records), "Scoring") as advance:
            result = evaluate(records, scorer, labels=str(labels), model=settings.model.name,
                              scores_csv=scores_csv, resume=resume, workers=workers, stalling_style=stalling_style,
                              on_error=console.error, advance=advance)
    for note in result.metrics.notes:
        console.warning(note)
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(_render_table(result))
    raise typer.Exit(int(ExitCode.INPUT if result.n_failed else ExitCode.OK))


def _record_settings(scores_csv: Path, settings, resume: bool, stalling_style: str) -> None:
    from ..errors import OutputError
    from ..pipeline.provenance import check_or_write, sidecar_path

    try:
        check_or_write(str(scores_csv), settings, resume=resume, run={"stalling_style": stalling_style})
    except OSError as exc:
        raise OutputError(sidecar_path(str(scores_csv)), exc) from None


def register(app: typer.Typer) -> None:
    app.command("eval", epilog=EXAMPLES)(eval_command)
