"""``vqa2 score -``: a video piped on stdin (``ffmpeg -i in.mp4 ... -f matroska - | vqa2 score -``).

The pipe is copied, 1 MiB at a time, into a private temporary file (``tempfile``: mode 0600 in ``$TMPDIR``),
because scoring needs what a pipe cannot give: a probe pass before the decode pass, and seeking for
MP4-style indexes. The copy stops at a size cap (:data:`STDIN_MAX_GB_ENV`, default
:data:`DEFAULT_MAX_GB` GB): past it the run is refused (exit 3, naming ``-`` and the cap) before anything is
scored. The file is deleted when the command ends (also on an error or Ctrl-C). Records name the input as
given, ``-``: the temporary name is replaced in ``path`` and in the error and warning texts, and ``input.mtime``
(the copy's) is left out; ``input.size_bytes`` is the bytes read. The server never reads a pipe for a request
(serve/security.py ``confine``): stdin is read only by the command's own process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from .given import STDIN

STDIN_MAX_GB_ENV = "VQA2_STDIN_MAX_GB"
DEFAULT_MAX_GB = 8.0
CHUNK = 1 << 20


def max_bytes() -> int:
    """The cap in bytes from :data:`STDIN_MAX_GB_ENV` (GB = 1e9 bytes). Raises UsageError for a bad value."""
    from ..errors import UsageError

    raw = os.environ.get(STDIN_MAX_GB_ENV, "")
    try:
        gb = float(raw) if raw.strip() else DEFAULT_MAX_GB
    except ValueError:
        gb = -1.0
    if not gb > 0:
        raise UsageError(f"{STDIN_MAX_GB_ENV}={raw!r}: not a positive number of GB", "e.g. 20 for 20 GB")
    return int(gb * 1e9)


def spool(source: BinaryIO, dest: BinaryIO, cap: int) -> int:
    """Copy ``source`` to ``dest`` until its end; returns the bytes copied. Raises InputError (exit 3) naming
    ``-`` when more than ``cap`` bytes arrive."""
    from ..errors import InputError

    total = 0
    while chunk := source.read(CHUNK):
        total += len(chunk)
        if total > cap:
            raise InputError(
                STDIN,
                f"stdin is larger than the {cap / 1e9:g} GB cap ({STDIN_MAX_GB_ENV})",
                f"set {STDIN_MAX_GB_ENV} higher, or write the video to a file and score the file",
            )
        dest.write(chunk)
    return total


@contextlib.contextmanager
def stdin_as_file(
    paths: list[str], source: BinaryIO | None = None
) -> Iterator[tuple[list[str], dict[str, str]]]:
    """``paths`` with ``-`` replaced by a temporary copy of stdin (``source``: default ``sys.stdin.buffer``),
    and ``{temporary path: "-"}`` for :func:`as_given`. Without ``-``: ``paths`` unchanged, ``{}``. Raises
    UsageError for ``-`` given twice or stdin on a terminal, InputError past the size cap."""
    from ..errors import UsageError

    if STDIN not in paths:
        yield paths, {}
        return
    if paths.count(STDIN) > 1:
        raise UsageError("- (stdin) is given more than once", "a pipe can be read once: give - once")
    stream = source if source is not None else sys.stdin.buffer
    if source is None and sys.stdin.isatty():
        raise UsageError(
            "- reads a video from stdin, but stdin is a terminal",
            "pipe a video in: ffmpeg -i in.mp4 -c copy -f matroska - | vqa2 score -",
        )
    cap = max_bytes()
    fd, tmp = tempfile.mkstemp(prefix="vqa2-stdin-", suffix=".video")
    try:
        with os.fdopen(fd, "wb") as dest:
            spool(stream, dest, cap)
        yield [tmp if p == STDIN else p for p in paths], {tmp: STDIN}
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def as_given(records: Iterable[Any], names: dict[str, str]) -> Iterator[Any]:
    """Each record with a temporary path renamed to the input as given (``-``), in ``path``, ``error`` and
    ``warnings``; ``input.mtime`` of the copy dropped."""
    for record in records:
        given = names.get(record.path)
        if given is not None:
            tmp, record.path = record.path, given
            if record.error:
                record.error = record.error.replace(tmp, given)
            record.warnings = [w.replace(tmp, given) for w in record.warnings]
            if isinstance(record.input, dict):
                record.input.pop("mtime", None)
        yield record


class GivenNames:
    """A scoring source (``jobs/score_run.ScoringSource``) whose records and window rows name the input as
    given (``-``) instead of its temporary copy: ``names`` maps the copy's path to ``-``."""

    def __init__(self, source, names: dict[str, str]):
        self.source, self.names = source, names

    def records(self, paths: list[str], on_window) -> Iterator[Any]:
        def each_window(path, entry, stat):
            on_window(self.names.get(path, path), entry, stat)

        yield from as_given(self.source.records(paths, each_window), self.names)

    def thumbnails(self):
        return self.source.thumbnails()
