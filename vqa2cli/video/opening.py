"""Opening a video file for reading: the file-system checks before FFmpeg sees it (typed errors naming the
file), its identity (:class:`FileStat`: size and mtime, the ``--resume`` key, and the size every later read
stops at), the snapshot FFmpeg opens (:func:`snapshot_url`), the container with FFmpeg's failures mapped to
:class:`~vqa2cli.errors.CorruptContainerError`, and the names probe reports for the container and codec.
Pinned files (:mod:`vqa2cli.video.source`, serve's confinement) are read through their descriptor."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from ..errors import (
    CorruptContainerError,
    EmptyFileError,
    FileMissingError,
    NotAFileError,
    UnreadableFileError,
)

DECODER_TO_CODEC = {"libdav1d": "av1", "libaom-av1": "av1", "libvpx-vp9": "vp9", "libvpx": "vp8"}


class FileStat(NamedTuple):
    """A file's identity for ``--resume`` matching (batch and eval rows carry both fields)."""

    size_bytes: int
    mtime: float  # seconds since the epoch (``os.stat().st_mtime``)

    def as_dict(self) -> dict[str, int | float]:
        """The record form (``input.size_bytes`` / ``input.mtime``, mtime rounded to 1 µs)."""
        return {"size_bytes": self.size_bytes, "mtime": round(self.mtime, 6)}


def file_stat(path) -> FileStat | None:
    """Size and mtime of ``path``; None when it cannot be stat'ed (missing, permission denied). A pinned
    file (:mod:`vqa2cli.video.source`) is stat'ed through its descriptor."""
    from .source import stat

    try:
        st = stat(path)
    except OSError:
        return None
    return FileStat(st.st_size, st.st_mtime)


def check_path(path) -> Path:
    """The usual file-system failures as typed errors, before FFmpeg sees the file. Any ``OSError`` of the
    checks (permission denied, name too long, I/O error) is an :class:`UnreadableFileError` for this file."""
    from .source import check_pinned, lookup

    p = Path(path)
    if lookup(path) is not None:
        return check_pinned(path, p)
    try:
        if not p.exists():
            raise FileMissingError(str(p), "no such file", "check the path; quote names that contain spaces")
        if not p.is_file():
            raise NotAFileError(
                str(p),
                "is a directory or special file, not a video file",
                "pass video files, or the files inside the folder",
            )
        if p.stat().st_size == 0:
            raise EmptyFileError(str(p), "the file is empty (0 bytes)", "re-download or re-export the video")
        with open(p, "rb") as fh:  # the open FFmpeg will do (os.access is always true for root)
            fh.read(1)
    except OSError as exc:
        raise unreadable(p, exc) from None
    return p


def unreadable(path, exc: OSError) -> UnreadableFileError:
    """The OS error of opening/reading ``path`` as an input error naming the file."""
    reason = (exc.strerror or str(exc)).lower()
    fix = (
        "make the file readable (chmod +r), or run as a user who may read it"
        if isinstance(exc, PermissionError)
        else "check the path and the disk"
    )
    return UnreadableFileError(str(path), f"cannot read the file: {reason} (errno {exc.errno})", fix)


def snapshot_url(path, size: int | None) -> str:
    """What FFmpeg opens for ``path``: the file itself, or with ``size`` its first ``size`` bytes only (FFmpeg's
    ``subfile`` protocol over ``file:``; the name keeps its extension, which format probing reads). A file
    that grows while it is read (a recording in progress, a download) is then read as it was when first
    probed: the probe and every decode pass see the same bytes."""
    if not size:
        return str(path)
    return f"subfile,,start,0,end,{int(size)},,:file:{path}"


def open_container(path, size: int | None = None):
    """``av.open`` with FFmpeg's failures mapped to :class:`CorruptContainerError`; ``size``: read only the
    first ``size`` bytes (:func:`snapshot_url`; ``VideoInfo.size_bytes``, the size when probed). A pinned file
    (:mod:`vqa2cli.video.source`) is opened as a file object over its descriptor, limited to ``size`` too (its
    shown name, whose extension FFmpeg takes as a format hint, is the object's ``name``)."""
    import av

    from .source import lookup, open_binary

    pinned = lookup(path) is not None
    try:
        target = open_binary(path, size) if pinned else snapshot_url(path, size)
        return av.open(target, mode="r", metadata_errors="replace", options=NO_REFERENCES if pinned else {})
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        if pinned and _is_text(
            path
        ):  # refused by NO_REFERENCES (FFmpeg says EPERM for some, EINVAL for others)
            reason = "a text file: a playlist or list refers to other files or URLs"
            raise CorruptContainerError(
                str(path), f"not a readable video container ({reason})", REFERENCES_FIX
            ) from exc
        if isinstance(exc, av.error.PermissionError):
            raise unreadable(path, exc) from exc
        reason = getattr(exc, "strerror", None) or str(exc)
        fix = "check that the file is a complete video; re-download or re-export it"
        raise CorruptContainerError(str(path), f"not a readable video container ({reason})", fix) from exc


# A pinned file (serve's confinement) is opened with FFmpeg allowed no protocol but inline ``data:``: a
# container that refers to other files or URLs (an HLS playlist, an ffconcat list, an SDP description) cannot
# make the server read outside its --allow-root folders or reach the network (issue 26).
NO_REFERENCES = {"protocol_whitelist": "data"}
REFERENCES_FIX = (
    "the server never opens what a file refers to: send the media itself, or score the playlist with the "
    "vqa2 command (it reads playlists and manifests in its own process)"
)


def _is_text(path) -> bool:
    """Whether a pinned file starts with text (a playlist, a manifest, a list), not a media container."""
    from .source import open_binary

    try:
        with open_binary(path, 512) as f:
            head = f.read(512)
    except OSError:
        return False
    return bool(head) and head.isascii() and b"\x00" not in head


def container_name(container, path: Path) -> str:
    names = container.format.name.split(",")
    from .source import shown_name

    ext = Path(shown_name(path)).suffix.lower().lstrip(".")
    return ext if ext in names else names[0]


def codec_name(stream) -> str:
    name = stream.codec_context.codec.name
    return DECODER_TO_CODEC.get(name, name)
