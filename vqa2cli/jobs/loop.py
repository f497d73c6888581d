"""The batch loop: prepare (decode + inputs) ahead in worker threads, run the model in order, one row per file.

One broken file never stops a batch: whatever ``prepare`` raises for a file (an ``InputError``, or any
other exception from a decoder bug) becomes that file's ``status=error`` row. Failures of the model
itself get an error row too, but three in a row stop the batch (the model, not the file, is broken).
Exit codes of ``vqa2 batch``: 130 interrupted > 3 some file has an error row (this run's or, with
``--resume``, an earlier run's) > 1 some score is below ``--fail-under`` (earlier rows included) > 0.

Speed: ``--workers N`` threads (default ``min(4, CPUs)``) run ``Scorer.prepare`` ahead of the model,
at most ``--prefetch`` (default ``2 x workers``) clips ahead, so memory stays flat; the model takes the
clips one at a time, in the sorted file order, in the main thread.

Schedulers (Slurm arrays, Kubernetes indexed jobs): ``--shard K/N`` (1-based) scores the files whose
path hash (SHA-1 of the path relative to its input folder) modulo N is K-1, so N jobs cover every file
exactly once even when they list the folder at different times; give each job its own output::

    #SBATCH --array=1-8
    vqa2 batch /data/encodes --csv scores.$SLURM_ARRAY_TASK_ID.csv --shard $SLURM_ARRAY_TASK_ID/8 --resume
    # (Kubernetes: --shard $((JOB_COMPLETION_INDEX+1))/8). Concatenate afterwards, e.g.
    # (head -1 scores.1.csv; tail -q -n +2 scores.*.csv) > scores.csv
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Protocol, TypeVar, overload

from ..errors import InputError
from ..pipeline.interrupts import deferred
from ..records.reports import BatchSummaryRecord
from ..video.opening import FileStat, file_stat
from .prefetch import prefetch
from .resume import DoneIndex, RowState

MAX_CONSECUTIVE_MODEL_FAILURES = 3


class JobRecord(Protocol):
    """A row of a job, as the loop reads it: :class:`~vqa2cli.records.results.ScoreRecord` (``batch``, the
    error rows of :func:`error_row_factory` included) and :class:`~vqa2cli.records.reports.EvalRow`
    (``eval``)."""

    path: str
    status: str  # "ok" or "error"
    score: float | None  # 0-1 scale; None on error rows
    input: dict[str, Any]  # gets ``size_bytes`` / ``mtime`` (the --resume key) from the stat taken at decode


P = TypeVar("P")  # what a scorer prepares for the model (a decoded clip, a request's answer, ...)
P_contra = TypeVar("P_contra", contravariant=True)
R = TypeVar("R", bound=JobRecord)  # the job's row type
R_co = TypeVar("R_co", bound=JobRecord, covariant=True)


class BatchScorer(Protocol[P, R_co]):
    """What :func:`run_batch` calls: ``prepare`` (decode, in a worker thread), then ``run`` (the model, in
    the main thread) which returns the file's row."""

    def prepare(self, path: str) -> P: ...
    def run(self, prepared: P) -> R_co: ...


class ModelStep(Protocol[P_contra, R_co]):
    """A scorer whose files :func:`run_batch` prepares with its own ``prepare=`` (``vqa2 eval``: the label
    goes in): only ``run`` is called on it."""

    def run(self, prepared: P_contra) -> R_co: ...


@dataclass
class Todo:
    """A file to score, the outputs (indices) that still lack its row (empty: all of them), and what the job
    knows about it besides its path (``vqa2 eval``: its :class:`~vqa2cli.training.datasets.LabelRecord`)."""

    path: str
    targets: tuple[int, ...]
    label: Any = None


@dataclass
class JobStats:
    """What a job did: counts of files, seconds, and whether Ctrl-C stopped it. Summed over torchrun ranks
    (:meth:`add`); the CLI turns it into messages and an exit code."""

    ok: int = 0
    failed: int = 0
    resumed_ok: int = 0
    resumed_failed: int = 0
    ignored: int = 0  # not video (or hidden) files met in folders/globs
    below: int = 0  # scores under --fail-under, resumed rows included
    wall_s: float = 0.0
    prepare_s: float = 0.0  # sum over files of decode + input preparation (worker threads)
    run_s: float = 0.0  # sum over files of model time (main thread)
    wait_s: float = 0.0  # main thread idle, waiting for a prepared clip (the model starved)
    interrupted: bool = False
    failed_paths: list[str] = field(default_factory=list)
    segment_failed: int = 0  # files with a window below --fail-segment-under
    rank_part: bool = False  # a torchrun rank other than 0: rank 0 reports the whole run

    @property
    def scored(self) -> int:
        return self.ok + self.failed

    @property
    def any_failed(self) -> bool:
        return bool(self.failed or self.resumed_failed)

    def add(self, other: JobStats) -> None:
        for name in (
            "ok",
            "failed",
            "resumed_ok",
            "resumed_failed",
            "ignored",
            "below",
            "prepare_s",
            "run_s",
            "wait_s",
            "segment_failed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_paths += other.failed_paths
        self.wall_s = max(self.wall_s, other.wall_s)
        self.interrupted |= other.interrupted

    def summary(self) -> str:
        rate = self.scored / self.wall_s if self.wall_s > 0 else 0.0
        skipped = self.resumed_ok + self.resumed_failed + self.ignored
        text = (
            f"{self.ok} ok, {self.failed} failed, {skipped} skipped ({self.ignored} not video, "
            f"{self.resumed_ok + self.resumed_failed} already done"
            + (f", {self.resumed_failed} of them errors" if self.resumed_failed else "")
            + f"); {self.scored} files in {self.wall_s:.1f} s ({rate:.2f} files/s)"
        )
        return (
            text  # an interrupted run also says so in its one ``interrupted:`` line (pipeline/interrupts.py)
        )

    def summary_record(self, outputs: list[str]) -> BatchSummaryRecord:
        """``vqa2 batch --summary``'s record (seconds, files per second)."""
        return BatchSummaryRecord(
            ok=self.ok,
            failed=self.failed,
            skipped_not_video=self.ignored,
            skipped_done=self.resumed_ok + self.resumed_failed,
            done_with_errors=self.resumed_failed,
            below_fail_under=self.below,
            wall_s=round(self.wall_s, 3),
            files_per_s=round(self.scored / self.wall_s, 4) if self.wall_s else 0.0,
            interrupted=self.interrupted,
            outputs=outputs,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JobStats:
        return cls(**json.loads(text))


def plan_todo(
    paths: Sequence[str],
    indexes: Sequence[DoneIndex] | None,
    *,
    retry_errors: bool,
    stats: JobStats,
    fail_under: float | None,
) -> list[Todo]:
    """Drop files every output already holds (``--resume``); count them (and their scores) in ``stats``."""
    if not indexes:
        return [Todo(p, ()) for p in paths]
    todo = []
    from ..inputs.given import is_network

    for path in paths:
        if is_network(path):  # a URL: its URL and what the server says identifies it (jobs/resume.py)
            from ..inputs.http import head_identity

            ident = head_identity(path)
            states = [ix.match_url(path, ident, retry_errors=retry_errors) for ix in indexes]
        else:
            stat = file_stat(path)
            states = [ix.match(path, stat, retry_errors=retry_errors) for ix in indexes]
        missing = tuple(i for i, s in enumerate(states) if s is None)
        first = states[0]
        if missing or first is None:
            todo.append(Todo(path, missing))
            continue
        _count_resumed(first, stats, fail_under)
    return todo


def _count_resumed(state: RowState, stats: JobStats, fail_under: float | None) -> None:
    if state.status == "ok":
        stats.resumed_ok += 1
        if fail_under is not None and state.score is not None and state.score < fail_under:
            stats.below += 1
    else:
        stats.resumed_failed += 1


def _prepare_one(
    prepare: Callable[[Todo], P], preflight: Callable | None, variant: str | None = None
) -> Callable[[Todo], tuple[FileStat | None, P, Any]]:
    from ..inputs.materialize import local_copy

    def prepare_todo(todo: Todo) -> tuple[FileStat | None, P, Any]:
        copy = local_copy(todo.path, variant)  # -, a URL, a manifest: made local here (inputs/materialize.py)
        if copy is not None:
            todo = Todo(copy.path, todo.targets, todo.label)
        try:
            stat = file_stat(
                todo.path
            )  # before decoding: a file changed meanwhile does not match on --resume
            if preflight is not None:
                problems = preflight([todo.path])
                if problems:
                    raise problems[0]
            return stat, prepare(todo), copy
        except BaseException:
            if copy is not None:
                copy.close()
            raise

    return prepare_todo


def _stamp(record: R, stat: FileStat | None) -> R:
    """Make sure every row carries size_bytes/mtime (the --resume key), from the stat taken at decode."""
    if stat is not None:
        for key, value in stat.as_dict().items():
            record.input.setdefault(key, value)
    return record


class _ModelGuard(Generic[P, R]):
    """Turns model failures into error rows, but re-raises the third one in a row."""

    def __init__(self, scorer: ModelStep[P, R], make_error: Callable[[str, BaseException], R]) -> None:
        self.scorer, self.make_error, self.failures = scorer, make_error, 0

    def run(self, prepared: P, path: str) -> R:
        scorer, make_error = self.scorer, self.make_error
        try:
            record = scorer.run(prepared)
        except InputError as exc:
            return make_error(path, exc)
        except Exception as exc:  # noqa: BLE001 - recorded as a row; repeated failures re-raise
            self.failures += 1
            if self.failures >= MAX_CONSECUTIVE_MODEL_FAILURES:
                raise
            return make_error(path, exc)
        self.failures = 0
        return record


def _no_progress(n: int = 1) -> None:
    """``advance`` of a job nobody watches."""


@overload
def run_batch(
    todo: Sequence[Todo],
    scorer: BatchScorer[P, R],
    sink: Callable[[R, tuple[int, ...]], None],
    *,
    make_error: Callable[[str, BaseException], R],
    workers: int,
    depth: int,
    stats: JobStats,
    advance: Callable[[int], None] = ...,
    fail_under: float | None = ...,
    preflight: Callable | None = ...,
    prepare: None = ...,
    variant: str | None = ...,
) -> JobStats: ...
@overload
def run_batch(
    todo: Sequence[Todo],
    scorer: ModelStep[P, R],
    sink: Callable[[R, tuple[int, ...]], None],
    *,
    make_error: Callable[[str, BaseException], R],
    workers: int,
    depth: int,
    stats: JobStats,
    advance: Callable[[int], None] = ...,
    fail_under: float | None = ...,
    preflight: Callable | None = ...,
    prepare: Callable[[Todo], P],
    variant: str | None = ...,
) -> JobStats: ...
def run_batch(
    todo: Sequence[Todo],
    scorer: Any,
    sink: Callable[[R, tuple[int, ...]], None],
    *,
    make_error: Callable[[str, BaseException], R],
    workers: int,
    depth: int,
    stats: JobStats,
    advance: Callable[[int], None] = _no_progress,
    fail_under: float | None = None,
    preflight: Callable | None = None,
    prepare: Callable[[Todo], Any] | None = None,
    variant: str | None = None,
) -> JobStats:
    """Score ``todo`` in order; ``sink(record, targets)`` writes each row (of the job's record type ``R``) as
    soon as it exists.

    ``scorer``: a :class:`BatchScorer` (``scorer.prepare(todo.path)`` in worker threads), or with
    ``prepare(todo)`` a :class:`ModelStep` (``vqa2 eval``: the label's stalling goes in); its ``run`` takes what
    was prepared. Ctrl-C stops after the rows already written (``stats.interrupted``); the caller reports it."""
    start = time.perf_counter()
    guard = _ModelGuard(scorer, make_error)
    by_path = prepare if prepare is not None else lambda item: scorer.prepare(item.path)
    results = prefetch(todo, _prepare_one(by_path, preflight, variant), workers=workers, depth=depth)
    try:
        waited = time.perf_counter()
        for done in results:
            stats.wait_s += time.perf_counter() - waited
            item, stats.prepare_s = done.item, stats.prepare_s + done.seconds
            copy = None
            if done.error is not None:
                stat, record = file_stat(item.path), given_error(item.path, done.error, make_error)
            else:
                t0 = time.perf_counter()
                stat, copy = done.value[0], done.value[2]
                record = guard.run(done.value[1], item.path)
                record = copy.rename(record) if copy is not None else record
                stats.run_s += time.perf_counter() - t0
            del done  # free the prepared clip before the next one is taken
            try:
                with deferred():  # row, counts and progress go together (a Ctrl-C waits for all three)
                    sink(_stamp(record, stat if copy is None else None), item.targets)  # a copy's mtime: none
                    _count(record, stats, fail_under)
                    advance(1)
            finally:
                if copy is not None:
                    copy.close()
            waited = time.perf_counter()
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        results.close()
        stats.wall_s += time.perf_counter() - start
    return stats


def given_error(path: str, exc: BaseException, make_error: Callable[[str, BaseException], R]) -> R:
    """The error row of an input that failed before it was read: named as given, without credentials."""
    from ..inputs.given import input_kind, shown

    record = make_error(shown(path), exc)
    kind = input_kind(path).value
    if kind != "file" and hasattr(record, "origin"):
        record.origin = {"given": shown(path), "kind": kind}
    return record


def _count(record: JobRecord, stats: JobStats, fail_under: float | None) -> None:
    if record.status == "ok":
        stats.ok += 1
        score = record.score
        if fail_under is not None and score is not None and score < fail_under:
            stats.below += 1
    else:
        stats.failed += 1
        stats.failed_paths.append(record.path)


def share_cpu_with_workers(device_type: str, workers: int) -> int | None:
    """With the model on the CPU, leave one core per decode worker: torch's intra-op threads become
    ``max(1, CPUs - workers)``. Without this, OpenMP threads and decode threads oversubscribe the cores
    and the model slows down several-fold (benchmarks/RESULTS.md "Batch"). Skipped when the user set
    ``OMP_NUM_THREADS``. Returns the previous thread count when it changed it, else None."""
    if device_type != "cpu" or workers <= 0 or os.environ.get("OMP_NUM_THREADS"):
        return None
    import torch

    before = torch.get_num_threads()
    wanted = max(1, (os.cpu_count() or 1) - workers)
    if wanted >= before:
        return None
    torch.set_num_threads(wanted)
    return before


def error_row_factory(settings: Any) -> Callable[[str, BaseException], Any]:
    """``make_error`` for :func:`run_batch`: ``pipeline.run.error_record`` for every kind of failure.

    Non-input failures keep their type in the message and get code ``runtime_error`` (a ``Vqa2Error``
    such as out-of-memory) or ``internal_error`` (a bug: please report it)."""
    from ..errors import Vqa2Error
    from ..pipeline.run import error_record

    def make(path: str, exc: BaseException) -> Any:
        if isinstance(exc, InputError):
            return error_record(path, exc, settings)
        text = exc.one_line() if isinstance(exc, Vqa2Error) else f"{type(exc).__name__}: {exc}"
        record = error_record(path, InputError(path, " ".join(text.split())), settings)
        record.error_code = "runtime_error" if isinstance(exc, Vqa2Error) else "internal_error"
        return record

    return make
