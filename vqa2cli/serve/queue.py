"""A bounded work queue: decode in worker threads, the model in one thread, one request at a time.

``submit(job)`` accepts a job while fewer than ``max_queue`` jobs are unfinished (decoding, waiting
for the model or running on it) and raises :class:`QueueFull` otherwise (the app answers 503 with
``Retry-After``). Each job's ``prepare`` (decode + tokenise + tensors: ``Scorer.prepare``, CPU only)
runs in one of ``workers`` threads as soon as it is accepted, so clips are decoded while the model is
busy with earlier requests; the single model thread then runs ``run(prepared)`` in the order the clips
became ready. Memory stays bounded: at most ``max_queue`` prepared clips exist at once. A clip scored
in windows (``segments``, or past the model's limits) is only probed and planned in ``prepare``; its
windows are decoded in one streaming pass inside ``run``, as in ``vqa2 score`` and ``vqa2 batch``, so it
holds one window's frames at a time.

Unlike :func:`vqa2cli.jobs.prefetch.prefetch`, which walks a fixed list in order, requests arrive
one by one and must not wait for a slow decode ahead of them, hence this small scheduler; the work
itself is the same ``SegmentingScorer.prepare`` / ``run`` split that ``vqa2 batch`` uses.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

_STOP = object()


class QueueFull(Exception):
    """Raised by :meth:`WorkQueue.submit` when ``max_queue`` jobs are already unfinished."""


class QueueClosed(Exception):
    """Raised by :meth:`WorkQueue.submit` once :meth:`WorkQueue.close` was called (shutting down)."""


@dataclass
class Job:
    """``prepare()`` runs in a decode thread, ``run(prepared)`` in the model thread; ``fail(exc)`` turns
    an exception of either into the job's result (an error record), so a bad input never kills a thread."""

    prepare: Callable[[], Any]
    run: Callable[[Any], Any]
    fail: Callable[[BaseException], Any]
    future: Future = field(default_factory=Future)
    prepared: Any = None
    error: BaseException | None = None
    accepted_at: float = field(default_factory=time.perf_counter)


class WorkQueue:
    """See the module doc. ``on_depth(n)`` is called whenever the number of unfinished jobs changes."""

    def __init__(self, *, max_queue: int, workers: int, on_depth: Callable[[int], None] = lambda n: None):
        if max_queue < 1 or workers < 1:
            raise ValueError("max_queue and workers must be >= 1")
        self.max_queue = max_queue
        self._on_depth = on_depth
        self._lock = threading.Lock()
        self._depth = 0
        self._closed = False
        self._idle = threading.Condition(self._lock)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vqa2-decode")
        self._ready: queue.Queue = queue.Queue()
        self._model = threading.Thread(target=self._model_loop, name="vqa2-model", daemon=True)
        self._model.start()

    @property
    def depth(self) -> int:
        return self._depth

    def submit(self, job: Job) -> Future:
        """Accept ``job`` (its future resolves to ``run``'s or ``fail``'s result) or raise QueueFull/QueueClosed."""
        with self._lock:
            if self._closed:
                raise QueueClosed("the server is shutting down")
            if self._depth >= self.max_queue:
                raise QueueFull(f"{self._depth} requests are queued (--max-queue {self.max_queue})")
            self._depth += 1
            depth = self._depth
        self._on_depth(depth)
        self._pool.submit(self._prepare, job)
        return job.future

    def _prepare(self, job: Job) -> None:
        if not job.future.cancelled():  # the caller gave up (client gone): no decode
            try:
                job.prepared = job.prepare()
            except BaseException as exc:  # noqa: BLE001 - becomes the job's error record
                job.error = exc
        self._ready.put(job)

    def _model_loop(self) -> None:
        while True:
            job = self._ready.get()
            if job is _STOP:
                return
            if not job.future.set_running_or_notify_cancel():  # cancelled: skip the model, free the slot
                job.prepared = None
                self._finished()
                continue
            try:
                if job.error is not None:
                    result = job.fail(job.error)
                else:
                    try:
                        result = job.run(job.prepared)
                    except BaseException as exc:  # noqa: BLE001 - one failed request, not a dead server
                        result = job.fail(exc)
                job.future.set_result(result)
            except BaseException as exc:  # noqa: BLE001 - fail() itself broke: report it to the caller
                job.future.set_exception(exc)
            finally:
                job.prepared = None  # free the clip before the next one
                self._finished()

    def _finished(self) -> None:
        with self._lock:
            self._depth -= 1
            depth = self._depth
            self._idle.notify_all()
        self._on_depth(depth)

    def close(self, timeout: float | None = None) -> bool:
        """Refuse new jobs, wait for the accepted ones to finish, stop the threads. True if all finished."""
        with self._lock:
            self._closed = True
            drained = self._idle.wait_for(lambda: self._depth == 0, timeout=timeout)
        self._ready.put(_STOP)
        self._pool.shutdown(wait=drained)
        return drained
