"""`vqa2 score FILE...`: one quality score per video, for people (table) and machines (json/jsonl/csv)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ExitCode, InputError, UsageError
from .options import (ConfigOpt, DeviceOpt, DtypeOpt, FailUnderOpt, FormatOpt, MaxMotionOpt, ModelOpt, OfflineOpt,
                      PolicyOpt, StrictOpt, QuantOpt, QuietOpt, StallingStyleOpt, VerboseOpt, check_format, model_label,
                      require_stalling_prompt, scoring_settings, start_console)

EXAMPLES = """Examples:

  vqa2 score clip.mp4

  vqa2 score a.mp4 b.mkv --format json > scores.json

  vqa2 score encode.mp4 --fail-under 0.6 --format jsonl   # CI gate: exit 1 below 0.6

  vqa2 score encode.mp4 --strict --fail-under 0.6   # damaged or truncated: exit 3, not a score

  vqa2 score stream.mp4 --model streaming-scorer --stalling 000011110000

  vqa2 score clip.mp4 --model ugc-scorer-paper   # the paper's UGC evaluation: every 8th frame to SlowFast

  vqa2 score clip.mp4 --model ./my-finetune --dtype bf16 --quant 4bit

Scores are the paper's 0-1 scale (weights 1, .75, .5, .25, 0 over high/good/fair/poor/low); the official
scripts print 0.2 + 0.8 x score, reported as official_score. Exit codes: 0 ok, 1 a score is below
--fail-under, 2 usage error, 3 some inputs unreadable, or damaged under --strict (takes precedence over 1),
4 model error, 130 Ctrl-C."""


def score(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Video files to score.", show_default=False)],
    model: ModelOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = "table",
    fail_under: FailUnderOpt = None,
    stalling: Annotated[Optional[str], typer.Option(
        "--stalling", metavar="none|0101...|@FILE",
        help="Streaming scorer: stalling per frame as a 0/1 string (or @FILE), or 'none' for smooth playback.")] = None,
    stalling_style: StallingStyleOpt = "sequence",
    prompt: Annotated[Optional[str], typer.Option(
        "--prompt", metavar="STYLE",
        help="Prompt style: ugc_init, ugc_head, streaming, streaming_official_eval. [card]")] = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    strict: StrictOpt = None,
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score the perceptual quality of videos (0 = worst, 1 = best)."""
    from ..pipeline.prompts import parse_stalling

    console = start_console(quiet, verbose)
    check_format(fmt)
    if fail_under is not None and not 0.0 <= fail_under <= 1.0:
        raise UsageError(f"--fail-under must be between 0 and 1, got {fail_under}", "scores are on the 0-1 scale")
    settings, ref = scoring_settings("score", model, config, prompt=prompt, device=device, dtype=dtype, quant=quant,
                                     max_motion_frames=max_motion_frames, long_clip=long_clip,
                                     strict=strict)
    stall = parse_stalling(stalling, stalling_style)
    if stall is not None:
        require_stalling_prompt(settings, "--stalling", stalling_style)
    code = run_scoring([str(f) for f in files], settings, ref, fmt, fail_under, stall, offline, console)
    raise typer.Exit(int(code))


def run_scoring(paths, settings, ref, fmt, fail_under, stalling, offline, console) -> ExitCode:
    from ..output.render import make_writer
    from ..pipeline.run import Scorer, error_record, preflight

    early = {e.path: e for e in preflight(paths)}
    writer = make_writer(fmt, sys.stdout, "score")
    failed, below = 0, 0
    try:
        scorer = None
        if len(early) < len(paths):  # inputs are checked before weights load
            console.info(f"Loading {model_label(settings)} ...")
            scorer = Scorer.load(settings, ref, offline=offline)
        for path in paths:
            try:
                if path in early:
                    raise early[path]
                record = scorer.score(path, stalling=stalling)
            except InputError as exc:
                console.error(exc.one_line())
                writer.write(error_record(path, exc, settings))
                failed += 1
                continue
            for warning in record.warnings:
                console.warning(f"{path}: {warning}")
            writer.write(record)
            if fail_under is not None and record.score < fail_under:
                below += 1
    finally:
        writer.close()
    if failed:
        return ExitCode.INPUT
    if below:
        console.error(f"{below} of {len(paths)} file(s) scored below --fail-under {fail_under}")
        return ExitCode.GATE_FAILED
    return ExitCode.OK


def register(app: typer.Typer) -> None:
    app.command("score", epilog=EXAMPLES)(score)
