"""`vqa2 ask FILE QUESTION`: ask the VQA² assistant about a video's quality.

The command maps its flags to settings and an asking source (the model here, or ``--server``) and hands them
to the run, :func:`vqa2cli.jobs.ask_run.run_ask`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import ANSWER_FORMATS, shown_default
from .options import (
    AnswerFormatOpt,
    AskPolicyOpt,
    ConfigOpt,
    DeviceOpt,
    DtypeOpt,
    MaxMotionOpt,
    ModelOpt,
    OfflineOpt,
    OneVariantOpt,
    QuantCacheOpt,
    QuantOpt,
    QuietOpt,
    ServerOpt,
    ServerPathsOpt,
    StreamOpt,
    VerboseOpt,
    check_format,
    refuse_with_server,
    start_console,
)

EXAMPLES = """Examples:

  vqa2 ask clip.mp4 "Is there stutter?"

  vqa2 ask clip.mp4 --question "How sharp is it?" --question "Any compression artifacts?"

  vqa2 ask clip.mp4 --questions-file questions.txt --format jsonl

  vqa2 ask clip.mp4 "Describe the quality issues." --max-new-tokens 256 --format json

  vqa2 ask episode.mkv "Is there stutter?" --segments 10s     # one answer per 10 s window, with its time

  vqa2 ask clip.mp4 "Is there stutter?" --server http://127.0.0.1:8000   # a warm `vqa2 serve --assistant`

Decoding is greedy unless --sample is given, so the same question gives the same answer. In table
format the answer is streamed as it is generated. Several questions reuse one decode and one encoding of
the video: its KV cache up to the end of the video blocks is computed once (answers are identical).
-v prints each answer's stage timings on stderr."""


def ask(
    file: Annotated[
        str,  # not Path: it would fold the // of a URL
        typer.Argument(
            metavar="FILE",
            help="Video file; - reads it from stdin, http(s):// URLs and HLS/DASH manifests are read by this "
            "process (docs/inputs.md).",
            show_default=False,
        ),
    ],
    question: Annotated[
        str | None, typer.Argument(metavar="QUESTION", help="The question.", show_default=False)
    ] = None,
    questions: Annotated[
        list[str] | None, typer.Option("--question", metavar="TEXT", help="A question; repeat for several.")
    ] = None,
    questions_file: Annotated[
        Path | None,
        typer.Option(
            "--questions-file",
            metavar="FILE",
            help="A text file with one question per line (blank lines and # comment lines are skipped).",
        ),
    ] = None,
    model: ModelOpt = None,
    config: ConfigOpt = None,
    fmt: AnswerFormatOpt = "table",
    max_new_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-new-tokens",
            metavar="N",
            help=f"Longest answer in tokens. {shown_default('generation', 'max_new_tokens', 'card')}",
        ),
    ] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[
        float | None,
        typer.Option(
            "--temperature",
            metavar="T",
            help=f"Sampling temperature (with --sample). {shown_default('generation', 'temperature', 'card')}",
        ),
    ] = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    quant_cache: QuantCacheOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: AskPolicyOpt = None,
    stream: StreamOpt = None,
    segments: Annotated[
        str | None,
        typer.Option(
            "--segments",
            metavar="DURATION|auto",
            help="Answer for each window of DURATION (10s, 5, 1m; auto = the card's window, video.segment_s) "
            f"{shown_default('video', 'segment_s', 'card')}, each answer with its "
            "time range.",
        ),
    ] = None,
    offline: OfflineOpt = False,
    server: ServerOpt = None,
    server_paths: ServerPathsOpt = False,
    variant: OneVariantOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Ask questions about a video's quality (the VQA² assistant)."""
    from ..jobs.ask_run import LocalAsking, collect_questions, run_ask
    from ..remote.client import server_urls

    console = start_console(quiet, verbose)
    check_format(fmt, ANSWER_FORMATS)
    asked = collect_questions(question, questions, questions_file)
    if urls := server_urls(server):
        from ..remote.scorers import RemoteAsking, collect_options, connect

        refuse_with_server(quant_cache)
        options = collect_options(
            config=config,
            model=model,
            max_new_tokens=max_new_tokens,
            sample=sample or None,
            temperature=temperature,
            device=device,
            dtype=dtype,
            quant=quant,
            max_motion_frames=max_motion_frames,
            long_clip=long_clip,
            stream=stream,
            segments=segments,
        )
        clients, settings = connect(urls[:1], "ask", options)
        source = RemoteAsking(clients[0], options, send_path=server_paths)
    else:
        from ..jobs.settings import asking_settings
        from ..video.segments import window_seconds

        settings, ref = asking_settings(
            model,
            config,
            max_new_tokens=max_new_tokens,
            sample=sample,
            temperature=temperature,
            device=device,
            dtype=dtype,
            quant=quant,
            quant_cache=quant_cache,
            max_motion_frames=max_motion_frames,
            long_clip=long_clip,
            stream=stream,
        )
        window_s = window_seconds(segments, settings.video) if segments is not None else None
        source = LocalAsking(settings, ref, console, window_s=window_s, offline=offline)
    from ..inputs.given import shown
    from ..inputs.manifest import single_variant
    from ..inputs.materialize import Answers, materialized

    with materialized(
        [file], variant=single_variant(variant, "ask")
    ) as inputs:  # -, URLs, manifests: local files
        code = run_ask(shown(file), asked, Answers(source, inputs), settings, fmt, console)
    raise typer.Exit(int(code))


def register(app: typer.Typer) -> None:
    app.command("ask", epilog=EXAMPLES)(ask)
