"""`vqa2 batch INPUT... --csv FILE`: score whole folders into CSV/JSONL files that survive crashes."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any, Optional

import typer

from ..errors import ExitCode, UsageError
from ..output.rowfiles import RowFiles, check_output_path  # the row writer (kept importable from here)
from .options import (ConfigOpt, DeviceOpt, DtypeOpt, FailUnderOpt, MaxMotionOpt, ModelOpt, OfflineOpt,
                      PolicyOpt, StrictOpt, QuantOpt, QuietOpt, ScoringPromptOpt, ServerPathsOpt, VerboseOpt, model_label,
                      scoring_settings, start_console)
from .segments import (FailSegmentOpt, PlotDirOpt, PoolOpt, SegmentsCsvOpt, SegmentsOpt,
                       check_plot_dir, check_segments_csv)

EXAMPLES = """Examples:

  vqa2 batch encodes/ --csv scores.csv

  vqa2 batch 'night/**/*.mkv' @extra.txt --jsonl scores.jsonl --csv scores.csv --workers 8

  vqa2 batch encodes/ --csv scores.csv --resume          # after a crash: skip finished files

  vqa2 batch encodes/ --csv part3.csv --shard 3/8        # Slurm array / Kubernetes job 3 of 8

  vqa2 batch x264-out/ --csv scores.csv --strict          # .264/.265 found too; damaged files are error rows

  torchrun --nproc-per-node 4 -m vqa2cli batch encodes/ --csv scores.csv   # 4 GPUs, one CSV

  vqa2 batch episodes/ --csv scores.csv --segments 10s --segments-csv windows.csv --plot-dir plots/

  vqa2 batch encodes/ --csv scores.csv --server http://gpu1:8000 --server http://gpu2:8000

Rows are appended and fsync'd as each file finishes, so an interrupted run keeps every finished row;
--resume skips files whose path, size and mtime match a row (error rows included unless --retry-errors)
and appends the rest. An existing output is never truncated without --overwrite, and is locked while a
run writes it (a second run on it is refused, naming the first). Exit codes: 0 ok, 1 a score is below
--fail-under (or a window below --fail-segment-under), 2 usage error or output locked, 3 some files failed
(error rows; takes precedence over 1), 4 model error, 5 an output could not be written (disk full, read-only
folder; rows written are kept), 130 Ctrl-C (resume with --resume)."""


@dataclass
class BatchJob:
    """The command's options that shape the run (model options go to Settings)."""

    inputs: list[str]
    csv: str | None = None
    jsonl: str | None = None
    from_files: list[str] = field(default_factory=list)
    resume: bool = False
    overwrite: bool = False
    retry_errors: bool = False
    recursive: bool = True
    workers: int = 1
    prefetch: int | None = None
    shard: str | None = None
    fail_under: float | None = None
    summary: bool = False
    offline: bool = False
    remote: Any = None  # serve.client.RemoteBatchScorer with --server: files go to the server(s)

    def validate(self) -> None:
        if not self.csv and not self.jsonl:
            raise UsageError("no output file given", "add --csv FILE and/or --jsonl FILE")
        if self.csv and self.jsonl and os.path.abspath(self.csv) == os.path.abspath(self.jsonl):
            raise UsageError(f"--csv and --jsonl both name {self.csv}", "give them different files")
        for flag, path in (("--csv", self.csv), ("--jsonl", self.jsonl)):
            if path == "-":  # stdout is not a batch output: rows are appended, locked and resumed in files
                raise UsageError(f"{flag} - is not supported: batch outputs are files",
                                 "give a file path; for results on stdout use `vqa2 score --format csv|jsonl`")
        for path in filter(None, (self.csv, self.jsonl)):
            check_output_path(path)  # exit 5 before any work, as for any output that cannot be written
        if not self.inputs and not self.from_files:
            raise UsageError("no inputs given", "name folders, globs, files or @LIST after `vqa2 batch`")
        if self.retry_errors and not self.resume:
            raise UsageError("--retry-errors only applies with --resume", "add --resume")
        if self.workers < 0 or (self.prefetch is not None and self.prefetch < 1):
            raise UsageError("--workers must be >= 0 and --prefetch >= 1")
        if self.fail_under is not None and not 0.0 <= self.fail_under <= 1.0:
            raise UsageError(f"--fail-under must be between 0 and 1, got {self.fail_under}",
                             "scores are on the 0-1 scale")

    def outputs(self):
        from ..pipeline.resume import OutputSpec

        return [OutputSpec(p, f) for p, f in ((self.csv, "csv"), (self.jsonl, "jsonl")) if p]


def _discover(job: BatchJob, dist, console):
    from ..pipeline.discover import discover, expand_inputs, parse_shard, select_shard

    index, count = parse_shard(job.shard) if job.shard else (0, 1)
    rank, world = (dist.rank, dist.world) if dist is not None else (0, 1)  # each rank: its part of the shard
    found = discover(expand_inputs(job.inputs, job.from_files), recursive=job.recursive)
    for pattern in found.empty_globs:
        console.warning(f"'{pattern}' matched no file")
    for path in found.ignored:
        console.debug(f"skipped ({found.reasons.get(path, 'not video')}): {path}")
    if found.ignored:
        why = ", ".join(f"{n} {reason}" for reason, n in found.skip_counts().items())
        console.info(f"skipped {len(found.ignored)} file(s) in the inputs: {why} (--verbose lists them)")
    videos = select_shard(found.videos, index, count, rank=rank, world=world)
    if count > 1 or world > 1:
        where = (f"shard {index + 1}/{count}" if count > 1 else "") + (f" rank {rank}/{world}" if world > 1 else "")
        console.info(f"{where.strip()}: {len(videos)} of {len(found.videos)} video files")
    return [v.path for v in videos], len(found.ignored)


def _targets(job: BatchJob, dist) -> list[str]:
    """Where this process writes: the outputs themselves, or its part files under torchrun."""
    from ..pipeline.resume import part_path

    finals = [o.path for o in job.outputs()]
    return finals if dist is None else [part_path(p, dist.rank) for p in finals]


def _check_files(job: BatchJob, dist) -> None:
    from ..pipeline.resume import check_existing, existing_parts

    specs = job.outputs()
    own = _targets(job, dist) if dist is not None else []
    check_existing(specs, resume=job.resume, overwrite=job.overwrite, extra=own)
    if dist is not None and dist.rank == 0:
        stale = [p for o in specs for p in existing_parts(o.path) if int(p.rsplit(".rank", 1)[1]) >= dist.world]
        if stale and job.overwrite:
            for path in stale:
                os.remove(path)
        elif stale and not job.resume:
            check_existing(specs, resume=False, overwrite=False, extra=stale)


def _done_indexes(job: BatchJob, dist, console):
    from ..pipeline.resume import DoneIndex, existing_parts, repair_tail

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
            index.add_file(type(spec)(path, spec.fmt))
        indexes.append(index)
    return indexes


def run_job(job: BatchJob, settings, ref, console, windows=None) -> ExitCode:
    """Lock the outputs → discover → skip finished (--resume) → score with prefetching → merge parts
    (torchrun) → exit code. A second run on the same output is refused (pipeline/lock.py)."""
    from ..pipeline.batch import detect_distributed
    from ..pipeline.lock import locked_outputs

    dist = detect_distributed()
    finals = [o.path for o in job.outputs()]
    mine = _targets(job, dist) + (finals if dist is not None and dist.rank == 0 else [])
    if windows is not None and windows.csv:
        mine.append(windows.csv)
    with locked_outputs(mine, console.warning):
        return _run_locked(job, settings, ref, console, dist, windows)


def _run_locked(job: BatchJob, settings, ref, console, dist, windows) -> ExitCode:
    from ..errors import OutputError
    from ..pipeline.batch import BatchStats, plan_todo
    from ..pipeline.provenance import check_or_write, sidecar_path

    _check_files(job, dist)
    windows = check_segments_csv(windows, resume=job.resume, overwrite=job.overwrite, distributed=dist is not None)
    for spec in job.outputs():
        try:
            check_or_write(spec.path, settings, resume=job.resume, write=dist is None or dist.rank == 0)
        except OSError as exc:
            raise OutputError(sidecar_path(spec.path), exc) from None
    paths, ignored = _discover(job, dist, console)
    check_plot_dir(windows, paths, resume=job.resume, overwrite=job.overwrite)
    stats = BatchStats(ignored=ignored if dist is None or dist.rank == 0 else 0)
    todo = plan_todo(paths, _done_indexes(job, dist, console), retry_errors=job.retry_errors, stats=stats,
                     fail_under=job.fail_under)
    if not paths:
        console.warning("no video files found in the inputs")
    segment_out = _score(job, settings, ref, todo, stats, dist, console, windows)
    if dist is not None and not stats.interrupted:
        total = _finish_distributed(job, dist, stats, console)
        if total is None:  # not rank 0: rank 0 reports for everyone
            return ExitCode.OK
        stats = total
    code = _report(job, stats, console)
    if code == ExitCode.OK and segment_out.failed_files:
        console.error(f"{segment_out.failed_files} file(s) have a window below --fail-segment-under "
                      f"{windows.fail_segment_under}")
        return ExitCode.GATE_FAILED
    return code


def _score(job: BatchJob, settings, ref, todo, stats, dist, console, windows):
    from ..pipeline.batch import error_row_factory, run_batch
    from ..pipeline.run import clip_shapes, preflight
    from ..pipeline.stages import format_timing
    from .segments import SegmentOutputs, load_scorer

    segment_out = SegmentOutputs(windows, settings, console, append=job.resume, durable=True)
    scorer, make_error, workers = job.remote, error_row_factory(settings), job.workers
    if job.remote is not None:  # --server: requests run in the worker threads, two per server at least
        from ..serve.client import remote_error_factory

        make_error, workers = remote_error_factory(make_error), max(workers, 2 * len(job.remote.clients))
        job.remote.on_window = segment_out.on_window  # --segments-csv rows from the returned windows
    elif todo:
        console.info(f"Loading {model_label(settings)} ...")
        scorer = load_scorer(settings, ref, windows, segment_out, offline=job.offline,
                             clips=clip_shapes([t.path for t in todo]))
        console.info(scorer.memory_note)
    rows = RowFiles(_targets(job, dist), [o.fmt for o in job.outputs()], append=job.resume)

    def sink(record, targets) -> None:
        rows.write(record, targets)
        segment_out.after(record, getattr(scorer, "last_thumbnails", ()))
        if record.status != "ok":
            console.warning(record.error or f"{record.path}: failed")
        elif record.timing:
            console.debug(f"{record.path}: {format_timing(record.timing)}")

    threads = _share_cpu(scorer, job.workers, console) if todo else None
    try:
        if todo:
            depth = job.prefetch or max(1, 2 * workers)
            with console.progress(len(todo), "scoring") as advance:
                run_batch(todo, scorer, sink, make_error=make_error, workers=workers,
                          depth=depth, stats=stats, advance=advance, fail_under=job.fail_under,
                          preflight=preflight)
    finally:
        rows.close()
        segment_out.close()
        if threads is not None:  # callers running several commands in one process get theirs back
            import torch

            torch.set_num_threads(threads)
    return segment_out


def _share_cpu(scorer, workers: int, console) -> int | None:
    """The model on CPU gets one core less per decode worker; returns the thread count to restore."""
    from ..pipeline.batch import share_cpu_with_workers

    loaded = getattr(scorer, "loaded", None)
    device = getattr(getattr(loaded, "device", None), "type", "")
    before = share_cpu_with_workers(device, workers)
    if before is not None:
        import torch

        console.debug(f"model on CPU: torch threads {before} -> {torch.get_num_threads()} "
                      f"(one core per decode worker; set OMP_NUM_THREADS to choose)")
    return before


def _finish_distributed(job: BatchJob, dist, stats, console):
    """Marker for this rank; rank 0 waits for all, merges the part files, returns the summed stats."""
    from ..pipeline.batch import wait_for_ranks, write_marker
    from ..pipeline.resume import existing_parts, merge_parts

    first = job.outputs()[0].path
    write_marker(first, dist, stats)
    if dist.rank != 0:
        console.info(f"rank {dist.rank}: {stats.summary()}")
        return None
    total = wait_for_ranks(first, dist, log=console.info)
    for spec in job.outputs():
        try:
            added = merge_parts(spec, existing_parts(spec.path), overwrite=job.overwrite)
        except OSError as exc:
            from ..errors import OutputError

            raise OutputError(spec.path, exc) from None
        console.debug(f"{spec.path}: merged {added} rows from {dist.world} ranks")
    return total


def _report(job: BatchJob, stats, console) -> ExitCode:
    """Summary on stderr (and --summary JSON on stdout); exit code: 130 > 3 > 1 > 0."""
    outputs = [o.path for o in job.outputs()]
    console.info(f"batch: {stats.summary()} -> {', '.join(outputs)}")
    if stats.interrupted:
        console.info("finished rows are saved; run the same command with --resume to continue")
    if job.summary:
        data = {"ok": stats.ok, "failed": stats.failed, "skipped_not_video": stats.ignored,
                "skipped_done": stats.resumed_ok + stats.resumed_failed, "done_with_errors": stats.resumed_failed,
                "below_fail_under": stats.below, "wall_s": round(stats.wall_s, 3),
                "files_per_s": round(stats.scored / stats.wall_s, 4) if stats.wall_s else 0.0,
                "interrupted": stats.interrupted, "outputs": outputs}
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()
    if stats.interrupted:
        return ExitCode.INTERRUPTED
    if stats.any_failed:
        return ExitCode.INPUT
    if stats.below:
        console.error(f"{stats.below} file(s) scored below --fail-under {job.fail_under}")
        return ExitCode.GATE_FAILED
    return ExitCode.OK


InputsArg = Annotated[Optional[list[str]], typer.Argument(
    metavar="INPUT...", show_default=False,
    help="Folders (recursive), globs ('dir/**/*.mp4'), video files, or @LIST (a file of such inputs).")]


def batch(
    inputs: InputsArg = None,
    csv: Annotated[Optional[str], typer.Option("--csv", metavar="FILE", help="Write one CSV row per file (same columns as `score --format csv`).")] = None,
    jsonl: Annotated[Optional[str], typer.Option("--jsonl", metavar="FILE", help="Write one JSON record per file per line.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Skip files the output(s) already hold (same path, size, mtime); append the rest.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start existing output file(s) again from empty.")] = False,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="With --resume: score files again whose row is an error (the new row is appended; the last row per path is current).")] = False,
    from_file: Annotated[Optional[list[str]], typer.Option("--from-file", metavar="LIST", help="A text file of inputs, one per line (like @LIST).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", help="Descend into sub-folders of folder inputs.")] = True,
    workers: Annotated[Optional[int], typer.Option("--workers", metavar="N", help="Decode workers running ahead of the model (0 = decode in the main thread). [default: min(4, CPUs)]")] = None,
    prefetch: Annotated[Optional[int], typer.Option("--prefetch", metavar="N", help="Most clips decoded ahead of the model (bounds memory). [default: 2 x workers]")] = None,
    shard: Annotated[Optional[str], typer.Option("--shard", metavar="K/N", help="Score only shard K of N (1-based; files split by a stable hash of their path).")] = None,
    fail_under: FailUnderOpt = None,
    summary: Annotated[bool, typer.Option("--summary", help="Also print a JSON summary of the run on stdout.")] = False,
    model: ModelOpt = None,
    config: ConfigOpt = None,
    prompt: ScoringPromptOpt = None,
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    segments: SegmentsOpt = None,
    pool: PoolOpt = None,
    segments_csv: SegmentsCsvOpt = None,
    fail_segment_under: FailSegmentOpt = None,
    plot_dir: PlotDirOpt = None,
    strict: StrictOpt = None,
    offline: OfflineOpt = False,
    server: Annotated[Optional[list[str]], typer.Option(
        "--server", metavar="URL", help="Send the files to `vqa2 serve` server(s) (or VQA2_SERVER; token from VQA2_TOKEN); repeat to spread files over several.")] = None,
    server_paths: ServerPathsOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Score every video of folders, globs or path lists into CSV/JSONL files (resumable, shardable).

    INPUT is a folder (searched recursively), a quoted glob ('dir/**/*.mp4'), a video file, or @LIST (a
    text file of such inputs, one per line). Inside folders and globs, videos are recognised by extension
    (case-insensitive; raw .264/.265/.h264/.hevc/.m2v/.obu streams included) or, without a known one, by
    their content (magic bytes, raw-stream start codes, FFmpeg's probe); other files are skipped and counted
    by reason. Files are scored in sorted path order; a broken file gets an error row and the batch goes on.
    With --strict a partially decoded or damaged file gets an error row (damaged_input) too.
    """
    console = start_console(quiet, verbose)
    job = BatchJob(
        inputs=list(inputs or []), from_files=list(from_file or []), csv=csv, jsonl=jsonl, resume=resume,
        overwrite=overwrite, retry_errors=retry_errors, recursive=recursive,
        workers=_default_workers() if workers is None else workers, prefetch=prefetch, shard=shard,
        fail_under=fail_under, summary=summary, offline=offline)
    job.validate()
    from ..serve.client import server_urls

    if urls := server_urls(server):
        from ..serve.client import RemoteBatchScorer, collect_options, connect, segment_request
        from .segments import segment_options

        options = collect_options(config=config, model=model, prompt=prompt, device=device, dtype=dtype, quant=quant,
                                  max_motion_frames=max_motion_frames, long_clip=long_clip, strict=strict)
        flags = {"segments_csv": segments_csv, "fail_segment_under": fail_segment_under, "plot_dir": plot_dir}
        implied = any(v is not None for v in flags.values())
        segment_request(options, segments=segments, pool=pool, implied=implied)
        clients, settings = connect(urls, "score", options)
        settings, windows = segment_options(settings, segments=options.get("segments"), pool=options.get("pool"),
                                            **flags)
        if windows.plot_dir:
            console.info("--server: the plots have no key-frame strip (the frames stay on the server)")
        job.remote = RemoteBatchScorer(clients, options, server_paths)
        raise typer.Exit(int(run_job(job, settings, None, console, windows)))
    device = _rank_device(device)
    settings, ref = scoring_settings("batch", model, config, prompt=prompt, device=device, dtype=dtype, quant=quant,
                                     max_motion_frames=max_motion_frames, long_clip=long_clip,
                                     strict=strict)
    from .segments import segment_options

    settings, windows = segment_options(settings, segments=segments, pool=pool, segments_csv=segments_csv,
                                        fail_segment_under=fail_segment_under, plot_dir=plot_dir)
    raise typer.Exit(int(run_job(job, settings, ref, console, windows)))


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _rank_device(device: str | None) -> str | None:
    """Under torchrun/accelerate each process takes the GPU LOCAL_RANK (unless --device names one)."""
    from ..pipeline.batch import detect_distributed

    dist = detect_distributed()
    if dist is None or device not in (None, "auto", "cuda"):
        return device
    import torch

    return f"cuda:{dist.local_rank}" if torch.cuda.is_available() else device


def register(app: typer.Typer) -> None:
    app.command("batch", epilog=EXAMPLES)(batch)

