"""``vqa2 eval``: the job of :mod:`vqa2cli.jobs.engine` on a labelled set, plus a ``mos`` column and a
metrics step (SRCC / PLCC / KRCC, :mod:`vqa2cli.jobs.metrics`).

The label records are the job's files, in label order. Decoding runs ahead in worker threads while the
model scores (:func:`vqa2cli.jobs.loop.run_batch`), and each record's ``stalling`` goes into its prompt.
The scores CSV has one row per scored video (``SCORE_CSV_COLUMNS``; ``resume`` refuses a file with any
other header, exit 2), appended and fsync'd as each
finishes by the job's row files (:class:`vqa2cli.jobs.rowfiles.RowFiles`): an earlier row is never
rewritten, so Ctrl-C or a crash, even during a resumed run, loses at most the row being written. The file
is locked while a run writes it and its settings are recorded beside it (``<csv>.vqa2.json``; ``--resume``
refuses others). With ``resume`` the torn last line of a crash is dropped, and a video whose path, size and
mtime match an ``ok`` row is reused (a changed file is scored again); ``error`` rows are scored again, the
new row appended after the old one (the last row of a path is current). An unreadable video is an
``error`` row, listed and left out of the metrics; any other failure stops the run. Text cells that a
spreadsheet would run as formulas get a leading ``'`` (``records/cells.py``), undone when resuming. The
rows are :class:`~vqa2cli.records.reports.EvalRow` records, written by the writer registry's CSV writer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from ..errors import ConfigError, DataError, InputError, UsageError
from ..records.reports import EVAL_COLUMNS as SCORE_CSV_COLUMNS
from ..records.reports import EvalRecord, EvalRow
from ..training.datasets import LabelRecord
from ..video.decode_pool import DEFAULT_DECODE_PROCESSES
from .loop import Todo
from .metrics import correlations


def check_enough_videos(records: list[LabelRecord]) -> None:
    """:class:`DataError` before any weights load when the correlations cannot be computed: fewer than
    ``metrics.MIN_POINTS`` labelled videos, fewer readable ones (missing, empty, unreadable files), or MOS
    values that are all equal."""
    from ..pipeline.run import preflight
    from .metrics import MIN_POINTS

    n = len(records)
    if n < MIN_POINTS:
        raise DataError(
            f"{n} labelled video(s): the correlations need at least {MIN_POINTS}",
            "add labelled videos to the label file",
        )
    problems = preflight([r.path for r in records])
    if n - len(problems) < MIN_POINTS:
        raise DataError(
            f"only {n - len(problems)} of {n} labelled videos can be read, the correlations need at "
            f"least {MIN_POINTS} (first problem: {problems[0].one_line()})",
            "check --media-root and the label paths",
        )
    if len({r.mos for r in records}) < 2:
        raise DataError(
            f"all {n} MOS values are equal ({records[0].mos:g}): the correlations are undefined",
            "check the label file's mos column",
        )


RESTART = "delete it to start again, or choose another --scores-csv"  # eval has no --overwrite


def _check_existing(scores_csv: Path | None, resume: bool) -> None:
    """ConfigError (exit 2): ``resume`` without a scores CSV, or an existing one without ``resume``."""
    if scores_csv is None and resume:
        raise ConfigError("--resume needs --scores-csv (the file the earlier run wrote)")
    if scores_csv is not None and scores_csv.exists() and not resume:
        raise ConfigError(
            f"{scores_csv}: already exists", "pass --resume to continue that run, or choose another path"
        )


def _reused(records: list[LabelRecord], scores_csv: Path | None, resume: bool) -> dict[int, float]:
    """``resume``: the scores of the earlier run's ``ok`` rows whose video kept its path, size and mtime, by
    label index (after cutting a torn last line). ConfigError when the file is no eval scores CSV."""
    from ..video.opening import file_stat
    from .resume import DoneIndex, OutputSpec, repair_tail

    _check_existing(scores_csv, resume)
    if not resume:
        return {}
    repair_tail(str(scores_csv), "csv")  # a quoted newline (in a path) is no record end
    index = DoneIndex()
    try:
        index.add_file(OutputSpec(str(scores_csv), "csv", SCORE_CSV_COLUMNS, restart=RESTART))
    except UsageError as exc:
        raise ConfigError(exc.message, exc.fix) from exc
    reused = {}
    for rec in records:
        state = index.match(str(rec.path), file_stat(rec.path), retry_errors=True)  # only ok rows count
        if state is not None and state.score is not None:
            reused[rec.index] = state.score
    return reused


class _LabelledScorer:
    """The job's scorer for label records: each video prepared with its stalling (``stalling_style``); an
    unreadable video (``InputError``) becomes an ``error`` :class:`EvalRow`, other errors raise."""

    def __init__(self, scorer, stalling_style: str):
        self.scorer, self.stalling_style = scorer, stalling_style

    def prepare(self, todo: Todo) -> tuple[LabelRecord, Any]:
        from ..pipeline.prompts import parse_stalling

        label = todo.label
        try:
            stalling = parse_stalling(label.stalling, self.stalling_style)
            return label, self.scorer.prepare(str(label.path), stalling=stalling)
        except InputError as exc:
            return label, exc

    def run(self, prepared: tuple[LabelRecord, Any]) -> EvalRow:
        label, clip = prepared
        if isinstance(clip, InputError):
            return EvalRow.failed(label, clip)
        try:
            d = self.scorer.run(clip).to_dict()
        except InputError as exc:
            return EvalRow.failed(label, exc)
        return EvalRow.of(
            label,
            score=d["score"],
            official_score=d["official_score"],
            level=d["level"],
            input={"decoded_frames": (d.get("input") or {}).get("decoded_frames", "")},
        )


def _raise(path: str, exc: BaseException) -> NoReturn:
    """``make_error`` of the eval job: only unreadable videos are rows (made by :class:`_LabelledScorer`)."""
    raise exc


def evaluate(
    records: list[LabelRecord],
    scorer,
    *,
    labels: str,
    model: str,
    scores_csv: Path | None = None,
    resume: bool = False,
    workers: int | None = None,
    stalling_style: str = "sequence",
    on_error: Callable[[str], None] = lambda _: None,
    advance: Callable[..., None] = lambda n=1: None,
    calibration=None,
) -> EvalRecord:
    """Score every record with ``scorer`` (``prepare(path, stalling=...)`` in worker threads, ``run`` here),
    append the CSV rows, compute the metrics. A record's ``stalling`` goes into its prompt, phrased as
    ``stalling_style``.

    Raises ConfigError (CSV exists without ``resume``, or is no eval CSV), DataError (too few videos
    scored for the metrics), OutputError (the CSV cannot be written; earlier rows stay), KeyboardInterrupt
    (Ctrl-C, after the rows already written); an unreadable video is a failure row, not an exception."""
    from ..output.render import make_writer
    from .loop import JobStats, run_batch
    from .prefetch import default_workers
    from .rowfiles import RowFiles

    workers = default_workers() if workers is None else workers
    reused = _reused(records, scores_csv, resume)
    todo = [Todo(str(r.path), (), label=r) for r in records if r.index not in reused]
    advance(len(records) - len(todo))
    scored: dict[int, float] = dict(reused)
    failures: list[str] = []

    def sink(row: EvalRow, targets: tuple[int, ...]) -> None:
        rows.write(row, targets)
        if row.status == "ok":
            assert row.score is not None  # an ok row has its score (EvalRow.of)
            scored[row.index] = float(row.score)
        else:
            failures.append(row.error)
            on_error(row.error)

    paths = [str(scores_csv)] if scores_csv is not None else []
    rows = RowFiles(
        paths,
        ["csv"] * len(paths),
        append=True,
        make_writer=lambda fmt, stream, header: make_writer(
            "csv", stream, "eval_row", header, columns=SCORE_CSV_COLUMNS
        ),
    )
    labelled = _LabelledScorer(scorer, stalling_style)
    try:
        stats = run_batch(
            todo,
            labelled,
            sink,
            make_error=_raise,
            workers=workers,
            depth=2 * workers,
            stats=JobStats(),
            advance=advance,
            prepare=labelled.prepare,
        )
    finally:
        rows.close()
    if stats.interrupted:
        raise KeyboardInterrupt
    return _result(
        records, scored, failures, labels=labels, model=model, n_reused=len(reused), calibration=calibration
    )


def calibrated_metrics(calibration, pairs: list[tuple[float, float]]) -> dict[str, Any]:
    """``eval --calibration``: PLCC, SRCC, KRCC and RMSE of the calibrated scores against the labels, on the
    calibration's scale (calibration/select.py), and how many scores were outside its fitted range."""
    from ..calibration.select import metrics

    applied = [calibration.apply(score) for score, _ in pairs]
    values = metrics([a["value"] for a in applied], [mos for _, mos in pairs])
    shown = {k: (None if v != v else v) for k, v in values.items()}  # NaN (constant scores) → null
    return {
        "scale": calibration.scale["name"],
        **shown,
        "n_extrapolated": sum(a["extrapolated"] for a in applied),
    }


def _result(
    records: list[LabelRecord],
    scored: dict[int, float],
    failures: list[str],
    *,
    labels: str,
    model: str,
    n_reused: int,
    calibration=None,
) -> EvalRecord:
    """The metrics step: correlations of the scores with the MOS (label order; failed videos left out)."""
    pairs = [(scored[r.index], r.mos) for r in records if r.index in scored]
    try:
        metrics = correlations([p for p, _ in pairs], [m for _, m in pairs])
    except DataError as exc:
        if failures:
            raise DataError(f"{exc.message} after {len(failures)} video(s) failed", exc.fix) from exc
        raise
    return EvalRecord(
        labels=labels,
        model=model,
        metrics=metrics,
        n_labels=len(records),
        n_failed=len(failures),
        n_reused=n_reused,
        failures=failures,
        calibrated=calibrated_metrics(calibration, pairs) if calibration is not None else None,
    )


def run_eval(
    records: list[LabelRecord],
    settings,
    ref,
    console,
    *,
    labels: str,
    scores_csv: Path | None,
    resume: bool,
    workers: int,
    stalling_style: str,
    offline: bool,
    calibration=None,
    decode_processes: int = DEFAULT_DECODE_PROCESSES,
) -> EvalRecord:
    """The whole `vqa2 eval` run: lock the scores CSV, record its settings (``--resume`` refuses others, the
    stalling style included), load the scorer, :func:`evaluate` (``decode_processes``: the decode worker
    processes behind the ``workers`` threads, jobs/feeding.py). Errors as :func:`evaluate`, plus
    UsageError (the CSV is locked by another run) and ModelError (the weights do not load)."""
    from contextlib import nullcontext

    from ..pipeline import interrupts
    from ..pipeline.run import Scorer
    from .feeding import feeding, threads_for
    from .lock import locked_outputs
    from .provenance import record_settings

    outputs = [str(scores_csv)] if scores_csv is not None else []
    with locked_outputs(outputs, console.warning):
        _check_existing(scores_csv, resume)  # before the settings record beside it is touched
        for output in outputs:
            record_settings(
                output, settings, resume=resume, run={"stalling_style": stalling_style}, restart=RESTART
            )
        if resume and len(_reused(records, scores_csv, resume)) == len(records):
            console.info(f"every video's score is reused from {scores_csv}: no model loaded")
            scorer = None  # nothing to score: the weights are not even read
        else:
            console.info(f"Loading {settings.model.label} to score {len(records)} videos ...")
            scorer = Scorer.load(settings, ref, offline=offline)
            for line in scorer.memory_lines:
                console.info(line)
        fed = (
            feeding(scorer, workers=0, processes=decode_processes, read_ahead=False)
            if scorer is not None and decode_processes > 0
            else nullcontext()
        )
        with fed, console.progress(len(records), "Scoring") as advance:

            def step(n: int = 1) -> None:  # the progress bar, and the count of Ctrl-C's line
                advance(n)
                interrupts.advance(n)

            return evaluate(
                records,
                scorer,
                labels=labels,
                model=settings.model.name,
                scores_csv=scores_csv,
                resume=resume,
                workers=threads_for(workers, decode_processes),
                stalling_style=stalling_style,
                on_error=console.error,
                advance=step,
                calibration=calibration,
            )
