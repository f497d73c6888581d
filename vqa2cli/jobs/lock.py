"""An exclusive lock on each output file for the whole run, so two runs never write one file.

The lock goes by the file's identity, not by the name typed: two runs that name one file differently
(``out.csv``, ``./out.csv``, ``sub/../out.csv``, a symlink to it, a symlinked folder, a hard link) are
refused like two runs that typed the same name. Two locks are taken, both with :mod:`filelock` (``flock`` on
POSIX, ``LockFileEx`` on Windows, a marker file where the file system has neither; a native lock is released
by the kernel when the process ends, even on ``kill -9``, so it is never stale):

* the **name lock** ``<real path>.lock`` beside the output's resolved real path (``os.path.realpath``:
  symlinks, ``.``/``..`` and spelling folded into one name). It also covers an output that does not exist
  yet (that file has one real path until it is created);
* the **identity lock** of an output that exists: ``<dev>-<inode>.lock`` in a per-user folder under the
  temporary directory (``vqa2-locks-<uid>``). Hard links share device and inode but not a real path.

Each lock file holds the line naming the holder (pid, host, start time, command); a second writer is refused
at once with it (:class:`~vqa2cli.errors.UsageError`, exit 2). Lock files are removed when the run ends; one
left by a killed run is harmless and reused. Outputs that are not regular files (``/dev/stdout``, a FIFO,
``/dev/null``) are not locked. Limits: the identity lock is per host and per user (a hard link written by
another user or over NFS from another host is only caught by the name lock), and a hard link made to the
output after a run started it from nothing is not seen by that run.
"""

from __future__ import annotations

import os
import socket
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from ..errors import OutputError, UsageError


def lock_path(output: str) -> str:
    """The name lock of ``output``: ``<real path>.lock`` (symlinks and ``..`` resolved; the file may not exist)."""
    return f"{os.path.realpath(output)}.lock"


def identity_lock_path(output: str) -> str | None:
    """The identity lock of an existing regular file (``<dev>-<inode>.lock`` in the per-user lock folder);
    None when ``output`` does not exist yet or is not a regular file."""
    try:
        st = os.stat(output)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return os.path.join(tempfile.gettempdir(), f"vqa2-locks-{uid}", f"{st.st_dev}-{st.st_ino}.lock")


class OutputLock:
    """``acquire()`` → held until ``release()``; raises UsageError naming the holder when another run has it
    (through any name of the file), OutputError (exit 5) when the lock file cannot be created."""

    def __init__(self, output: str, warn: Callable[[str], None] = lambda m: None):
        self.output = output
        self.path = lock_path(output)
        self.warn = warn
        self._held: list = []  # (filelock lock, its path), in acquisition order

    def acquire(self) -> OutputLock:
        if os.path.exists(self.output) and not os.path.isfile(self.output):
            return self  # a device or FIFO: nothing to protect
        identity = identity_lock_path(self.output)
        try:
            for path in filter(None, (self.path, identity)):
                self._take(path)
        except BaseException:
            self.release()
            raise
        return self

    def _take(self, path: str) -> None:
        from filelock import FileLock, Timeout

        if path != self.path:
            folder = os.path.dirname(path)
            try:
                os.makedirs(folder, mode=0o700, exist_ok=True)
                planted: bool | str | None = hasattr(os, "getuid") and os.lstat(folder).st_uid != os.getuid()
            except OSError as exc:
                planted = exc.strerror
            if planted:  # not ours (another user made it first), or it cannot be made
                self.warn(
                    f"{self.output}: not locked by identity ({folder}: "
                    f"{'belongs to another user' if planted is True else planted})"
                )
                return
        lock = FileLock(path, timeout=0, thread_local=False, on_acquired=_write_holder)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            raise UsageError(
                f"{self.output} is being written by another vqa2 run ({_read_holder(path)})",
                f"wait for it to end or write to another file; its lock is {path}",
            ) from None
        except OSError as exc:
            if path == self.path:
                raise OutputError(self.output, exc) from None
            self.warn(
                f"{self.output}: not locked by identity ({exc.strerror}); other names of it are not checked"
            )
            return
        self._held.append((lock, path))

    def release(self) -> None:
        """Remove each lock file while still holding it (an opener waiting on the old inode sees it unlinked
        and tries again, a filelock rule), then unlock."""
        while self._held:
            lock, path = self._held.pop()
            try:
                os.unlink(path)
            except OSError:
                pass
            try:
                lock.release()
            except OSError:
                pass


def holder_line() -> str:
    """``pid N on HOST, started TIME: vqa2 COMMAND``: what a refused second writer is told."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    command = " ".join(["vqa2", *sys.argv[1:3]]) if sys.argv else "vqa2"
    return f"pid {os.getpid()} on {socket.gethostname()}, started {started}: {command}"


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, holder_line().encode("utf-8", "backslashreplace"), 0)


def _read_holder(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            text = fh.read(1000).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return " ".join(text.split()) or "holder unknown"


@contextmanager
def locked_outputs(outputs: list[str], warn: Callable[[str], None] = lambda m: None) -> Iterator[None]:
    """Hold the lock of every output (in order) for the ``with`` block."""
    with ExitStack() as stack:
        for output in dict.fromkeys(outputs):
            lock = OutputLock(output, warn).acquire()
            stack.callback(lock.release)
        yield
