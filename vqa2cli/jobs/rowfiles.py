"""Batch output files: rows appended, flushed and fsync'd one by one (crash safety, see jobs/resume.py).

An OS error while opening, writing or closing a file (disk full, read-only folder) is an
:class:`~vqa2cli.errors.OutputError` naming that file (exit 5); the rows written before it stay.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, TextIO


class RowFiles:
    """The files rows go to: appended, flushed and fsync'd row by row. An OS error (disk full, read-only
    folder) is an :class:`~vqa2cli.errors.OutputError` naming the file; rows written before it stay."""

    def __init__(
        self,
        paths: list[str],
        fmts: list[str],
        *,
        append: bool,
        make_writer: Callable[[str, TextIO, bool], Any] | None = None,
    ):
        """``make_writer(fmt, stream, header)``: a file's row writer (``write(record)``, ``close()``; it
        writes the header when ``header``); default: ``output.render``'s score-record writers."""
        make_writer = make_writer or _score_writer
        self.paths, self.streams, self.writers, self.failed = list(paths), [], [], False
        for path, fmt in zip(paths, fmts):
            with self._guard(path):
                # records are valid UTF-8 (records/cells.py); surrogateescape only guards against a stray byte
                stream = open(
                    path, "a" if append else "w", encoding="utf-8", errors="surrogateescape", newline=""
                )
                self.streams.append(stream)
                self.writers.append(make_writer(fmt, stream, stream.tell() == 0))
                os.fsync(stream.fileno())
            fsync_dir(os.path.dirname(os.path.abspath(path)))  # a new file's name survives power loss

    @contextlib.contextmanager
    def _guard(self, path: str):
        from ..errors import OUTPUT_FIXES, OutputError

        try:
            yield
        except OSError as exc:
            self.failed = True
            fix = (
                f"{OUTPUT_FIXES.get(exc.errno or 0, 'check the output path and the disk')}; then run the same "
                "command with --resume: the rows already written are kept"
            )
            raise OutputError(path, exc, fix) from None

    def write(self, record: Any, targets: tuple[int, ...]) -> None:
        for i in targets or range(len(self.writers)):
            with self._guard(self.paths[i]):
                self.writers[i].write(record)
                os.fsync(self.streams[i].fileno())

    def close(self) -> None:
        """Flush and close every file; the first OS error is raised unless a write already failed."""
        from ..errors import OutputError

        first = None
        for path, writer, stream in zip(self.paths, self.writers, self.streams):
            for step in (writer.close, stream.close):
                try:
                    step()
                except OSError as exc:
                    first = first or OutputError(path, exc)
        if first is not None and not self.failed:
            self.failed = True
            raise first


def _score_writer(fmt: str, stream: TextIO, header: bool) -> Any:
    from ..output.render import make_writer

    return make_writer(fmt, stream, "score", header=header)


def fsync_dir(folder: str) -> None:
    """fsync a folder so a file just created in it survives power loss (a no-op where not possible)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform/filesystem; the rows themselves are fsync'd
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_output_path(path: str) -> None:
    """Before any work: ``path`` can be created as a file, i.e. it is not a folder and its folder exists.
    Raises :class:`~vqa2cli.errors.OutputError` (exit 5) naming the output and the OS error (EISDIR, ENOENT)."""
    import errno

    from ..errors import OutputError

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(
            str(path), OSError(errno.EISDIR, "it is a folder"), "give a file path, not a folder"
        )
    if not os.path.isdir(folder):
        raise OutputError(
            str(path),
            OSError(errno.ENOENT, f"folder {folder} does not exist"),
            "create the folder first, or give a path in an existing folder",
        )


def check_row_file(path: str, flag: str, *, overwrite: bool = False) -> None:
    """A job's row file (batch ``--csv``/``--jsonl``): :func:`check_output_path`, and when ``path`` exists it
    must be a regular file: rows are appended, fsync'd, locked and read back by ``--resume``, which a FIFO,
    socket or block device cannot do. A character device (``/dev/stdout``, ``/dev/null``) is written only with
    ``overwrite`` (the user asks to write over what is there; a write error is then exit 5). Raises UsageError
    (exit 2) naming the flag, the path and its kind, before any weight loads."""
    import stat

    from ..errors import UsageError

    check_output_path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        from ..errors import OutputError

        raise OutputError(str(path), exc) from None
    if not stat.S_ISREG(mode) and not (overwrite and stat.S_ISCHR(mode)):
        kind = (
            "a character device"
            if stat.S_ISCHR(mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a block device"
            if stat.S_ISBLK(mode)
            else "not a regular file"
        )
        raise UsageError(
            f"{flag} {path}: {kind}, not a regular file (batch rows are appended, fsync'd and "
            "read back by --resume)",
            "give a file path; for results on stdout or a pipe use `vqa2 score --format csv|jsonl`"
            + ("" if not stat.S_ISCHR(mode) else " (--overwrite writes to a device anyway)"),
        )


@contextlib.contextmanager
def writing(output):
    """OS errors while writing ``output`` (disk full, folder gone) as an OutputError naming it (exit 5)."""
    from ..errors import OutputError

    try:
        yield
    except OSError as exc:
        raise OutputError(str(output), exc) from None
