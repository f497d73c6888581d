"""What a video file holds, measured the way the official decoder (decord) sees it, with PyAV.

* ``n_frames``: decord's ``len(vr)`` is the number of packets of the video stream (it indexes every packet
  on open). We count the stream's non-empty packets in one demux pass (zero-size packets, e.g. AVI drop
  markers, decode to nothing and are not counted).
* ``avg_fps``: decord's ``get_avg_fps()`` is the stream's ``avg_frame_rate`` (not ``r_frame_rate``). When it
  is missing or 0 (the official code then crashes) we use ``n_frames / duration`` and warn.
* ``rotation``: clockwise degrees (0/90/180/270) the stored frames must be turned to be displayed, from the
  display matrix (decord and the ffmpeg CLI apply it too); ``width``/``height`` are the display size.
* ``vfr``: packet durations (from sorted pts) differ by more than 10 %. Sampling still follows the official
  frame-count rule; the warning says so, and key-frame times come from the real timestamps.
* ``duration_s``: span of the packet timestamps (first pts to last pts + its duration), else the container's.
* ``interlaced``/``pix_fmt``/``bit_depth``: from the first decoded frame (frames are not deinterlaced,
  as in the official decoder).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..errors import (CorruptContainerError, DecodeFailedError, EmptyFileError, FileMissingError,
                      NotAFileError, NoVideoStreamError, UnreadableFileError)

DECODER_TO_CODEC = {"libdav1d": "av1", "libaom-av1": "av1", "libvpx-vp9": "vp9", "libvpx": "vp8"}
VFR_TOLERANCE = 0.10


@dataclass(frozen=True)
class VideoInfo:
    """What ``vqa2 probe`` prints; JSON-able via ``dataclasses.asdict``."""

    path: str
    container: str
    codec: str
    width: int  # display size, after rotation
    height: int
    coded_width: int  # stored frame size
    coded_height: int
    rotation: int  # clockwise degrees applied to display the stored frames: 0, 90, 180, 270
    avg_fps: float
    vfr: bool
    duration_s: float
    n_frames: int
    pix_fmt: str
    bit_depth: int
    interlaced: bool
    has_audio: bool
    warnings: tuple[str, ...]


class FileStat(NamedTuple):
    """A file's identity for ``--resume`` matching (batch and eval rows carry both fields)."""

    size_bytes: int
    mtime: float  # seconds since the epoch (``os.stat().st_mtime``)

    def as_dict(self) -> dict[str, int | float]:
        """The record form (``input.size_bytes`` / ``input.mtime``, mtime rounded to 1 µs)."""
        return {"size_bytes": self.size_bytes, "mtime": round(self.mtime, 6)}


def file_stat(path) -> FileStat | None:
    """Size and mtime of ``path``; None when it cannot be stat'ed (missing, permission denied)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileStat(st.st_size, st.st_mtime)


def check_path(path) -> Path:
    """The usual file-system failures as typed errors, before FFmpeg sees the file. Any ``OSError`` of the
    checks (permission denied, name too long, I/O error) is an :class:`UnreadableFileError` for this file."""
    p = Path(path)
    try:
        if not p.exists():
            raise FileMissingError(str(p), "no such file", "check the path; quote names that contain spaces")
        if not p.is_file():
            raise NotAFileError(str(p), "is a directory or special file, not a video file",
                                "pass video files, or the files inside the folder")
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
    fix = ("make the file readable (chmod +r), or run as a user who may read it" if isinstance(exc, PermissionError)
           else "check the path and the disk")
    return UnreadableFileError(str(path), f"cannot read the file: {reason} (errno {exc.errno})", fix)


def open_container(path: Path):
    """``av.open`` with FFmpeg's failures mapped to :class:`CorruptContainerError`."""
    import av

    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.error.PermissionError as exc:
        raise unreadable(path, exc) from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        fix = "check that the file is a complete video; re-download or re-export it"
        raise CorruptContainerError(str(path), f"not a readable video container ({reason})", fix) from exc


def video_stream(container, path: Path):
    """The first real video stream; cover art (attached pictures) does not count."""
    import av

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    kinds = sorted({"cover art" if s.type == "video" else s.type for s in container.streams})
    kinds = kinds or ["no streams"]
    raise NoVideoStreamError(str(path), f"no video stream (found: {', '.join(kinds)})",
                             "pass a video file; audio-only files and cover art cannot be scored")


def container_name(container, path: Path) -> str:
    names = container.format.name.split(",")
    ext = path.suffix.lower().lstrip(".")
    return ext if ext in names else names[0]


def codec_name(stream) -> str:
    name = stream.codec_context.codec.name
    return DECODER_TO_CODEC.get(name, name)


def display_rotation(frame) -> int:
    """Clockwise degrees to display the frame (PyAV reports the display matrix counter-clockwise)."""
    return int(round(-frame.rotation / 90.0)) % 4 * 90


def _scan_packets(container, stream, path: Path, warnings: list[str]):
    """One demux pass: packet pts/durations, and the first decoded frame (rotation, format)."""
    import av

    times, first, count = [], None, 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            count += 1
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is not None:
                times.append((ts, packet.duration or 0))
            if first is None:
                try:
                    frames = stream.decode(packet)
                except av.error.FFmpegError:
                    frames = []
                first = frames[0] if frames else None
    except av.error.FFmpegError as exc:
        warnings.append(f"container damaged after {count} packets ({exc.strerror}); the rest is ignored")
    if first is None and count:
        try:
            first = next(iter(stream.decode(None)), None)
        except av.error.FFmpegError:
            first = None
    if count == 0 or first is None:
        raise DecodeFailedError(str(path), f"no decodable video frame ({count} video packets)",
                                "the file is truncated or damaged; re-download or re-export it")
    return count, sorted(times), first


def _timing(stream, container, n: int, times, warnings: list[str]) -> tuple[float, float, bool]:
    """(avg_fps, duration_s, vfr) from the stream header and the packet timestamps."""
    tb = float(stream.time_base) if stream.time_base else 0.0
    duration = 0.0
    if len(times) >= 2 and tb:
        duration = (times[-1][0] + (times[-1][1] or times[-1][0] - times[-2][0]) - times[0][0]) * tb
    if duration <= 0 and container.duration:
        duration = container.duration / 1_000_000
    steps = [b[0] - a[0] for a, b in zip(times, times[1:])]
    mean_step = sum(steps) / len(steps) if steps else 0
    vfr = bool(steps) and min(steps) > 0 and (max(steps) - min(steps)) > VFR_TOLERANCE * mean_step
    rate = stream.average_rate
    avg_fps = float(rate) if rate else 0.0
    if not (math.isfinite(avg_fps) and avg_fps > 0):
        if duration > 0:
            avg_fps = n / duration
            warnings.append(f"no average frame rate in the header; using frames/duration = {avg_fps:.3f} fps")
        else:
            guessed = stream.guessed_rate
            avg_fps = float(guessed) if guessed else 25.0
            warnings.append(f"no frame rate or duration in the file; assuming {avg_fps:.3f} fps")
    if duration <= 0:
        duration = n / avg_fps
    if vfr:
        warnings.append("variable frame rate: key frames follow the official frame-count rule "
                        f"(every round({avg_fps:.3f})-th frame), not wall-clock seconds")
    return avg_fps, duration, vfr


def probe_video(path) -> VideoInfo:
    """Inspect ``path`` (one demux pass, one decoded frame). Raises :class:`InputError` subclasses."""
    import av

    p = check_path(path)
    warnings: list[str] = []
    with open_container(p) as container:
        stream = video_stream(container, p)
        n, times, first = _scan_packets(container, stream, p, warnings)
        avg_fps, duration, vfr = _timing(stream, container, n, times, warnings)
        rotation = display_rotation(first)
        fmt = av.VideoFormat(first.format.name)
        depth = max(c.bits for c in fmt.components) if fmt.components else 8
        sar = stream.sample_aspect_ratio
        if sar and sar != 1:
            warnings.append(f"non-square pixels (SAR {sar}): resized from the stored size "
                            "like the official decoder")
        if first.interlaced_frame:
            warnings.append("interlaced: frames are not deinterlaced (as in the official decoder)")
        w, h = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        return VideoInfo(
            path=str(p), container=container_name(container, p), codec=codec_name(stream), width=w, height=h,
            coded_width=first.width, coded_height=first.height, rotation=rotation, avg_fps=avg_fps, vfr=vfr,
            duration_s=duration, n_frames=n, pix_fmt=first.format.name, bit_depth=depth,
            interlaced=bool(first.interlaced_frame), has_audio=bool(container.streams.audio),
            warnings=tuple(warnings))
