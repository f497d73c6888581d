"""Files opened once and read through their descriptor: the video layer's "no second lookup by name".

``vqa2 serve`` checks a ``{"path": ...}`` request against ``--allow-root`` on what it actually opened (the
descriptor), so everything after the check must read that descriptor, never the name again: a file system
that changes between check and use (a symlink swapped, a folder renamed) would otherwise hand the decoder a
different file. :func:`pin` registers an open descriptor under a key (``/proc/self/fd/N`` on Linux, which
names that very open file even where this registry is not consulted); while it is pinned, every reader in
:mod:`vqa2cli.video` given that key (or the :class:`PinnedFile` itself, an ``os.PathLike``) reads through the
descriptor: :func:`stat` is ``fstat`` (the record's ``input.size_bytes``/``mtime``), :func:`open_binary`
reads with ``pread`` (``probe``'s magic-byte and truncation checks, and PyAV's ``av.open`` on a file object
for the probe and every decode pass), and the format hint FFmpeg takes from a name's extension comes from
the name the file is shown under (:func:`shown_name`). :func:`pin_missing` stands for a file that did not
exist when it was opened: it stays missing (``FileMissingError``) whatever appears at that name later.
Unpinned paths are opened by name as before (the CLI and the Python API).
"""

from __future__ import annotations

import io
import itertools
import os
import threading

_PINNED: dict[str, PinnedFile] = {}
_LOCK = threading.Lock()
_MISSING = itertools.count()


class PinnedFile(os.PathLike):
    """An open descriptor (``fd``; None for a file that was missing) shown as ``name``; ``key`` is the path
    string the video layer is given. :meth:`close` unpins it and closes the descriptor."""

    def __init__(self, fd: int | None, name: str, key: str):
        self.fd, self.name, self.key = fd, name, key

    def __fspath__(self) -> str:
        return self.key

    def __str__(self) -> str:
        return self.key

    def close(self) -> None:
        with _LOCK:
            _PINNED.pop(self.key, None)
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)


def pin(fd: int, name: str) -> PinnedFile:
    """Register the open descriptor ``fd`` (a regular file, shown as ``name``); the caller keeps ownership
    of nothing: :meth:`PinnedFile.close` closes ``fd``."""
    key = f"/proc/self/fd/{fd}" if os.path.isdir("/proc/self/fd") else f"/dev/fd/{fd}"
    pinned = PinnedFile(fd, name, key)
    with _LOCK:
        _PINNED[key] = pinned
    return pinned


def pin_missing(name: str) -> PinnedFile:
    """A key standing for ``name`` that did not exist when it was opened (no name lookup happens later)."""
    pinned = PinnedFile(None, name, f"/proc/self/fd/missing-{next(_MISSING)}")
    with _LOCK:
        _PINNED[pinned.key] = pinned
    return pinned


def lookup(path) -> PinnedFile | None:
    """The pinned file for ``path`` (a key string, a ``Path`` of one, or a PinnedFile), else None."""
    if isinstance(path, PinnedFile):
        return path
    try:
        key = os.fspath(path)
    except TypeError:
        return None
    return _PINNED.get(key) if isinstance(key, str) else None


def stat(path) -> os.stat_result:
    """``fstat`` of a pinned file (FileNotFoundError for a missing one), else ``os.stat(path)``."""
    pinned = lookup(path)
    if pinned is None:
        return os.stat(path)
    if pinned.fd is None:
        raise FileNotFoundError(2, "No such file or directory", pinned.name)
    return os.fstat(pinned.fd)


def open_binary(path, size: int | None = None):
    """A binary reader: over the pinned descriptor (own position, ``pread``; with ``size``, its first ``size``
    bytes only, the snapshot probe saw), else ``open(path, "rb")``."""
    pinned = lookup(path)
    if pinned is None:
        return open(path, "rb")  # noqa: SIM115 - the caller closes it
    if pinned.fd is None:
        raise FileNotFoundError(2, "No such file or directory", pinned.name)
    return io.BufferedReader(_DescriptorReader(pinned.fd, pinned.name, size), buffer_size=1 << 16)


def shown_name(path) -> str:
    """The name a file is shown under (a pinned file's ``name``; else ``path`` itself)."""
    pinned = lookup(path)
    return pinned.name if pinned is not None else os.fspath(path)


def check_pinned(path, p):
    """``opening.check_path`` for a pinned file: the same checks and typed errors (naming ``p``) on its
    descriptor, no lookup by name."""
    import stat as st_mode

    from ..errors import EmptyFileError, FileMissingError, NotAFileError
    from .opening import unreadable

    try:
        st = stat(path)
        if not st_mode.S_ISREG(st.st_mode):
            raise NotAFileError(
                str(p),
                "is a directory or special file, not a video file",
                "pass video files, or the files inside the folder",
            )
        if st.st_size == 0:
            raise EmptyFileError(str(p), "the file is empty (0 bytes)", "re-download or re-export the video")
        with open_binary(path) as fh:
            fh.read(1)
    except FileNotFoundError:
        raise FileMissingError(
            str(p), "no such file", "check the path; quote names that contain spaces"
        ) from None
    except OSError as exc:
        raise unreadable(p, exc) from None
    return p


class _DescriptorReader(io.RawIOBase):
    """Reads a descriptor with ``os.pread`` at its own position, so several readers (the probe, each decode
    pass) share one descriptor without sharing an offset. Closing it leaves the descriptor open."""

    def __init__(self, fd: int, name: str, limit: int | None = None):
        super().__init__()
        self.fd, self.name, self.pos, self.limit = fd, name, 0, limit

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        want = len(buffer) if self.limit is None else max(0, min(len(buffer), self.limit - self.pos))
        data = os.pread(self.fd, want, self.pos) if want else b""
        buffer[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        end = os.fstat(self.fd).st_size if self.limit is None else self.limit
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: end}[whence]
        if base + offset < 0:
            raise OSError(22, "Invalid argument")
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos
