"""``vqa2 score -``: a video piped on stdin (``ffmpeg -i in.mp4 ... -f matroska - | vqa2 score -``).

The pipe is copied, 1 MiB at a time, into a private temporary file (``tempfile``: mode 0600 in ``$TMPDIR``),
because scoring needs what a pipe cannot give: a probe pass before the decode pass, and seeking for
MP4-style indexes. The copy stops at a size cap (:data:`STDIN_MAX_GB_ENV`, default
default 8 GB): past it the run is refused (exit 3, naming ``-`` and the cap) before anything is
scored. The file is deleted when the command ends (also on an error or Ctrl-C). Records name the input as
given, ``-``: the temporary name is replaced in ``path`` and in the error and warning texts, and ``input.mtime``
(the copy's) is left out; ``input.size_bytes`` is the bytes read. The spool is one case of the commands'
one entry point for inputs that are not a local file, :mod:`vqa2cli.inputs.materialize`. The server never reads a pipe for a request
(serve/security.py ``confine``): stdin is read only by the command's own process.
"""

from __future__ import annotations

from typing import BinaryIO

from .given import STDIN

STDIN_MAX_GB_ENV = "VQA2_STDIN_MAX_GB"
CHUNK = 1 << 20


def max_bytes() -> int:
    """The cap in bytes from :data:`STDIN_MAX_GB_ENV` (GB = 1e9 bytes; its default in vqa2cli/environment.py).
    Raises UsageError for a bad value."""
    from ..environment import positive_number

    return int(positive_number(STDIN_MAX_GB_ENV, "GB") * 1e9)


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
