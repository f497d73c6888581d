"""`vqa2 score FILE...`: one quality score per video, for people (table) and machines (json/jsonl/csv)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..errors import ExitCode, UsageError
from .options import (ConfigOpt, DeviceOpt, DtypeOpt, FailUnderOpt, FormatOpt, MaxMotionOpt, ModelOpt, OfflineOpt,
                      PolicyOpt, StrictOpt, QuantOpt, QuantCacheOpt, refuse_with_server, QuietOpt, ScoringPromptOpt, ServerOpt, ServerPathsOpt, StallingStyleOpt,
                      VerboseOpt, check_format, model_label, require_stalling_prompt, scoring_settings,
                      start_console)
from .segments import FailSegmentOpt, OverwriteOpt, PlotOpt, PoolOpt, SegmentsCsvOpt, SegmentsOpt

EXAMPLES = """Examples:

  vqa2 score clip.mp4

  vqa2 score a.mp4 b.mkv --format json > scores.json

  vqa2 score encode.mp4 --fail-under 0.6 --format jsonl   # CI gate: exit 1 below 0.6

  vqa2 score encode.mp4 --strict --fail-under 0.6   # damaged or truncated: exit 3, not a score

  vqa2 score stream.mp4 --model streaming-scorer --stalling 000011110000

  vqa2 score clip.mp4 --model ugc-scorer-paper   # the paper's UGC evaluation: every 8th frame to SlowFast

  vqa2 score clip.mp4 --model ./my-finetune --dtype bf16 --quant 4bit

  vqa2 score episode.mkv --segments 10s --plot episode.png --segments-csv windows.csv --overwrite

  vqa2 score film.mp4 --pool p5 --fail-under 0.5 --fail-segment-under 0.3   # gate the worst part too

  vqa2 score encode.mp4 --fail-under 0.6 --server http://127.0.0.1:8000   # a warm `vqa2 serve`

  ffmpeg -i in.mp4 -c:v libx264 -f matroska - | vqa2 score - --format json   # a pipe (VQA2_STDIN_MAX_GB cap)

Scores are the paper's 0-1 scale (weights 1, .75, .5, .25, 0 over high/good/fair/poor/low); the official
scripts print 0.2 + 0.8 x score, reported as official_score.

One process for many files is the fast path: importing torch/transformers and loading the weights happen once
per process, so score many files in one command (or use vqa2 batch), not one process per file. -v prints
each file's stage timings (import, load, decode, pixels, vision, motion, prefill) on stderr."""


def score(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Video files to score; - reads one from stdin (a pipe).", show_default=False)],
    model: ModelOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = "table",
    fail_under: FailUnderOpt = None,
    stalling: Annotated[Optional[str], typer.Option(
        "--stalling", metavar="none|0101...|@FILE",
        help="Streaming scorer: stalling per frame as a 0/1 string (or @FILE), or 'none' for smooth playback.")] = None,
    stalling_style: StallingStyleOpt = "sequence",
    prompt: ScoringPromptOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    quant_cache: QuantCacheOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    segments: SegmentsOpt = None,
    pool: PoolOpt = None,
    segments_csv: SegmentsCsvOpt = None,
    fail_segment_under: FailSegmentOpt = None,
    plot: PlotOpt = None,
    overwrite: OverwriteOpt = False,
    strict: StrictOpt = None,
    offline: OfflineOpt = False,
    server: ServerOpt = None,
    server_paths: ServerPathsOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score the perceptual quality of videos (0 = worst, 1 = best)."""
    from ..pipeline.prompts import parse_stalling
    from .segments import segment_options

    console = start_console(quiet, verbose)
    check_format(fmt)
    if fail_under is not None and not 0.0 <= fail_under <= 1.0:
        raise UsageError(f"--fail-under must be between 0 and 1, got {fail_under}", "scores are on the 0-1 scale")
    from ..serve.client import server_urls

    if urls := server_urls(server):
        from ..serve.remote import collect_options, run_remote_scoring, segment_request

        refuse_with_server(quant_cache)
        if "-" in [str(f) for f in files]:  # issue 26: stdin is read by the local run only (cli/stdin_input.py)
            raise UsageError("- (stdin) cannot be sent with --server yet",
                             "write the pipe to a file and score the file, or score - without --server")

        options = collect_options(config=config, model=model, prompt=prompt, device=device, dtype=dtype, quant=quant,
                                  max_motion_frames=max_motion_frames, long_clip=long_clip, strict=strict,
                                  stalling=stalling,
                                  stalling_style=stalling_style if stalling is not None else None)
        flags = {"segments_csv": segments_csv, "fail_segment_under": fail_segment_under, "plot": plot}
        implied = any(v is not None for v in flags.values())
        flags["overwrite"] = overwrite
        segment_request(options, segments=segments, pool=pool, implied=implied)
        files_ = [str(f) for f in files]
        raise typer.Exit(int(run_remote_scoring(files_, urls, options, fmt, fail_under, server_paths, console,
                                                window_flags=flags)))
    settings, ref = scoring_settings("score", model, config, prompt=prompt, device=device, dtype=dtype, quant=quant,
                                     max_motion_frames=max_motion_frames, long_clip=long_clip,
                                     strict=strict, quant_cache=quant_cache)
    settings, windows = segment_options(settings, segments=segments, pool=pool, segments_csv=segments_csv,
                                        fail_segment_under=fail_segment_under, plot=plot, n_files=len(files),
                                        overwrite=overwrite)
    stall = parse_stalling(stalling, stalling_style)
    if stall is not None:
        require_stalling_prompt(settings, "--stalling", stalling_style)
        if windows.window_s is not None:
            raise UsageError("--stalling describes the whole clip and cannot be split into windows",
                             "leave out --segments (and the options that imply it)")
    from .stdin_input import stdin_as_file

    with stdin_as_file([str(f) for f in files]) as (paths, names):  # `-`: stdin copied to a temporary file
        code = run_scoring(paths, settings, ref, fmt, fail_under, stall, offline, console, windows=windows,
                           names=names)
    raise typer.Exit(int(code))


def run_scoring(paths, settings, ref, fmt, fail_under, stalling, offline, console, windows=None,
                names=None) -> ExitCode:
    """Score ``paths`` with the API's scorer (``score_files``; windowed past the limits or with
    ``--segments``) and print each record as it comes. Inputs are checked before the weights load: when
    none is readable, no model is loaded at all."""
    from ..jobs.windows import SegmentOutputs, SegmentPlan, load_scorer
    from ..output.render import make_writer
    from ..pipeline.run import CheckedInputs, error_record
    from ..pipeline.stages import format_timing
    from ..pipeline import interrupts as interrupt
    from .segments import score_exit_code

    interrupt.expect(len(paths), "the results printed so far are complete")
    windows = windows or SegmentPlan()
    segment_out = SegmentOutputs(windows, settings, console)
    writer = make_writer(fmt, sys.stdout, "score")
    failed, below, scorer = 0, 0, None
    try:
        checked = CheckedInputs.check(paths)  # the preflight, once: score_files reuses it
        if len(checked.errors) == len(set(paths)):
            records = (error_record(path, checked.errors[path], settings) for path in paths)
        else:
            console.info(f"Loading {model_label(settings)} ...")
            scorer = load_scorer(settings, ref, windows, segment_out, offline=offline, clips=checked.shapes())
            for line in scorer.memory_lines:
                console.info(line)
            records = scorer.score_files(paths, stalling=stalling, checked=checked)
        from .stdin_input import as_given

        records = as_given(records, names or {})  # `-` (stdin), not its temporary copy
        for record in records:
            if not record.ok:
                console.error(record.error)
                failed += 1
            for warning in record.warnings:
                console.warning(f"{record.path}: {warning}")
            console.debug(f"{record.path}: {format_timing(record.timing)}")
            with interrupt.deferred():  # printed and counted together: Ctrl-C waits for both
                writer.write(record)
                interrupt.advance()
            if record.ok and fail_under is not None and record.score < fail_under:
                below += 1
            segment_out.after(record, getattr(scorer, "last_thumbnails", ()))
    finally:
        writer.close()
        segment_out.close()
    return score_exit_code(console, len(paths), failed, below, fail_under, segment_out, windows.fail_segment_under)


def register(app: typer.Typer) -> None:
    app.command("score", epilog=EXAMPLES)(score)
