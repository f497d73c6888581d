"""`vqa2 ask FILE QUESTION`: ask the VQA² assistant about a video's quality."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import ANSWER_FORMATS, shown_default
from ..errors import ExitCode, UsageError
from .options import (AnswerFormatOpt, ConfigOpt, DeviceOpt, DtypeOpt, MaxMotionOpt, ModelOpt, OfflineOpt, PolicyOpt,
                      QuantOpt, QuantCacheOpt, QuietOpt, refuse_with_server, ServerOpt, ServerPathsOpt, VerboseOpt, check_format, model_label,
                      resolve_settings, start_console)

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
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Video file.", show_default=False)],
    question: Annotated[Optional[str], typer.Argument(metavar="QUESTION", help="The question.", show_default=False)] = None,
    questions: Annotated[Optional[list[str]], typer.Option(
        "--question", metavar="TEXT", help="A question; repeat for several.")] = None,
    questions_file: Annotated[Optional[Path], typer.Option(
        "--questions-file", metavar="FILE", help="A text file with one question per line.")] = None,
    model: ModelOpt = None,
    config: ConfigOpt = None,
    fmt: AnswerFormatOpt = "table",
    max_new_tokens: Annotated[Optional[int], typer.Option(
        "--max-new-tokens", metavar="N", help=f"Longest answer in tokens. {shown_default('generation', 'max_new_tokens', 'card')}")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Sample instead of greedy decoding.")] = False,
    temperature: Annotated[Optional[float], typer.Option(
        "--temperature", metavar="T", help=f"Sampling temperature (with --sample). {shown_default('generation', 'temperature', 'card')}")] = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    quant_cache: QuantCacheOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    segments: Annotated[Optional[str], typer.Option(
        "--segments", metavar="DURATION|auto",
        help="Answer for each window of DURATION (10s, 5, 1m; auto = the card's window, video.segment_s) "
             f"{shown_default('video', 'segment_s', 'card')}, each answer with its "
             "time range.")] = None,
    offline: OfflineOpt = False,
    server: ServerOpt = None,
    server_paths: ServerPathsOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Ask questions about a video's quality (the VQA² assistant)."""

    console = start_console(quiet, verbose)
    check_format(fmt, ANSWER_FORMATS)
    asked = _collect_questions(question, questions, questions_file)
    from ..serve.client import server_urls

    if urls := server_urls(server):
        from ..serve.remote import collect_options, run_remote_asking

        refuse_with_server(quant_cache)

        options = collect_options(config=config, model=model, max_new_tokens=max_new_tokens, sample=sample or None,
                                  temperature=temperature, device=device, dtype=dtype, quant=quant,
                                  max_motion_frames=max_motion_frames, long_clip=long_clip, segments=segments)
        raise typer.Exit(int(run_remote_asking(str(file), asked, urls, options, fmt, server_paths, console)))
    settings, ref = resolve_settings(
        "ask", model, config, generation__max_new_tokens=max_new_tokens, generation__do_sample=sample or None,
        generation__temperature=temperature, runtime__device=device, runtime__dtype=dtype, runtime__quant=quant,
        runtime__quant_cache=quant_cache, video__max_motion_frames=max_motion_frames, video__long_clip_policy=long_clip)
    if temperature is not None and not settings.generation.do_sample:  # never a silently ignored flag
        raise UsageError("--temperature only applies when sampling", "add --sample, or leave --temperature out "
                         "(decoding is greedy)")
    window_s = None
    if segments is not None:
        from ..video.segments import window_seconds

        window_s = window_seconds(segments, settings.video)
    raise typer.Exit(int(run_asking(str(file), asked, settings, ref, fmt, offline, console, window_s=window_s)))


def _collect_questions(question, questions, questions_file) -> list[str]:
    asked = [question] if question else []
    asked += list(questions or [])
    if questions_file is not None:
        if not questions_file.is_file():
            raise UsageError(f"{questions_file}: questions file not found", "check the --questions-file path")
        asked += [line.strip() for line in questions_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not asked:
        raise UsageError("no question given", 'pass QUESTION, --question TEXT or --questions-file FILE')
    return asked


def run_asking(path, asked, settings, ref, fmt, offline, console, window_s=None) -> ExitCode:
    """Answer ``asked`` with the API's ``Asker``: one decode (``decode``; per window with ``window_s``),
    one ``answer`` per question, streamed in table format. The input is checked before the weights load."""
    from ..errors import InputError
    from ..output.render import make_writer
    from ..pipeline.run import Asker, CheckedInputs
    from ..pipeline.stages import format_timing
    from ..pipeline import interrupts as interrupt

    interrupt.expect(1, "the answers printed so far are complete")
    checked = CheckedInputs.check([path])  # before the weights load, once: the decode reuses its probe
    if checked.errors:
        return _input_failed(path, asked, checked.errors[str(path)], settings, fmt, console)
    console.info(f"Loading {model_label(settings)} ...")
    asker = Asker.load(settings, ref, offline=offline, clips=checked.shapes())
    for line in asker.memory_lines:
        console.info(line)
    try:
        if window_s is not None:
            return _ask_windows(asker, path, asked, window_s, fmt, console, info=checked.info(path))
        clip = asker.decode(path, question=max(asked, key=len), info=checked.info(path))
    except InputError as exc:
        return _input_failed(path, asked, exc, settings, fmt, console)
    stream = fmt == "table"
    writer = None if stream else make_writer(fmt, sys.stdout, "answer")
    try:
        for q in asked:
            if stream:
                sys.stdout.write(f"Q: {q}\nA: ")
                sys.stdout.flush()
                record = asker.answer(clip, path, q, on_text=_echo)
                sys.stdout.write("\n\n" if len(asked) > 1 else "\n")
                sys.stdout.flush()
            else:
                record = asker.answer(clip, path, q)
                writer.write(record)
            console.debug(f"{path}: {format_timing(record.timing)}")
    finally:
        if writer is not None:
            writer.close()
    interrupt.advance()
    return ExitCode.OK


def _input_failed(path, asked, exc, settings, fmt, console) -> ExitCode:
    """An unusable video: one error line on stderr and, in json/jsonl/csv, one error record per question."""
    from ..records.results import AnswerRecord
    from ..output.render import make_writer

    console.error(exc.one_line())
    if fmt != "table":
        writer = make_writer(fmt, sys.stdout, "answer")
        try:
            for q in asked:
                writer.write(AnswerRecord(path=str(path), question=q, status="error", error_code=exc.code,
                                          error=exc.one_line(), config=settings.to_dict()))
        finally:
            writer.close()
    from ..pipeline import interrupts as interrupt

    interrupt.advance()
    return ExitCode.INPUT


def _ask_windows(asker, path, asked, window_s, fmt, console, info=None) -> ExitCode:
    """Each window decoded once (streaming), every question answered about it, answers tagged with times."""
    from ..output.render import make_writer
    from ..pipeline.segmented import ask_windows, segment_tag
    from ..video.segments import format_time
    from ..pipeline import interrupts as interrupt

    windows = ask_windows(asker, path, window_s, question=max(asked, key=len), info=info)
    stream = fmt == "table"
    writer = None if stream else make_writer(fmt, sys.stdout, "answer")
    try:
        for window, clip in windows:
            if stream:
                sys.stdout.write(f"[{format_time(window.start_s)}–{format_time(window.end_s)}]\n")
            for q in asked:
                if stream:
                    sys.stdout.write(f"Q: {q}\nA: ")
                    sys.stdout.flush()
                    asker.answer(clip, path, q, on_text=_echo)
                    sys.stdout.write("\n\n")
                    sys.stdout.flush()
                else:
                    record = asker.answer(clip, path, q)
                    record.segment = segment_tag(window)
                    writer.write(record)
            del clip
    finally:
        if writer is not None:
            writer.close()
    for warning in windows.warnings:
        console.warning(f"{path}: {warning}")
    interrupt.advance()
    return ExitCode.OK


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    app.command("ask", epilog=EXAMPLES)(ask)
