"""Decode and resize clips in worker processes; the frames come back over shared memory.

:class:`DecodePool` is called as :func:`~vqa2cli.video.decode.decode_clip` is (``pool(path, video, ...)``), so
a scorer's ``decoder`` can be either (``pipeline.run.ModelSession.decoder``). The threads that call it
(``jobs/prefetch.py``'s read-ahead, ``serve/queue.py``'s decode threads) each borrow one idle worker for one
clip and wait on it with the GIL released: the decode, YUV→RGB conversion and resize — parts of which hold
the GIL (resize bookkeeping, numpy copies) — run on other cores, not in the model's process.

**Shared memory.** A worker puts the clip's two ``uint8`` arrays in torch shared-memory storage
(``share_memory_``) and sends the clip through a pipe; PyTorch's ``file_descriptor`` strategy (the one
``torch.utils.data.DataLoader`` workers use on Linux) creates each segment with ``shm_open`` and unlinks its
name at once, then passes the descriptor (``SCM_RIGHTS``): no name stays in ``/dev/shm`` whoever is
interrupted or killed, and the memory is freed when the last array over it is dropped (the consumer's
``DecodedClip``). The parent turns the tensors back into numpy arrays over the same memory (no copy).

**Faults.** An ``InputError`` in a worker is that clip's error, as in this process. A worker that dies while
decoding (killed, out of memory) is :class:`~vqa2cli.errors.DecodeFailedError` for that clip only (its error
record; the run goes on) and a fresh worker takes its place; one found dead while idle is replaced silently.
Ctrl-C: the workers ignore SIGINT (the parent alone decides), :meth:`DecodePool.close` stops them, and a
worker whose parent is gone exits at its next read of the pipe.

**Start method.** ``forkserver`` where the platform has it (a clean single-threaded server that imported the
decoder once; each worker is forked from it, never from this process, whose torch/OpenMP threads make a plain
``fork`` unsafe), else ``spawn``. Workers import only the decoder (PyAV, numpy, torch for the resize), never
transformers or the model. As with any ``multiprocessing`` start method other than ``fork``, a script using
the Python API with ``decode_processes`` needs the ``if __name__ == "__main__":`` guard.

**Files read through a descriptor** (``vqa2 serve --allow-root``, :mod:`vqa2cli.video.source`): the
descriptor itself is passed to the worker, which pins it there, so the confinement holds (no name lookup).
``--segments`` window streams stay in the calling process: a stream is one sequential pass whose windows the
model consumes as they are decoded (``video/frame_reader.py`` already decodes in a thread beside the model).
"""

from __future__ import annotations

import os
import queue
import threading
from dataclasses import replace
from typing import Any

DEFAULT_DECODE_PROCESSES = 0  # the one declaration: decode in the calling threads unless asked (2-core safe)
# what the forkserver imports once, so a worker forked from it starts in milliseconds (never transformers)
PRELOAD = ["__main__", "numpy", "av", "torch", "torch.multiprocessing", "vqa2cli.video.decode"]
WAIT_S = 0.2  # how often a thread waiting for a busy worker looks whether the pool was closed
WORKER_TORCH_THREADS = 1  # intra-op threads of a worker's resize (one core per worker: they scale by count)


def start_method() -> str:
    """``forkserver`` where available (Linux, macOS), else ``spawn`` (Windows); never ``fork``."""
    import multiprocessing

    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def _context():
    import multiprocessing

    method = start_method()
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":  # the server imports the decoder once (single-threaded: safe to fork from)
        ctx.set_forkserver_preload(PRELOAD)  # a server already running keeps its own list
    return ctx


class WorkerDied(Exception):
    """A worker process ended while it held a clip (``exitcode``: negative = killed by that signal)."""

    def __init__(self, exitcode: int | None):
        super().__init__(exitcode)
        self.exitcode = exitcode


class _Worker:
    def __init__(self, ctx):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_serve, args=(child, WORKER_TORCH_THREADS), name="vqa2-decode", daemon=True
        )
        self.process.start()
        child.close()

    def call(self, request: tuple) -> tuple:
        """Send one request, wait for its answer or the worker's end (→ :class:`WorkerDied`)."""
        from multiprocessing.connection import wait

        try:
            self.conn.send(request)
            while True:
                ready = wait([self.conn, self.process.sentinel])
                if self.conn in ready:
                    return self.conn.recv()  # EOF here: it died after some bytes (or none)
                if self.process.sentinel in ready:
                    raise EOFError
        except (EOFError, OSError):  # a broken pipe, a torn message, a descriptor never fetched
            self.process.join(timeout=5)
            raise WorkerDied(self.process.exitcode) from None

    def stop(self, timeout: float = 2.0) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout)
        self.conn.close()


class DecodePool:
    """``processes`` decode workers, started lazily (the first clips start them) and reused for every clip;
    use as a context manager or call :meth:`close`. Raises ValueError for ``processes < 1``."""

    def __init__(self, processes: int):
        if processes < 1:
            raise ValueError("a decode pool needs at least one process")
        self.processes = processes
        self._ctx = None
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._all: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def __enter__(self) -> DecodePool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def pids(self) -> list[int]:
        """The worker processes' ids (started ones only)."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    def decode_clip(self, path, video, *, token_budget: int | None = None, motion_copies: int = 1, info=None):
        """:func:`~vqa2cli.video.decode.decode_clip` run in a worker → ``DecodedClip`` whose ``keyframes`` and
        ``motion_frames`` are numpy ``uint8`` arrays over shared memory (freed with the clip). Raises what
        ``decode_clip`` raises, and :class:`~vqa2cli.errors.DecodeFailedError` when the worker dies."""
        from .source import lookup

        pinned = lookup(path)
        if pinned is not None and pinned.fd is None:  # a missing file stays missing: no process needed
            from .decode import decode_clip

            return decode_clip(path, video, token_budget=token_budget, motion_copies=motion_copies, info=info)
        handle = None
        if pinned is not None and pinned.fd is not None:  # read through its descriptor there too
            from multiprocessing.reduction import DupFd

            handle = (DupFd(pinned.fd), pinned.name)
        request = (os.fspath(path), handle, video, token_budget, motion_copies, info)
        worker = self._take()
        try:
            status, payload = worker.call(request)
        except WorkerDied as died:
            self._discard(worker)
            raise _died_error(os.fspath(path), died.exitcode) from None
        except BaseException:  # Ctrl-C while waiting: the worker's state is unknown
            self._discard(worker)
            raise
        self._give_back(worker)
        if status == "error":
            raise _rebuilt(payload)
        return _numpy_clip(payload, os.fspath(path))

    __call__ = decode_clip  # a pool is a session's ``decoder`` as it is

    def _take(self) -> _Worker:
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the decode pool is closed")
                start = self._idle.empty() and len(self._all) < self.processes
                if start:
                    self._ctx = self._ctx or _context()
                    worker = _Worker(self._ctx)
                    self._all.add(worker)
                    return worker
            try:  # every worker is busy: wait for one, seeing a close() within WAIT_S
                worker = self._idle.get(timeout=WAIT_S)
            except queue.Empty:
                continue
            if worker.process.is_alive():
                return worker
            self._discard(worker)  # died while idle (OOM killer, a signal): replaced, no clip blamed

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if self._closed:
                worker.stop()
                return
        self._idle.put(worker)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            self._all.discard(worker)
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        worker.conn.close()

    def close(self) -> None:
        """Stop every worker: idle ones at once (their pipes closed), busy ones killed (the thread waiting on
        one sees it end and frees it); threads waiting for a worker get RuntimeError. Never blocks on a
        clip being decoded."""
        with self._lock:
            self._closed = True
            workers = list(self._all)
            self._all.clear()
        idle = set()
        while True:
            try:
                idle.add(self._idle.get_nowait())
            except queue.Empty:
                break
        for worker in workers:
            if worker in idle:
                worker.stop()
            else:
                worker.process.kill()


def _died_error(path: str, exitcode: int | None):
    from ..errors import DecodeFailedError

    how = f"killed by signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit {exitcode}"
    return DecodeFailedError(
        path,
        f"the decode worker process ended while decoding this file ({how})",
        "out of memory? lower --decode-processes, or score the file again",
    )


def _numpy_clip(clip, path: str):
    """The worker's clip with its tensors seen as numpy arrays (same shared memory) and this process's path."""
    keys, motion = clip.keyframes.numpy(), clip.motion_frames.numpy()
    return replace(clip, info=replace(clip.info, path=path), keyframes=keys, motion_frames=motion)


def _portable(exc: BaseException) -> tuple:
    """An exception as (class, args, attributes): ``Vqa2Error`` subclasses take other ``__init__``
    arguments than their ``args``, so the default pickling cannot rebuild them."""
    return type(exc), exc.args, dict(vars(exc))


def _rebuilt(portable: tuple) -> BaseException:
    cls, args, attrs = portable
    exc = cls.__new__(cls)
    exc.args = args
    vars(exc).update(attrs)
    return exc


def _renamed(exc: BaseException, key: str, path: str) -> None:
    """Name ``path`` instead of this process's descriptor ``key`` in an error's text and attributes."""
    exc.args = tuple(a.replace(key, path) if isinstance(a, str) else a for a in exc.args)
    for name, value in list(vars(exc).items()):
        if isinstance(value, str):
            setattr(exc, name, value.replace(key, path))


def _serve(conn, torch_threads: int) -> None:
    """A worker's loop: one request at a time until ``None`` or the parent's end of the pipe closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import torch
    import torch.multiprocessing as torch_mp

    torch.set_num_threads(torch_threads)
    torch_mp.set_sharing_strategy("file_descriptor")  # unlinked at creation; passed as a descriptor
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if request is None:
            return
        try:
            answer: tuple[str, Any] = ("ok", _decode(torch, *request))
        except Exception as exc:  # noqa: BLE001 - the clip's error, raised again in the parent
            answer = ("error", _portable(exc))
        try:
            conn.send(answer)
        except Exception as exc:  # noqa: BLE001 - e.g. an attribute that does not pickle
            conn.send(("error", _portable(RuntimeError(f"decode worker: {exc}"))))
        del answer


def _decode(torch, path: str, handle, video, token_budget, motion_copies, info):
    from .decode import decode_clip
    from .source import pin

    pinned, parent_path = None, path
    if handle is not None:  # the parent's descriptor, pinned here under this process's key
        dup, name = handle
        pinned = pin(dup.detach(), name)
        path = pinned.key
        info = replace(info, path=path) if info is not None else None
    try:
        clip = decode_clip(path, video, token_budget=token_budget, motion_copies=motion_copies, info=info)
    except Exception as exc:
        if pinned is not None:  # named by the parent's key, as when decoded there
            _renamed(exc, pinned.key, parent_path)
        raise
    finally:
        if pinned is not None:
            pinned.close()

    def shared(frames):  # a fresh shared-memory tensor, filled with one copy
        out = torch.empty(frames.shape, dtype=torch.uint8).share_memory_()
        out.numpy()[...] = frames
        return out

    return replace(clip, keyframes=shared(clip.keyframes), motion_frames=shared(clip.motion_frames))
