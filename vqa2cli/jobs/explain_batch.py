"""``batch --explain`` (docs/explain.md): the batch scores every file (phase 1, the scorer freed when it ends),
then :func:`explain_rows` reads the ``--jsonl`` rows back (the last row of a path is current), explains what is
selected and not yet explained, and appends each explained file's record as a new row (to ``--csv`` too, and
each explained window's row to ``--segments-csv``): a run killed between (or during) the phases and resumed
explains only what is missing. The assistant failing to load: the score rows stay, exit 4.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ExitCode, UsageError
from .explain import ExplainOptions, cost_line, explain_all, plan, selection
from .explain_assistant import ExplainError, load_assistant, preflight_assistant, release


def run_explained_batch(job, settings, ref, console, windows, options: ExplainOptions, finish) -> ExitCode:
    """`batch --explain`: the batch (:func:`~vqa2cli.jobs.engine.run_job`, phase 1), then the explain phase on
    the ``--jsonl`` rows (:func:`explain_rows`), then ``finish(job, stats, console, windows)`` (the command's
    summary and exit code). ``--jsonl`` missing is a UsageError and an unknown assistant card fails, both
    before anything is scored. The assistant failing to load: the rows stay, exit 4. An interrupted batch
    explains nothing (``--resume`` goes on with both phases)."""
    import gc

    from .engine import run_job

    if not job.jsonl:
        raise UsageError(
            "batch --explain needs --jsonl FILE",
            "the explanations are appended to it as each "
            "file's updated row (it holds the windows; --csv may be given beside it)",
        )
    asker_settings, asker_ref = options.resolve()  # an unknown card fails before anything is scored
    preflight_assistant(asker_settings, asker_ref, console, offline=options.offline)
    stats = run_job(job, settings, ref, console, windows)
    gc.collect()  # the scorer went out of scope with run_job: its memory goes before the assistant's
    error = None
    if not stats.interrupted and not stats.rank_part:
        error = explain_rows(
            job, asker_settings, asker_ref, options, console, windows=windows, scorer_settings=settings
        )
    code = finish(job, stats, console, windows)
    if error is not None:
        console.error(error.one_line())
        return ExitCode.RUNTIME if code != ExitCode.INTERRUPTED else code
    return code


def read_rows(jsonl: str) -> list:
    """The current record of every path in a ``--jsonl`` file (its last row), in first-seen order, read back
    through :meth:`~vqa2cli.records.results.ScoreRecord.from_dict` (every field, ``calibrated`` included). A
    line that is no score record (a torn last line) is skipped."""
    from ..records.cells import path_from_fields
    from ..records.results import ScoreRecord
    from .resume import path_key

    current: dict[str, dict] = {}
    if not Path(jsonl).exists():
        return []
    with open(jsonl, encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and "path" in d:
                current[path_key(path_from_fields(d["path"], d.get("path_bytes")))] = d
    records = []
    for d in current.values():
        try:
            records.append(ScoreRecord.from_dict(d))
        except (KeyError, TypeError, AttributeError, ValueError):
            continue  # not a score record: nothing to explain in it
    return records


def explain_rows(
    job, settings, ref, options: ExplainOptions, console, *, windows=None, scorer_settings=None, clips=None
) -> ExplainError | None:
    """``batch --explain``, phase 2: the current rows of ``job.jsonl`` (a resumed run's included) with a
    selected window not yet explained are explained and appended as the file's new row to the job's outputs
    (``--jsonl`` and ``--csv``), and each explained window's row to ``--segments-csv``
    (``windows``: the SegmentPlan; ``scorer_settings`` name its columns), under the outputs' lock. Returns
    the ExplainError when the assistant cannot be loaded (the score rows stay), else None."""
    from .lock import locked_outputs
    from .windows import SegmentPlan

    windows = windows if windows is not None else SegmentPlan()
    todo = plan(
        read_rows(job.jsonl),
        selection(
            settings, options, fail_under=job.fail_under, fail_segment_under=windows.fail_segment_under
        ),
    )
    if not todo:
        console.info("explain: every selected window is explained")
        return None
    console.info(cost_line(todo, settings))
    try:
        asker = load_assistant(settings, ref, console, offline=options.offline, clips=clips)
    except ExplainError as exc:
        return exc
    specs = job.outputs()
    tidy = windows.csv
    try:
        with locked_outputs([s.path for s in specs] + ([tidy] if tidy else []), console.warning):
            rows, window_rows = _appender(specs), _window_rows(windows, scorer_settings, console)

            def done(record) -> None:
                rows.write(record, ())
                if window_rows is not None:
                    window_rows.explained(record)

            try:
                forwards = explain_all(todo, asker, console, on_done=done)
            finally:
                rows.close()
                if window_rows is not None:
                    window_rows.close()
    finally:
        release(asker)
    console.info(
        f"explain: {forwards} assistant forward(s) run; explained rows appended to "
        f"{', '.join(s.path for s in specs)}"
    )
    return None


def _window_rows(windows, settings, console):
    """The ``--segments-csv`` of a batch, appended to (jobs/windows.py), or None."""
    if not windows.csv or settings is None:
        return None
    from .windows import SegmentOutputs, SegmentPlan

    return SegmentOutputs(SegmentPlan(csv=windows.csv), settings, console, append=True, durable=True)


def _appender(specs):
    """RowFiles appending to the job's outputs in this version's columns (the score phase refused any other
    CSV header: jobs/resume.py)."""
    from .engine import score_row_writer
    from .rowfiles import RowFiles

    return RowFiles(
        [s.path for s in specs], [s.fmt for s in specs], append=True, make_writer=score_row_writer
    )
