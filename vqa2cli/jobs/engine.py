"""``run_job(spec, settings, ref, console, windows) → JobStats``: one `vqa2 batch` run, below the CLI.

Lock the outputs (lock.py) → refuse to clobber them, and on ``--resume`` refuse other settings than the
recorded ones (resume.py, provenance.py) → discover the videos and keep this shard / rank's part (discover.py)
→ skip the files every output already holds (``--resume``: torn tails cut, path + size + mtime matched) →
score the rest with decode workers running ahead, rows appended and fsync'd as each file finishes (loop.py,
rowfiles.py), window rows, gate and plots per file (windows.py) → under torchrun, merge the ranks' part files
(distributed.py). The stats come back to the command, which turns them into messages and an exit code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import UsageError
from ..video.decode_pool import DEFAULT_DECODE_PROCESSES
from .distributed import detect_distributed, finish_distributed, part_targets
from .feeding import threads_for
from .loop import BatchScorer, JobStats
from .prefetch import default_workers
from .rowfiles import check_row_file

if TYPE_CHECKING:
    from .windows import SegmentPlan


class JobScorer(BatchScorer, Protocol):
    """The scorer of a batch job: the model (:class:`~vqa2cli.pipeline.segmented.SegmentingScorer`) or the
    servers of ``--server`` (:class:`~vqa2cli.remote.scorers.RemoteBatchScorer`)."""

    last_thumbnails: Sequence[Any]  # the last record's worst-window key frames for --plot; () when none kept


RESUME_HINT = "finished rows are saved; run the same command with --resume to continue"


@dataclass
class JobSpec:
    """What to score and where the rows go: the command's options that shape the run (model options are
    :class:`~vqa2cli.config.Settings`)."""

    inputs: list[str]
    csv: str | None = None
    jsonl: str | None = None
    vmaf_json: str | None = None  # libvmaf's JSON log layout, one document per line (output/vmaf.py)
    from_files: list[str] = field(default_factory=list)
    resume: bool = False
    overwrite: bool = False
    retry_errors: bool = False
    recursive: bool = True
    workers: int = field(default_factory=default_workers)  # decode threads (jobs/prefetch.py)
    decode_processes: int = DEFAULT_DECODE_PROCESSES  # decode worker processes (jobs/feeding.py)
    prefetch: int | None = None
    shard: str | None = None
    fail_under: float | None = None
    summary: bool = False
    offline: bool = False
    remote: Any = None  # remote.scorers.RemoteBatchScorer with --server: files go to the server(s)
    gates: Any = None  # calibration.apply.RecordGates: --calibration and its gates, applied before each row
    variant: str | None = None  # HLS/DASH: the variant read (inputs/manifest.py check_variant); not "all"

    def validate(self) -> None:
        """UsageError (exit 2) for options that contradict each other; OutputError (exit 5) for an output
        that cannot be created, before any work."""
        given: list[tuple[str, str]] = [(f, p) for f, p in self._flags() if p]
        if not given:
            raise UsageError(
                "no output file given", "add --csv FILE and/or --jsonl FILE (or --vmaf-json FILE)"
            )
        for i, (flag, path) in enumerate(given):
            for other, path2 in given[i + 1 :]:
                if os.path.abspath(path) == os.path.abspath(path2):
                    raise UsageError(f"{flag} and {other} both name {path}", "give them different files")
        for flag, path in given:
            if path == "-":  # stdout is not a batch output: rows are appended, locked and resumed in files
                raise UsageError(
                    f"{flag} - is not supported: batch outputs are files",
                    "give a file path; for results on stdout use `vqa2 score --format csv|jsonl`",
                )
        for flag, path in given:  # exit 5 (cannot be created) or 2 (a device/FIFO) before any work
            check_row_file(path, flag, overwrite=self.overwrite)
        if not self.inputs and not self.from_files:
            raise UsageError("no inputs given", "name folders, globs, files or @LIST after `vqa2 batch`")
        if self.retry_errors and not self.resume:
            raise UsageError("--retry-errors only applies with --resume", "add --resume")
        if self.workers < 0 or (self.prefetch is not None and self.prefetch < 1):
            raise UsageError("--workers must be >= 0 and --prefetch >= 1")
        if self.decode_processes < 0:
            raise UsageError("--decode-processes must be >= 0", "pass 0 (decode in the threads) or more")
        if self.fail_under is not None and not 0.0 <= self.fail_under <= 1.0:
            raise UsageError(
                f"--fail-under must be between 0 and 1, got {self.fail_under}", "scores are on the 0-1 scale"
            )

    def outputs(self):
        from .resume import OutputSpec

        return [
            OutputSpec(p, f)
            for p, f in ((self.csv, "csv"), (self.jsonl, "jsonl"), (self.vmaf_json, "vmaf-json"))
            if p
        ]

    def _flags(self) -> tuple[tuple[str, str | None], ...]:
        """(flag, path or None) of each row file: --csv, --jsonl, --vmaf-json."""
        return (("--csv", self.csv), ("--jsonl", self.jsonl), ("--vmaf-json", self.vmaf_json))


def run_job(job: JobSpec, settings, ref, console, windows=None) -> JobStats:
    """Run ``job`` with ``settings`` (model ``ref``; ``job.remote`` instead with ``--server``) and return its
    stats; ``windows`` is the command's :class:`~vqa2cli.jobs.windows.SegmentPlan`. A second run on the same
    output is refused (UsageError, exit 2); Ctrl-C returns with ``stats.interrupted``. Raises OutputError
    (exit 5) when an output cannot be written (the rows written stay) and ModelError when the model fails."""
    from .lock import locked_outputs

    dist = detect_distributed()
    finals = [o.path for o in job.outputs()]
    mine = part_targets(finals, dist) + (finals if dist is not None and dist.rank == 0 else [])
    if windows is not None and windows.csv:
        mine.append(windows.csv)
    with locked_outputs(mine, console.warning):
        return _run_locked(job, settings, ref, console, dist, windows)


def _run_locked(job: JobSpec, settings, ref, console, dist, windows) -> JobStats:
    from .loop import plan_todo
    from .provenance import record_settings
    from .windows import check_plot_dir, check_segments_csv

    _check_files(job, dist)
    windows = check_segments_csv(
        windows, resume=job.resume, overwrite=job.overwrite, distributed=dist is not None
    )
    for spec in job.outputs():  # the window actually used changes the numbers: recorded and compared too
        record_settings(
            spec.path,
            settings,
            resume=job.resume,
            write=dist is None or dist.rank == 0,
            run=window_run(windows),
        )
    paths, ignored = _discover(job, dist, console)
    check_plot_dir(windows, paths, resume=job.resume, overwrite=job.overwrite)
    stats = JobStats(ignored=ignored if dist is None or dist.rank == 0 else 0)
    todo = plan_todo(
        paths,
        _done_indexes(job, dist, console),
        retry_errors=job.retry_errors,
        stats=stats,
        fail_under=job.fail_under,
    )
    if not paths:
        console.warning("no video files found in the inputs")
    _score(job, settings, ref, todo, stats, dist, console, windows)
    if dist is not None and not stats.interrupted:
        stats = finish_distributed(
            job.outputs(), dist, stats, overwrite=job.overwrite, log=console.info, debug=console.debug
        )
    return stats


def window_run(windows: SegmentPlan) -> dict[str, Any]:
    """The ``run`` section of the settings record for the command's window plan: ``segments_s`` is the
    forced window length in seconds (``--segments``, or the card's window implied by --segments-csv,
    --fail-segment-under, --plot-dir), None when windows are used only past the model's limits (the
    ``video.long_clip_policy`` of the settings). A record older than this key compares as None."""
    return {"segments_s": windows.window_s}


def _discover(job: JobSpec, dist, console) -> tuple[list[str], int]:
    """This process's video files (shard, then rank) and how many files the inputs held that are not video."""
    from .discover import expand_inputs, parse_shard, select_shard

    index, count = parse_shard(job.shard) if job.shard else (0, 1)
    rank, world = (dist.rank, dist.world) if dist is not None else (0, 1)  # each rank: its part of the shard
    found = discover_given(expand_inputs(job.inputs, job.from_files), recursive=job.recursive)
    for pattern in found.empty_globs:
        console.warning(f"'{pattern}' matched no file")
    for path in found.ignored:
        console.debug(f"skipped ({found.reasons.get(path, 'not video')}): {path}")
    if found.ignored:
        why = ", ".join(f"{n} {reason}" for reason, n in found.skip_counts().items())
        console.info(f"skipped {len(found.ignored)} file(s) in the inputs: {why} (--verbose lists them)")
    videos = select_shard(found.videos, index, count, rank=rank, world=world)
    if count > 1 or world > 1:
        where = (f"shard {index + 1}/{count}" if count > 1 else "") + (
            f" rank {rank}/{world}" if world > 1 else ""
        )
        console.info(f"{where.strip()}: {len(videos)} of {len(found.videos)} video files")
    return [v.path for v in videos], len(found.ignored)


def discover_given(items: list[str], *, recursive: bool):
    """:func:`~vqa2cli.jobs.discover.discover` for local items; ``-``, URLs and manifests are kept as given
    (made local when scored, inputs/materialize.py), sorted with the files."""
    from ..inputs.given import InputKind, input_kind
    from .discover import VideoFile, discover

    special = [i for i in items if input_kind(i) is not InputKind.FILE]
    if "-" in special and sys.stdin.isatty():
        raise UsageError(
            "- reads a video from stdin, but stdin is a terminal",
            "pipe a video in: ffmpeg -i in.mp4 -c copy -f matroska - | vqa2 batch - --jsonl rows.jsonl",
        )
    found = discover([i for i in items if input_kind(i) is InputKind.FILE], recursive=recursive)
    if special:
        found.videos += [VideoFile(i, i) for i in dict.fromkeys(special)]
        found.videos.sort(key=lambda v: v.path)
    return found


def refuse_network_inputs(job: JobSpec, why: str) -> None:
    """UsageError (exit 2, before any work) when the job's inputs (``@LIST`` lines included) hold ``-``, a
    URL or a manifest, which a later phase could not read again (``why``: the phase)."""
    from ..inputs.given import InputKind, input_kind, shown
    from .discover import expand_inputs

    for item in expand_inputs(job.inputs, job.from_files):
        if input_kind(item) is not InputKind.FILE:
            raise UsageError(
                f"{shown(item)}: {why}", "score it with `vqa2 score --explain`, or save it as a file"
            )


def _targets(job: JobSpec, dist) -> list[str]:
    return part_targets([o.path for o in job.outputs()], dist)


def _check_files(job: JobSpec, dist) -> None:
    """Existing outputs (and part files of an earlier launch) need --resume or --overwrite."""
    from .resume import check_existing, existing_parts

    specs = job.outputs()
    own = _targets(job, dist) if dist is not None else []
    check_existing(specs, resume=job.resume, overwrite=job.overwrite, extra=own)
    if dist is not None and dist.rank == 0:
        stale = [
            p for o in specs for p in existing_parts(o.path) if int(p.rsplit(".rank", 1)[1]) >= dist.world
        ]
        if stale and job.overwrite:
            for path in stale:
                os.remove(path)
        elif stale and not job.resume:
            check_existing(specs, resume=False, overwrite=False, extra=stale)


def _done_indexes(job: JobSpec, dist, console):
    """--resume: cut torn last lines, then index every output's finished rows (part files included)."""
    from dataclasses import replace

    from .resume import DoneIndex, existing_parts, repair_tail

    if not job.resume:
        return None
    own = _targets(job, dist)
    repair = own + ([o.path for o in job.outputs()] if dist is not None and dist.rank == 0 else [])
    fmts = [o.fmt for o in job.outputs()]
    for path, fmt in zip(repair, fmts + fmts):
        dropped = repair_tail(path, fmt)
        if dropped:
            console.warning(f"{path}: dropped a torn last line ({dropped} bytes) left by an interrupted run")
    indexes = []
    for spec in job.outputs():
        index = DoneIndex()
        for path in [spec.path] + (existing_parts(spec.path) if dist is not None else []):
            index.add_file(replace(spec, path=path))  # a header other than this version's is refused
        indexes.append(index)
    return indexes


def _score(job: JobSpec, settings, ref, todo, stats: JobStats, dist, console, windows) -> None:
    """Score ``todo`` into the row files (and window rows / plots); counts go to ``stats``."""
    from ..pipeline import interrupts
    from ..pipeline.run import preflight
    from .loop import run_batch
    from .rowfiles import RowFiles
    from .windows import SegmentOutputs

    interrupts.expect(len(todo), RESUME_HINT)
    segment_out = SegmentOutputs(windows, settings, console, append=job.resume, durable=True)
    scorer, make_error, workers = _scorer(job, settings, ref, todo, console, windows, segment_out)
    rows = RowFiles(
        _targets(job, dist), [o.fmt for o in job.outputs()], append=job.resume, make_writer=score_row_writer
    )
    sink = _sink(rows, segment_out, scorer, console, job.gates)
    pool = _decode_pool(scorer, job.decode_processes)  # None: decode in the threads
    workers = threads_for(workers, job.decode_processes if pool is not None else 0)
    threads = _share_cpu(scorer, threads_for(job.workers, job.decode_processes), console) if todo else None
    try:
        if todo:
            depth = job.prefetch or max(1, 2 * workers)
            with console.progress(len(todo), "scoring") as advance:
                run_batch(
                    todo,
                    scorer,
                    sink,
                    make_error=make_error,
                    workers=workers,
                    depth=depth,
                    stats=stats,
                    advance=advance,
                    fail_under=job.fail_under,
                    preflight=preflight,
                    variant=job.variant,
                )
    finally:
        rows.close()
        segment_out.close()
        if pool is not None:
            pool.close()  # the worker processes stop, the model's own decoder is back
        if threads is not None:  # callers running several commands in one process get theirs back
            import torch

            torch.set_num_threads(threads)
    stats.segment_failed = segment_out.failed_files


def _decode_pool(scorer, processes: int):
    """``--decode-processes``: the model's ``decoder`` set to a pool of worker processes (jobs/feeding.py)
    → its ``ExitStack`` (closing it stops them and restores the decoder); None without a model here
    (``--server``, nothing to score) or with 0 processes."""
    from contextlib import ExitStack

    from ..pipeline.run import ModelSession
    from .feeding import feeding

    if not isinstance(scorer, ModelSession) or processes <= 0:
        return None
    stack = ExitStack()
    stack.enter_context(feeding(scorer, workers=0, processes=processes, read_ahead=False))
    return stack


def score_row_writer(fmt, stream, header):
    """``make_writer`` of the row files: score records in this version's columns (a resumed CSV has them:
    :func:`~vqa2cli.jobs.resume.read_rows` refuses any other header)."""
    from ..output.render import make_writer

    return make_writer(fmt, stream, "score", header=header)


def _scorer(job: JobSpec, settings, ref, todo, console, windows, segment_out):
    """(scorer, make_error, workers): the server(s) of ``--server``, else the model, loaded only when there
    is something to score."""
    from ..pipeline.run import clip_shapes
    from .loop import error_row_factory
    from .windows import wired_scorer

    make_error = error_row_factory(settings)
    if (
        job.remote is not None
    ):  # --server: requests run in the worker threads (RemoteBatchScorer.workers at least)
        from ..inputs.materialize import as_given

        def on_window(path, entry, stat):  # --segments-csv rows from the returned windows, named as given
            segment_out.on_window(as_given(path), entry, stat)

        job.remote.on_window = on_window
        return job.remote, job.remote.error_factory(make_error), max(job.workers, job.remote.workers)
    if not todo:
        return None, make_error, job.workers
    console.info(f"Loading {settings.model.label} ...")
    scorer = wired_scorer(
        settings, ref, windows, segment_out, offline=job.offline, clips=clip_shapes([t.path for t in todo])
    )
    for line in scorer.memory_lines:
        console.info(line)
    return scorer, make_error, job.workers


def _sink(rows, segment_out, scorer: JobScorer, console, gates=None):
    """``sink(record, targets)`` for :func:`~vqa2cli.jobs.loop.run_batch`: the row, then its windows' gate
    and plot, then a line on stderr for a failed file (and the timing with --verbose)."""
    from ..pipeline import interrupts
    from ..pipeline.stages import format_timing

    def sink(record, targets) -> None:
        if gates is not None:
            gates.apply(record, console)
        rows.write(record, targets)
        interrupts.advance()  # run_batch defers Ctrl-C until the row is written and counted
        segment_out.after(record, scorer.last_thumbnails)
        if record.status != "ok":
            console.warning(record.error or f"{record.path}: failed")
            return
        console.warnings(record.warnings or (), prefix=f"{record.path}: ")  # damage said as `score` says it
        if record.timing:
            console.debug(f"{record.path}: {format_timing(record.timing)}")

    return sink


def _share_cpu(scorer: JobScorer, workers: int, console) -> int | None:
    """The model on CPU gets one core less per decode worker; returns the thread count to restore."""
    from ..pipeline.run import ModelSession
    from .loop import share_cpu_with_workers

    device = scorer.loaded.device.type if isinstance(scorer, ModelSession) else ""  # --server: no model here
    before = share_cpu_with_workers(device, workers)
    if before is not None:
        import torch

        console.debug(
            f"model on CPU: torch threads {before} -> {torch.get_num_threads()} "
            f"(one core per decode worker; set OMP_NUM_THREADS to choose)"
        )
    return before
