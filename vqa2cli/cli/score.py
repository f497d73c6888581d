"""`vqa2 score FILE...`: one quality score per video, for people (table) and machines (json/jsonl/csv).

The command maps its flags to settings, a window plan and a scoring source (the model here, or ``--server``)
and hands them to the run, :func:`vqa2cli.jobs.score_run.run_score`."""

from __future__ import annotations

from typing import Annotated

import typer

from ..video.decode_pool import DEFAULT_DECODE_PROCESSES
from .calibration_opts import CalibrationOpt, FailCalibratedOpt, FailUncertainOpt, record_gates
from .decode_opts import DecodeProcessesOpt, ScoreWorkersOpt, refuse_processes_with_server
from .explain import (
    AssistantOpt,
    AssistantQuantOpt,
    ExplainBelowOpt,
    ExplainOpt,
    ExplainQuestionOpt,
    ExplainTokensOpt,
    ExplainTopOpt,
)
from .options import (
    ConfigOpt,
    DeviceOpt,
    DtypeOpt,
    FailUnderOpt,
    FormatOpt,
    MaxMotionOpt,
    ModelOpt,
    OfflineOpt,
    PolicyOpt,
    QuantCacheOpt,
    QuantOpt,
    QuietOpt,
    ScoringPromptOpt,
    ServerOpt,
    ServerPathsOpt,
    StallingStyleOpt,
    StreamOpt,
    StrictOpt,
    VariantOpt,
    VerboseOpt,
    check_format,
    refuse_with_server,
    scoring_settings,
    start_console,
)
from .segments import (
    DurationOpt,
    FailSegmentOpt,
    OverwriteOpt,
    PlotOpt,
    PoolOpt,
    SegmentsCsvOpt,
    SegmentsOpt,
)

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

  vqa2 score encode.mp4 --calibration team.json --fail-calibrated-under 3.5   # gate on your own scale

  vqa2 score encode.mp4 --fail-uncertain-over 0.3   # exit 1 when the model is unsure: a person looks

  vqa2 score enc.mp4 --segments 10s --fail-segment-under 0.5 --explain   # and say why

  ffmpeg -i in.mp4 -c:v libx264 -f matroska - | vqa2 score - --format json   # a pipe (VQA2_STDIN_MAX_GB cap)

  vqa2 score https://cdn.example.com/enc/master.m3u8 --variant all   # each HLS/DASH rendition (docs/inputs.md)

  ffmpeg -re -i live.ts -c copy -f matroska - | vqa2 score - --segments 10s -f jsonl   # rows as they come

  vqa2 score long.mp4 --duration 1m   # the first minute only, in windows (docs/live.md)

Scores are the paper's 0-1 scale (weights 1, .75, .5, .25, 0 over high/good/fair/poor/low); the official
scripts print 0.2 + 0.8 x score, reported as official_score. --fail-under and --fail-segment-under
compare on the 0-1 scale, --fail-calibrated-under on the calibration's scale; --fail-uncertain-over on the
spread. The table shows score ± spread (docs/calibration.md).

One process for many files is the fast path: importing torch/transformers and loading the weights happen once
per process, so score many files in one command (or use vqa2 batch), not one process per file. -v prints
each file's stage timings (import, load, decode, pixels, vision, motion, prefill) on stderr."""


def score(
    files: Annotated[
        list[str],  # not Path: it would fold the // of a URL
        typer.Argument(
            metavar="FILE...",
            help="Video files to score; - reads one from stdin (a pipe); http(s):// URLs and HLS/DASH "
            "manifests (.m3u8, .mpd) are read by this process (docs/inputs.md).",
            show_default=False,
        ),
    ],
    model: ModelOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = "table",
    fail_under: FailUnderOpt = None,
    calibration: CalibrationOpt = None,
    fail_calibrated_under: FailCalibratedOpt = None,
    fail_uncertain_over: FailUncertainOpt = None,
    stalling: Annotated[
        str | None,
        typer.Option(
            "--stalling",
            metavar="none|0101...|@FILE",
            help="Streaming scorer: stalling per frame as a 0/1 string (or @FILE), or 'none' for smooth playback.",
        ),
    ] = None,
    stalling_style: StallingStyleOpt = "sequence",
    prompt: ScoringPromptOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    quant_cache: QuantCacheOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    segments: SegmentsOpt = None,
    duration: DurationOpt = None,
    pool: PoolOpt = None,
    segments_csv: SegmentsCsvOpt = None,
    fail_segment_under: FailSegmentOpt = None,
    plot: PlotOpt = None,
    overwrite: OverwriteOpt = False,
    explain: ExplainOpt = False,
    assistant: AssistantOpt = None,
    explain_top: ExplainTopOpt = None,
    explain_below: ExplainBelowOpt = None,
    explain_question: ExplainQuestionOpt = None,
    assistant_quant: AssistantQuantOpt = None,
    max_new_tokens: ExplainTokensOpt = None,
    strict: StrictOpt = None,
    stream: StreamOpt = None,
    offline: OfflineOpt = False,
    workers: ScoreWorkersOpt = None,
    decode_processes: DecodeProcessesOpt = DEFAULT_DECODE_PROCESSES,
    server: ServerOpt = None,
    server_paths: ServerPathsOpt = False,
    variant: VariantOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score the perceptual quality of videos (0 = worst, 1 = best)."""
    from ..jobs.live_run import LiveScoring, is_live, parse_limit, refuse_live_with_server
    from ..jobs.score_run import LocalScoring, run_score
    from ..jobs.settings import check_fail_under, score_stalling
    from ..jobs.windows import segment_options
    from ..remote.client import server_urls

    console = start_console(quiet, verbose)
    check_format(fmt)
    limit_s = parse_limit(duration)  # issue 26 §1: --duration (exit 2 before anything)
    windows = segments is not None or bool(segments_csv) or fail_segment_under is not None or bool(plot)
    refuse_live_with_server(server_urls(server), duration, [str(f) for f in files], windows)
    check_fail_under(fail_under)
    gates = record_gates(calibration, fail_calibrated_under, fail_uncertain_over)
    window_flags = {
        "segments_csv": segments_csv,
        "fail_segment_under": fail_segment_under,
        "plot": plot,
        "n_files": len(files),
        "overwrite": overwrite,
    }
    if urls := server_urls(server):
        from ..remote.scorers import RemoteScoring, collect_options, connect_scoring

        refuse_with_server(quant_cache)
        refuse_processes_with_server(decode_processes)
        options = collect_options(
            config=config,
            model=model,
            prompt=prompt,
            device=device,
            dtype=dtype,
            quant=quant,
            max_motion_frames=max_motion_frames,
            long_clip=long_clip,
            strict=strict,
            stream=stream,
            stalling=stalling,
            stalling_style=stalling_style if stalling is not None else None,
        )
        from .explain import remote_explain

        remote_explain(
            options,
            explain,
            fail_under=fail_under,
            fail_segment_under=fail_segment_under,
            assistant=assistant,
            top=explain_top,
            below=explain_below,
            question=explain_question,
            assistant_quant=assistant_quant,
            max_new_tokens=max_new_tokens,
        )
        clients, settings, plan = connect_scoring(
            urls[:1], options, segments=segments, pool=pool, window_flags=window_flags, console=console
        )
        source = RemoteScoring(clients[0], options, settings, send_path=server_paths)
    else:
        settings, ref = scoring_settings(
            "score",
            model,
            config,
            prompt=prompt,
            device=device,
            dtype=dtype,
            quant=quant,
            max_motion_frames=max_motion_frames,
            long_clip=long_clip,
            strict=strict,
            stream=stream,
            quant_cache=quant_cache,
        )
        settings, plan = segment_options(settings, segments=segments, pool=pool, **window_flags)
        gates.check_config(settings.to_dict())  # a calibration for other settings: refused before loading
        stall = score_stalling(settings, stalling, stalling_style, plan.window_s)
        source = LocalScoring(settings, ref, plan, console, stalling=stall, offline=offline)
        given = [str(f) for f in files]
        if is_live(given, plan, limit_s, explain=explain, stalling=stalling):  # as it arrives: docs/live.md
            settings, plan = segment_options(settings, segments=segments or "auto", pool=pool, **window_flags)
            live = LiveScoring(settings, ref, plan, console, limit_s=limit_s, fmt=fmt, offline=offline)
            code = run_score(given, live, settings, fmt, fail_under, console, plan, gates=gates)
            raise typer.Exit(int(code))
        source.feed(workers, decode_processes)
        from .explain import explain_request

        explaining = explain_request(
            explain,
            assistant=assistant,
            top=explain_top,
            below=explain_below,
            question=explain_question,
            assistant_quant=assistant_quant,
            max_new_tokens=max_new_tokens,
            quant=quant,
            device=device,
            dtype=dtype,
            config=config,
            offline=offline,
        )
        if explaining is not None:  # two phases: score all, release the scorer, explain (jobs/explain_run.py)
            from ..jobs.explain_run import ExplainingScoring

            source = ExplainingScoring(
                source, explaining, console, fail_under=fail_under, fail_segment_under=fail_segment_under
            )
    from ..inputs.materialize import Source, materialized

    with materialized([str(f) for f in files], variant=variant) as inputs:  # -, URLs, manifests: local files
        code = run_score(
            inputs.listed, Source(source, inputs), settings, fmt, fail_under, console, plan, gates=gates
        )
    raise typer.Exit(int(code))


def register(app: typer.Typer) -> None:
    app.command("score", epilog=EXAMPLES)(score)
