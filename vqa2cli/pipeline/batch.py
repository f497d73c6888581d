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

Multi-GPU on one node (``torchrun --nproc-per-node G -m vqa2cli batch DIR --csv out.csv`` or
``accelerate launch --multi_gpu --num_processes G -m vqa2cli batch ...``): every process reads
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment,
takes shard ``RANK`` of ``WORLD_SIZE`` (inside ``--shard K/N`` when both are given), runs on
``cuda:LOCAL_RANK`` and writes its rows to ``<output>.rank<RANK>``. When it is done it writes
``<first output>.rank<RANK>.done``; rank 0 waits for every rank's marker (a file-based wait: no
``torch.distributed`` process group is needed), appends all part files to the final output(s) sorted
by path, deletes the parts and prints the summary of the whole run. Ranks other than 0 always exit 0
after their marker so that the launcher does not kill rank 0 before it merges; rank 0's exit code
covers every rank (torchrun itself then exits 1 when it is not 0). A run stopped half-way resumes with
the same command plus ``--resume`` (any process count: every rank reads the final output and all part
files to skip finished files).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from ..errors import InputError
from .discover import file_stat
from .interrupts import deferred
from .prefetch import prefetch
from .resume import DoneIndex, RowState

MAX_CONSECUTIVE_MODEL_FAILURES = 3


class BatchScorer(Protocol):
    def prepare(self, path: str) -> Any: ...
    def run(self, prepared: Any) -> Any: ...


@dataclass
class Todo:
    """A file to score and the outputs (indices) that still lack its row."""

    path: str
    targets: tuple[int, ...]


@dataclass
class BatchStats:
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

    @property
    def scored(self) -> int:
        return self.ok + self.failed

    @property
    def any_failed(self) -> bool:
        return bool(self.failed or self.resumed_failed)

    def add(self, other: BatchStats) -> None:
        for name in ("ok", "failed", "resumed_ok", "resumed_failed", "ignored", "below", "prepare_s", "run_s",
                     "wait_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_paths += other.failed_paths
        self.wall_s = max(self.wall_s, other.wall_s)
        self.interrupted |= other.interrupted

    def summary(self) -> str:
        rate = self.scored / self.wall_s if self.wall_s > 0 else 0.0
        skipped = self.resumed_ok + self.resumed_failed + self.ignored
        text = (f"{self.ok} ok, {self.failed} failed, {skipped} skipped ({self.ignored} not video, "
                f"{self.resumed_ok + self.resumed_failed} already done"
                + (f", {self.resumed_failed} of them errors" if self.resumed_failed else "")
                + f"); {self.scored} files in {self.wall_s:.1f} s ({rate:.2f} files/s)")
        return ("interrupted: " if self.interrupted else "") + text

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BatchStats:
        return cls(**json.loads(text))


def plan_todo(paths: Sequence[str], indexes: Sequence[DoneIndex] | None, *, retry_errors: bool,
              stats: BatchStats, fail_under: float | None) -> list[Todo]:
    """Drop files every output already holds (``--resume``); count them (and their scores) in ``stats``."""
    if not indexes:
        return [Todo(p, ()) for p in paths]
    todo = []
    for path in paths:
        stat = file_stat(path)
        states = [ix.match(path, stat, retry_errors=retry_errors) for ix in indexes]
        missing = tuple(i for i, s in enumerate(states) if s is None)
        if missing:
            todo.append(Todo(path, missing))
            continue
        _count_resumed(states[0], stats, fail_under)
    return todo


def _count_resumed(state: RowState, stats: BatchStats, fail_under: float | None) -> None:
    if state.status == "ok":
        stats.resumed_ok += 1
        if fail_under is not None and state.score is not None and state.score < fail_under:
            stats.below += 1
    else:
        stats.resumed_failed += 1


def _prepare_one(scorer: BatchScorer, preflight: Callable | None) -> Callable[[Todo], Any]:
    def prepare(todo: Todo) -> Any:
        stat = file_stat(todo.path)
        if preflight is not None:
            problems = preflight([todo.path])
            if problems:
                raise problems[0]
        return stat, scorer.prepare(todo.path)

    return prepare


def _stamp(record: Any, stat: tuple[int, float] | None) -> Any:
    """Make sure every row carries size_bytes/mtime (the --resume key), from the stat taken at decode."""
    inputs = getattr(record, "input", None)
    if stat is not None and isinstance(inputs, dict):
        size_bytes, mtime = stat
        inputs.setdefault("size_bytes", size_bytes)
        inputs.setdefault("mtime", mtime)
    return record


class _ModelGuard:
    """Turns model failures into error rows, but re-raises the third one in a row."""

    def __init__(self) -> None:
        self.failures = 0

    def run(self, scorer: BatchScorer, prepared: Any, path: str, make_error) -> Any:
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


def run_batch(todo: Sequence[Todo], scorer: BatchScorer, sink: Callable[[Any, tuple[int, ...]], None], *,
              make_error: Callable[[str, BaseException], Any], workers: int, depth: int,
              stats: BatchStats, advance: Callable[[int], None] = lambda n=1: None,
              fail_under: float | None = None, preflight: Callable | None = None) -> BatchStats:
    """Score ``todo`` in order; ``sink(record, targets)`` writes each row as soon as it exists.

    Ctrl-C stops after the rows already written (``stats.interrupted``); the caller reports it."""
    start = time.perf_counter()
    guard = _ModelGuard()
    results = prefetch(todo, _prepare_one(scorer, preflight), workers=workers, depth=depth)
    try:
        waited = time.perf_counter()
        for done in results:
            stats.wait_s += time.perf_counter() - waited
            item, stats.prepare_s = done.item, stats.prepare_s + done.seconds
            if done.error is not None:
                stat, record = file_stat(item.path), make_error(item.path, done.error)
            else:
                t0 = time.perf_counter()
                stat, record = done.value[0], guard.run(scorer, done.value[1], item.path, make_error)
                stats.run_s += time.perf_counter() - t0
            done = None  # free the prepared clip before the next one is taken
            with deferred():  # row, counts and progress go together (a Ctrl-C waits for all three)
                sink(_stamp(record, stat), item.targets)
                _count(record, stats, fail_under)
                advance(1)
            waited = time.perf_counter()
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        results.close()
        stats.wall_s += time.perf_counter() - start
    return stats


def _count(record: Any, stats: BatchStats, fail_under: float | None) -> None:
    if getattr(record, "status", "ok") == "ok":
        stats.ok += 1
        score = getattr(record, "score", None)
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
    from .run import error_record

    def make(path: str, exc: BaseException) -> Any:
        if isinstance(exc, InputError):
            return error_record(path, exc, settings)
        text = exc.one_line() if isinstance(exc, Vqa2Error) else f"{type(exc).__name__}: {exc}"
        record = error_record(path, InputError(path, " ".join(text.split())), settings)
        record.error_code = "runtime_error" if isinstance(exc, Vqa2Error) else "internal_error"
        return record

    return make


# --- multi-process runs (torchrun / accelerate launch) -------------------------------------------
@dataclass(frozen=True)
class Distributed:
    rank: int
    world: int
    local_rank: int
    run_id: str  # same for every process of one launch, differs between launches


def detect_distributed(env: dict[str, str] | None = None) -> Distributed | None:
    """RANK/WORLD_SIZE/LOCAL_RANK as set by torchrun and accelerate launch; None for a single process."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE") or 1)
        rank = int(env.get("RANK") or 0)
        local_rank = int(env.get("LOCAL_RANK") or rank)
    except ValueError:
        return None
    if world <= 1:
        return None
    # Workers of one torchrun/accelerate launch share the launcher as parent process.
    run_id = f"{env.get('TORCHELASTIC_RUN_ID', '')}:{env.get('MASTER_PORT', '')}:{os.getppid()}"
    return Distributed(rank, world, local_rank, run_id)


def marker_path(first_output: str, rank: int) -> str:
    return f"{first_output}.rank{rank}.done"


def write_marker(first_output: str, dist: Distributed, stats: BatchStats) -> None:
    path = marker_path(first_output, dist.rank)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"run_id": dist.run_id, "stats": stats.to_json()}))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def wait_for_ranks(first_output: str, dist: Distributed, *, poll_s: float = 0.2,
                   log: Callable[[str], None] = lambda m: None) -> BatchStats:
    """Rank 0: block until every rank's marker of this launch exists; return the summed stats."""
    total, pending, last_log = BatchStats(), set(range(dist.world)), time.monotonic()
    while pending:
        for rank in sorted(pending):
            try:
                with open(marker_path(first_output, rank), encoding="utf-8") as fh:
                    marker = json.load(fh)
            except (OSError, ValueError):
                continue
            if marker.get("run_id") == dist.run_id:
                total.add(BatchStats.from_json(marker["stats"]))
                pending.discard(rank)
        if pending:
            if time.monotonic() - last_log > 60:
                log(f"waiting for ranks {sorted(pending)} to finish")
                last_log = time.monotonic()
            time.sleep(poll_s)
    for rank in range(dist.world):
        os.remove(marker_path(first_output, rank))
    return total
