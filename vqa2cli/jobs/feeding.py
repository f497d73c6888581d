"""Feed the model: clips n+1… decoded while it runs clip n, in threads and, when asked, worker processes.

One helper for every front-end (``vqa2 score FILE...``, ``batch``, ``serve``, the Python API): :func:`feeding`
sets a loaded session's ``read_ahead`` (``jobs/prefetch.py``: ``threads`` threads run ``prepare`` ahead of
the model, in order, at most ``threads`` clips ahead: a clip just under the model's limits holds ≈ 0.3 GB of
frames; ``batch`` has its own ``--prefetch``) and, with ``processes > 0``, its ``decoder`` (a
:class:`~vqa2cli.video.decode_pool.DecodePool`: each thread hands its clip's decode and resize to a worker
process and gets the frames back over shared memory). The records are the same whichever path decoded the
frames (tests/test_decode_pool.py: frames equal bit for bit, records equal).

The defaults are declared once each: threads ``jobs.prefetch.default_workers()`` (``min(4, CPUs)``),
processes ``video.decode_pool.DEFAULT_DECODE_PROCESSES`` (0: decode in the threads, safe on a 2-core box).
A thread waiting on a worker process costs no CPU, so there are at least as many threads as processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from ..errors import UsageError


def check_counts(workers: int | None, processes: int) -> None:
    """UsageError (exit 2) for a negative ``--workers`` or ``--decode-processes``."""
    if (workers is not None and workers < 0) or processes < 0:
        raise UsageError("--workers and --decode-processes must be >= 0", "pass 0 or more")


def threads_for(workers: int, processes: int) -> int:
    """Read-ahead threads for ``workers`` asked and ``processes`` decode processes: one per process at least."""
    return max(workers, processes)


def open_pool(processes: int):
    """A :class:`~vqa2cli.video.decode_pool.DecodePool` of ``processes`` workers, or None for 0."""
    if processes <= 0:
        return None
    from ..video.decode_pool import DecodePool

    return DecodePool(processes)


def share_pool(sessions, processes: int):
    """``vqa2 serve --decode-processes``: one pool for every loaded session (its ``decoder``) → the pool, or
    None for 0 (decode in the queue's threads); the server closes it after its queue (serve/run.py)."""
    pool = open_pool(processes)
    for session in sessions:
        session.decoder = pool
    return pool


def attach(session: Any, *, workers: int, processes: int, read_ahead: bool = True):
    """Set ``session.decoder`` (a pool, when ``processes > 0``) and ``session.read_ahead`` (when
    ``read_ahead`` and there are threads) → the pool or None; the caller closes it (``pool.close()``)."""
    from .prefetch import prefetch

    pool = open_pool(processes)
    session.decoder = pool
    threads = threads_for(workers, processes)
    session.read_ahead = partial(_ahead, prefetch, threads) if read_ahead and threads > 0 else None
    return pool


def _ahead(prefetch, threads: int, items: list, prepare):
    return prefetch(items, prepare, workers=threads, depth=threads)  # one clip per thread ahead, no more


@contextmanager
def feeding(session: Any, *, workers: int, processes: int, read_ahead: bool = True) -> Iterator[Any]:
    """:func:`attach` for the length of a ``with`` block: the session's ``decoder``/``read_ahead`` as before
    and the worker processes stopped at its end (also on an error or Ctrl-C). Yields the pool or None."""
    before = session.decoder, session.read_ahead
    pool = attach(session, workers=workers, processes=processes, read_ahead=read_ahead)
    try:
        yield pool
    finally:
        session.decoder, session.read_ahead = before
        if pool is not None:
            pool.close()
