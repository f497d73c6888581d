"""Multi-process runs of a job (torchrun / accelerate launch): ranks, their markers, the merge of part files.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .loop import JobStats


@dataclass(frozen=True)
class Distributed:
    rank: int
    world: int
    local_rank: int
    run_id: str  # same for every process of one launch, differs between launches


def detect_distributed(env: Mapping[str, str] | None = None) -> Distributed | None:
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


def rank_device(device: str | None) -> str | None:
    """Under torchrun/accelerate each process takes the GPU LOCAL_RANK (unless --device names one)."""
    dist = detect_distributed()
    if dist is None or device not in (None, "auto", "cuda"):
        return device
    import torch

    return f"cuda:{dist.local_rank}" if torch.cuda.is_available() else device


def marker_path(first_output: str, rank: int) -> str:
    return f"{first_output}.rank{rank}.done"


def write_marker(first_output: str, dist: Distributed, stats: JobStats) -> None:
    path = marker_path(first_output, dist.rank)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"run_id": dist.run_id, "stats": stats.to_json()}))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def wait_for_ranks(
    first_output: str, dist: Distributed, *, poll_s: float = 0.2, log: Callable[[str], None] = lambda m: None
) -> JobStats:
    """Rank 0: block until every rank's marker of this launch exists; return the summed stats."""
    total, pending, last_log = JobStats(), set(range(dist.world)), time.monotonic()
    while pending:
        for rank in sorted(pending):
            try:
                with open(marker_path(first_output, rank), encoding="utf-8") as fh:
                    marker = json.load(fh)
            except (OSError, ValueError):
                continue
            if marker.get("run_id") == dist.run_id:
                total.add(JobStats.from_json(marker["stats"]))
                pending.discard(rank)
        if pending:
            if time.monotonic() - last_log > 60:
                log(f"waiting for ranks {sorted(pending)} to finish")
                last_log = time.monotonic()
            time.sleep(poll_s)
    for rank in range(dist.world):
        os.remove(marker_path(first_output, rank))
    return total


def part_targets(finals: list[str], dist: Distributed | None) -> list[str]:
    """Where this process writes: the outputs themselves, or its part files under torchrun."""
    from .resume import part_path

    return list(finals) if dist is None else [part_path(p, dist.rank) for p in finals]


def finish_distributed(
    specs,
    dist: Distributed,
    stats: JobStats,
    *,
    overwrite: bool,
    log: Callable[[str], None],
    debug: Callable[[str], None],
) -> JobStats:
    """Marker for this rank; rank 0 waits for all, merges the part files into ``specs`` (the outputs) and
    returns the summed stats; other ranks return their own, marked ``rank_part``. Raises OutputError (exit 5)
    when a merged output cannot be written."""
    from ..errors import OutputError
    from .resume import existing_parts, merge_parts

    first = specs[0].path
    write_marker(first, dist, stats)
    if dist.rank != 0:
        log(f"rank {dist.rank}: {stats.summary()}")
        stats.rank_part = True
        return stats
    total = wait_for_ranks(first, dist, log=log)
    for spec in specs:
        try:
            added = merge_parts(spec, existing_parts(spec.path), overwrite=overwrite)
        except OSError as exc:
            raise OutputError(spec.path, exc) from None
        debug(f"{spec.path}: merged {added} rows from {dist.world} ranks")
    return total
