"""The ``--explain`` options of `score` and `batch` (docs/explain.md) and the two-phase run of `score`:
score every file, release the scorer, load the assistant, explain the selected windows, then print the
records with their explanations. The selection and the asking are :mod:`vqa2cli.pipeline.explain`, the
phases :mod:`vqa2cli.jobs.explain`."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from ..config import CHOICES
from ..errors import ExitCode, UsageError

ExplainOpt = Annotated[bool, typer.Option(
    "--explain", help="After scoring, ask the assistant what is wrong in the worst window of each file (every "
                      "window under --fail-segment-under when given; the whole clip when scored in one forward, "
                      "only under --fail-under when given). The scorer is released before the assistant loads. "
                      "See docs/explain.md.")]
AssistantOpt = Annotated[Optional[str], typer.Option(
    "--assistant", metavar="NAME", help="The assistant of --explain: a card, Hub id or folder (as --model). "
                                         "[default: assistant]")]
ExplainTopOpt = Annotated[Optional[int], typer.Option(
    "--explain-top", metavar="K", help="--explain the K lowest windows of each file.")]
ExplainBelowOpt = Annotated[Optional[float], typer.Option(
    "--explain-below", metavar="Y", help="--explain every window scoring below Y (0-1).")]
ExplainQuestionOpt = Annotated[Optional[str], typer.Option(
    "--explain-question", metavar="TEXT",
    help="The question --explain asks. [card: generation.explain_question: which distortions (blur, blocking, "
         "ringing, noise, banding, flicker, stutter, exposure, colour) and where]")]
AssistantQuantOpt = Annotated[Optional[str], typer.Option(
    "--assistant-quant", metavar="|".join(CHOICES[("runtime", "quant")]),
    help="The assistant's --quant when it differs from the scorer's. [default: --quant]")]
ExplainTokensOpt = Annotated[Optional[int], typer.Option(
    "--max-new-tokens", metavar="N", help="With --explain: longest explanation in tokens; one that reaches it "
                                          "is marked truncated. [card: 512]")]


def explain_request(explain: bool, *, assistant=None, top=None, below=None, question=None, assistant_quant=None,
                    max_new_tokens=None, quant=None, device=None, dtype=None, config=None, offline=False,
                    server=None):
    """The run's :class:`~vqa2cli.jobs.explain.ExplainOptions`, or None without ``--explain``; an explain
    option without ``--explain`` is a UsageError (never a silently ignored flag). ``server``: `batch`'s
    server URLs (batch --server --explain is refused: `score --server URL --explain` explains remotely)."""
    from ..jobs.explain import ExplainOptions

    given = {"--assistant": assistant, "--explain-top": top, "--explain-below": below,
             "--explain-question": question, "--assistant-quant": assistant_quant, "--max-new-tokens": max_new_tokens}
    if not explain:
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise UsageError(f"{', '.join(extra)} only apply with --explain", "add --explain, or leave them out")
        return None
    if server:
        raise UsageError("batch --server cannot --explain yet", "run `vqa2 score --server URL --explain FILE...`, "
                         "or the batch locally with --explain")
    if top is not None and below is not None:
        raise UsageError("--explain-top and --explain-below both choose the windows", "pass one of them")
    return ExplainOptions(assistant=assistant, question=question, top=top, below=below,
                          quant=assistant_quant if assistant_quant is not None else quant, device=device,
                          dtype=dtype, max_new_tokens=max_new_tokens, config=str(config) if config else None,
                          offline=offline)


def run_explained_scoring(paths, settings, ref, fmt, fail_under, stalling, console, windows, options) -> ExitCode:
    """`score --explain`: phase 1 scores every file (window rows held back), the scorer is released, phase 2
    explains; then every record is printed with its explanations, window rows, gates and plots as `score`.
    The assistant failing to load: the scores are printed, one error line, exit 4."""
    from ..jobs import explain as job
    from ..jobs.windows import SegmentOutputs, SegmentPlan

    asker_settings, asker_ref = options.resolve()  # an unknown card fails before anything is scored
    windows = windows or SegmentPlan()
    segment_out = SegmentOutputs(windows, settings, console)
    held: list = []  # (path, entry, stat) window rows, written once explained
    try:
        preflight = (asker_settings, asker_ref)
        records, thumbs, shapes = _score_all(paths, settings, ref, stalling, console, windows, segment_out, held,
                                             options.offline, preflight)
        sel = job.selection(asker_settings, options, fail_under=fail_under,
                            fail_segment_under=windows.fail_segment_under)
        try:
            error = _explain_phase(job.plan(records, sel), asker_settings, asker_ref, console, options, shapes)
        except KeyboardInterrupt:  # Ctrl-C while explaining: the scores (and explanations made) still printed
            console.warning("explain: interrupted: printing the scores with the explanations made so far")
            _finish(records, thumbs, fmt, fail_under, console, segment_out, held)
            raise
        failed, below = _finish(records, thumbs, fmt, fail_under, console, segment_out, held)
    finally:
        segment_out.close()
    if error is not None:
        console.error(error.one_line())
        return ExitCode.RUNTIME
    from .segments import score_exit_code

    return score_exit_code(console, len(paths), failed, below, fail_under, segment_out, windows.fail_segment_under)


def _score_all(paths, settings, ref, stalling, console, windows, segment_out, held, offline, assistant):
    """Phase 1: (records, {path: worst window's thumbnails}, clip shapes); the scorer is released at the end.
    ``assistant``: its (settings, ref), preflighted first (jobs/explain.py ``preflight_assistant``)."""
    from ..jobs.explain import preflight_assistant, release
    from ..jobs.windows import load_scorer
    from ..pipeline.run import CheckedInputs, error_record
    from .options import model_label

    checked = CheckedInputs.check(paths)
    if len(checked.errors) == len(set(paths)):
        return [error_record(p, checked.errors[p], settings) for p in paths], {}, []
    preflight_assistant(*assistant, console, offline=offline, clips=checked.shapes())
    console.info(f"Loading {model_label(settings)} ...")
    scorer = load_scorer(settings, ref, windows, segment_out, offline=offline, clips=checked.shapes())
    scorer.on_window = lambda path, entry, stat: held.append((path, entry, stat))
    for line in scorer.memory_lines:
        console.info(line)
    records, thumbs = [], {}
    try:
        for record in scorer.score_files(paths, stalling=stalling, checked=checked):
            records.append(record)
            thumbs[record.path] = getattr(scorer, "last_thumbnails", ())
    finally:
        release(scorer)  # the scorer's weights go before the assistant's come
    return records, thumbs, checked.shapes()


def _explain_phase(todo, settings, ref, console, options, shapes):
    """Phase 2; returns the ExplainError when the assistant cannot be loaded (else None)."""
    from ..jobs import explain as job

    if not todo:
        console.info("explain: nothing selected to explain")
        return None
    console.info(job.cost_line(todo, settings))
    try:
        asker = job.load_assistant(settings, ref, console, offline=options.offline, clips=shapes)
    except job.ExplainError as exc:
        return exc
    try:
        forwards = job.explain_all(todo, asker, console)
    finally:
        job.release(asker)
    console.info(f"explain: {forwards} assistant forward(s) run")
    return None


def _finish(records, thumbs, fmt, fail_under, console, segment_out, held) -> tuple[int, int]:
    """The held window rows, then the records: (failed files, files below --fail-under)."""
    for row in held:
        segment_out.on_window(*row)
    return _write(records, thumbs, fmt, fail_under, console, segment_out)


def _write(records, thumbs, fmt, fail_under, console, segment_out) -> tuple[int, int]:
    """Print the records as `score` does; (failed files, files below --fail-under)."""
    from ..output.render import make_writer
    from ..pipeline import interrupts as interrupt
    from ..pipeline.stages import format_timing

    interrupt.expect(len(records), "the results printed so far are complete")
    writer = make_writer(fmt, sys.stdout, "score")
    failed = below = 0
    try:
        for record in records:
            if not record.ok:
                console.error(record.error)
                failed += 1
            for warning in record.warnings:
                console.warning(f"{record.path}: {warning}")
            console.debug(f"{record.path}: {format_timing(record.timing)}")
            with interrupt.deferred():
                writer.write(record)
                interrupt.advance()
            if record.ok and fail_under is not None and record.score < fail_under:
                below += 1
            segment_out.after(record, thumbs.get(record.path, ()))
    finally:
        writer.close()
    return failed, below


def run_explained_batch(job, settings, ref, console, windows, options, finish) -> ExitCode:
    """`batch --explain`: the batch (phase 1, the scorer freed when it ends), then the explain phase on the
    ``--jsonl`` rows (:func:`~vqa2cli.jobs.explain.explain_rows`), then ``finish(job, stats, console,
    windows)`` (the summary and exit code). The assistant failing to load: the rows stay, exit 4. An
    interrupted batch explains nothing (``--resume`` goes on with both phases)."""
    import gc

    from ..jobs.engine import run_job
    from ..jobs.explain import explain_rows

    if not job.jsonl:
        raise UsageError("batch --explain needs --jsonl FILE", "the explanations are appended to it as each "
                         "file's updated row (it holds the windows; --csv may be given beside it)")
    asker_settings, asker_ref = options.resolve()  # an unknown card fails before anything is scored
    from ..jobs.explain import preflight_assistant

    preflight_assistant(asker_settings, asker_ref, console, offline=options.offline)
    stats = run_job(job, settings, ref, console, windows)
    gc.collect()  # the scorer went out of scope with run_job: its memory goes before the assistant's
    error = None
    if not stats.interrupted and not stats.rank_part:
        error = explain_rows(job, asker_settings, asker_ref, options, console, windows=windows,
                             scorer_settings=settings)
    code = finish(job, stats, console, windows)
    if error is not None:
        console.error(error.one_line())
        return ExitCode.RUNTIME if code != ExitCode.INTERRUPTED else code
    return code


def remote_explain(options: dict, explain: bool, *, fail_under=None, fail_segment_under=None, **flags) -> None:
    """`score --server URL --explain`: the request's ``options.explain`` (serve/explain.py); ``flags``: the
    explain options of :func:`explain_request`. The server explains with the assistant it was started with."""
    from ..serve.explain import client_options

    client_options(options, explain_request(explain, **flags), fail_under=fail_under,
                   fail_segment_under=fail_segment_under)
