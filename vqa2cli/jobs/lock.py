"""An exclusive lock on each output file for the whole run, so two runs never write one file.

``<output>.lock`` (beside the output) is locked with ``flock`` (POSIX; released by the kernel when the process
ends, even on ``kill -9``, so a lock is never stale) and holds a line naming the holder: pid, host, start time
and command. A second writer is refused at once with that line (:class:`~vqa2cli.errors.UsageError`, exit 2).
The lock file is removed when the run ends; one left by a killed run is harmless and reused. Outputs that are
not regular files (``/dev/stdout``, a FIFO, ``/dev/null``) are not locked. Where ``flock`` does not exist
(Windows) or the file system refuses it, the run goes on unlocked and says so on stderr.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from contextlib import ExitStack, contextmanager
from collections.abc import Callable, Iterator

from ..errors import OutputError, UsageError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


def lock_path(output: str) -> str:
    return f"{output}.lock"


class OutputLock:
    """``acquire()`` → held until ``release()``; raises UsageError naming the holder when another run has it."""

    def __init__(self, output: str, warn: Callable[[str], None] = lambda m: None):
        self.output = output
        self.path = lock_path(output)
        self.warn = warn
        self.fd: int | None = None

    def acquire(self) -> OutputLock:
        if os.path.exists(self.output) and not os.path.isfile(self.output):
            return self  # a device or FIFO: nothing to protect
        if fcntl is None:
            self.warn(f"{self.output}: not locked (no flock on this platform); do not start two runs on it")
            return self
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise OutputError(self.output, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise UsageError(f"{self.output} is being written by another vqa2 run ({holder})",
                                 f"wait for it to end or write to another file; its lock is {self.path}") from None
            except OSError as exc:  # ENOLCK/EOPNOTSUPP: a file system without locks
                os.close(fd)
                self.warn(f"{self.output}: not locked ({exc.strerror}); do not start two runs on it")
                return self
            if _same_file(fd, self.path):  # not unlinked by a releasing holder between open and flock
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, holder_line().encode("utf-8", "backslashreplace"))
        except OSError as exc:
            os.close(fd)
            raise OutputError(self.output, exc) from None
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while still held: a waiting opener sees another inode and retries
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None


def holder_line() -> str:
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    command = " ".join(["vqa2", *sys.argv[1:3]]) if sys.argv else "vqa2"
    return f"pid {os.getpid()} on {socket.gethostname()}, started {started}: {command}"


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 1000, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return " ".join(text.split()) or "holder unknown"


def _same_file(fd: int, path: str) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


@contextmanager
def locked_outputs(outputs: list[str], warn: Callable[[str], None] = lambda m: None) -> Iterator[None]:
    """Hold the lock of every output (in order) for the ``with`` block."""
    with ExitStack() as stack:
        for output in dict.fromkeys(outputs):
            lock = OutputLock(output, warn).acquire()
            stack.callback(lock.release)
        yield
