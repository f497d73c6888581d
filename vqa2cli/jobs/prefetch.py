"""Run a CPU ``prepare`` step ahead of the consumer in worker threads, in order, with bounded memory.

Decoding (PyAV) and tensor preparation (torch/numpy) release the GIL, so threads overlap them with the
model running in the main thread. At most ``depth`` items are submitted and not yet consumed, so at
most ``depth`` prepared clips exist at any time besides the one the consumer holds.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

DEFAULT_WORKERS_SHOWN = "min(4, CPUs)"  # how --help words default_workers()


def default_workers() -> int:
    """Decode threads running ahead of the model when ``--workers`` is not given (batch, eval, serve):
    ``min(4, CPUs)``, at least 1. The one declaration of that default."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class Prepared(Generic[T]):
    """The outcome of ``prepare(item)``: ``value`` or the exception it raised, and how long it took."""

    item: T
    value: Any = None
    error: BaseException | None = None
    seconds: float = 0.0


def _timed(prepare: Callable[[T], Any], item: T) -> Prepared[T]:
    start = time.perf_counter()
    try:
        value = prepare(item)
    except Exception as exc:  # reported to the consumer with the item, never swallowed
        return Prepared(item, error=exc, seconds=time.perf_counter() - start)
    return Prepared(item, value=value, seconds=time.perf_counter() - start)


def prefetch(
    items: Iterable[T], prepare: Callable[[T], Any], *, workers: int, depth: int
) -> Generator[Prepared[T], None, None]:
    """Yield ``Prepared`` results in the order of ``items``, computed by ``workers`` threads.

    ``workers=0`` prepares inline (no threads). When the consumer stops early (break, exception,
    Ctrl-C) pending work is cancelled; at most ``workers`` running prepares finish in the background.
    """
    if workers <= 0:
        for item in items:
            yield _timed(prepare, item)
        return
    depth = max(depth, workers)
    source = iter(items)
    pending: deque[Future] = deque()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vqa2-prepare")
    try:
        for item in source:
            pending.append(pool.submit(_timed, prepare, item))
            if len(pending) >= depth:
                break
        while pending:
            result = pending.popleft().result()
            for item in source:  # refill one slot before handing the result over
                pending.append(pool.submit(_timed, prepare, item))
                break
            yield result
            del result  # drop our reference so the consumer controls the clip's lifetime
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
