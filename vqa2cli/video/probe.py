"""What a video file holds, as a player shows it (ffprobe's view of the shown frames), with PyAV.

* ``n_frames``: the frames a player shows, which is what ``ffprobe -count_frames`` counts: the stream's
  non-empty packets (zero-size packets, e.g. AVI drop markers, decode to nothing) minus those an **edit
  list** hides (MP4/MOV trimmed by stream copy: FFmpeg flags the packets before the edit's start
  ``discard`` and the decoder drops their frames). The official decoder (decord) counts every packet, so
  on such files its frame ``i`` is our frame ``i - discarded_frames``; ``discarded_frames`` and a
  warning say so. On files without an edit list both counts are the same (the official numbers).
* ``avg_fps``: decord's ``get_avg_fps()`` is the stream's ``avg_frame_rate`` (not ``r_frame_rate``). When it
  is missing or 0 (the official code then crashes) we use ``n_frames / duration`` and warn. **Raw
  elementary streams** (``.h264``, ``.hevc``, ``.m2v``, ``.obu``, ...: demuxers without timestamps) have no
  container rate, only FFmpeg's default of 25 fps: we use the rate the bitstream declares (FFmpeg's guessed
  rate, e.g. the H.264 SPS timing) and, when the bitstream has none, assume FFmpeg's default and warn.
* ``rotation``/``hflip``/``transform``: the display matrix as ffmpeg's autorotate applies it
  (:mod:`.orientation`): turn ``rotation`` clockwise degrees (0/90/180/270), then mirror left-right when
  ``hflip`` (a vertical mirror is ``rotate 180+hflip``); ``transform`` says it in words (``none``,
  ``rotate 90``, ``hflip``, ...). ``width``/``height`` are the display size. decord applies the rotation
  only; a mirrored file's frames are mirrored (ffmpeg's view), with a warning naming the difference.
* ``resolution_changes``: ``(frame index, width, height)`` where the display size changes mid-stream
  (e.g. concatenated transport streams); probe finds them by decoding key frames (where an H.264/HEVC/
  MPEG-2 stream can change size), :func:`~vqa2cli.video.decode.decode_clip` by looking at every frame.
  Every frame is resized to the model's size whatever its own size; a warning lists the changes.
* ``vfr``: the presentation-time steps are not all one frame duration, tolerating timebase rounding,
  B-frame reordering and a truncated tail (:mod:`.frame_rate`). Sampling still follows the official
  frame-count rule; the warning says so, and key-frame times come from the real timestamps.
* ``duration_s``: span of the shown packets' timestamps (first pts to last pts + its duration), else the
  container's; for raw streams ``n_frames / avg_fps``; when timestamps restart mid-stream (concatenated
  streams) the sum of the packet durations.
* ``interlaced``/``pix_fmt``/``bit_depth``: from the first decoded frame (frames are not deinterlaced,
  as in the official decoder).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..errors import (
    CorruptContainerError,
    DecodeFailedError,
    EmptyFileError,
    FileMissingError,
    NotAFileError,
    UnreadableFileError,
)
from .frame_rate import is_variable
from .orientation import frame_orientation
from .streams import STREAMS_ADDED, best_video_stream, changed_note, video_stream  # noqa: F401 (re-exported)
from .truncation import truncation

DECODER_TO_CODEC = {"libdav1d": "av1", "libaom-av1": "av1", "libvpx-vp9": "vp9", "libvpx": "vp8"}
KEY_DECODE_GAP = 8  # probe decodes a key frame for its size when at least this many packets follow the last


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
    resolution_changes: tuple[tuple[int, int, int], ...] = ()  # (frame index, display width, height)
    discarded_frames: int = 0  # packets an edit list hides (counted by the official decoder, not shown)
    raw_stream: bool = False  # no container timestamps: frame times are index / avg_fps
    timestamp_restarts: int = 0  # times the timestamps go back (concatenated streams): times from indices
    container_damaged: str | None = None  # demuxer error or evidence of truncation (n_frames: what was read)
    stream_index: int = 0  # the container's index of the video stream described (video_stream's choice)
    size_bytes: int = 0  # the file's size when probed: every later read stops there (a consistent snapshot)
    mtime: float = 0.0  # its modification time then (seconds since the epoch)
    hflip: bool = False  # mirrored left-right after the turn (display matrix with a mirror)
    transform: str = (
        "none"  # what the display matrix applies: "none", "rotate 90", "hflip", "rotate 180+hflip"
    )


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

    try:
        target = open_binary(path, size) if lookup(path) is not None else snapshot_url(path, size)
        return av.open(target, mode="r", metadata_errors="replace")
    except av.error.PermissionError as exc:
        raise unreadable(path, exc) from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        fix = "check that the file is a complete video; re-download or re-export it"
        raise CorruptContainerError(str(path), f"not a readable video container ({reason})", fix) from exc


def container_name(container, path: Path) -> str:
    names = container.format.name.split(",")
    from .source import shown_name

    ext = Path(shown_name(path)).suffix.lower().lstrip(".")
    return ext if ext in names else names[0]


def codec_name(stream) -> str:
    name = stream.codec_context.codec.name
    return DECODER_TO_CODEC.get(name, name)


def display_rotation(frame) -> int:
    """Clockwise degrees to display the frame (PyAV reports the display matrix counter-clockwise)."""
    return int(round(-frame.rotation / 90.0)) % 4 * 90


@dataclass
class _Scan:
    """What one demux pass saw. ``times``: (pts, duration) of the shown packets, sorted; ``sizes``:
    (pts, decode position, coded width, height) of the decoded key frames."""

    count: int = 0
    discarded: int = 0
    times: list = None
    sizes: list = None
    fed: list = None  # (pts, decode position) of key packets sent to the decoder, not yet out
    first: object = None
    error: str | None = None  # the demuxer's error when it stopped early
    end_s: float = 0.0  # latest packet end (audio or video), seconds on the container's clock
    restarts: int = 0  # decode timestamps that go backwards: concatenated streams
    durations: int = 0  # sum of the shown packets' durations, in time_base units
    runs: list = None  # shown packets' timestamps in decode order, one list per run between restarts (None:
    #                    not recorded, ``times`` in display order stand for one run)


def _decode_sizes(stream, packet, scan: _Scan) -> None:
    """Decode one packet (None: flush); each frame's size is stored with its packet's decode position,
    matched through ``scan.fed`` by pts (frames leave the decoder in display order, possibly later)."""
    import av

    if packet is not None and scan.first is not None:
        scan.fed.append((packet.pts, scan.count - 1))
    try:
        frames = stream.decode(packet)
    except av.error.FFmpegError:
        return
    for frame in frames:
        position = 0 if scan.first is None else None
        scan.first = frame if scan.first is None else scan.first
        for i, (pts, pos) in enumerate(scan.fed):
            if pts == frame.pts or pts is None or frame.pts is None:
                position = pos
                del scan.fed[: i + 1]
                break
        if position is not None:
            scan.sizes.append((frame.pts, position, frame.width, frame.height))


def _scan_packets(container, stream, path: Path, warnings: list[str], key_sizes: bool = True) -> _Scan:
    """One demux pass: shown packets' pts/durations, the first frame decoded (format, rotation) and, with
    ``key_sizes``, key frames decoded for their size (at most one per ``KEY_DECODE_GAP`` packets)."""
    import av

    scan = _Scan(times=[], sizes=[], fed=[], runs=[[]])
    last_key, last_dts = -KEY_DECODE_GAP, None
    try:
        for packet in container.demux(stream, *container.streams.audio):
            if packet.size == 0:
                continue
            _track_end(packet, scan)
            if packet.stream is not stream:
                continue
            if packet.is_discard:
                scan.discarded += 1
            else:
                scan.count += 1
                ts = packet.pts if packet.pts is not None else packet.dts
                scan.durations += packet.duration or 0
                if packet.dts is not None and last_dts is not None and packet.dts < last_dts:
                    scan.restarts += 1
                    scan.runs.append([])
                if ts is not None:
                    scan.times.append((ts, packet.duration or 0))
                    scan.runs[-1].append(ts)
                last_dts = packet.dts if packet.dts is not None else last_dts
            due = key_sizes and packet.is_keyframe and scan.count - last_key >= KEY_DECODE_GAP
            if scan.first is None or due:
                last_key = scan.count
                _decode_sizes(stream, packet, scan)
    except STREAMS_ADDED:
        pass  # every packet was read (see STREAMS_ADDED)
    except av.error.FFmpegError as exc:
        scan.error = exc.strerror or type(exc).__name__
        warnings.append(f"container damaged after {scan.count} packets ({scan.error}); the rest is ignored")
    if scan.count:
        _decode_sizes(stream, None, scan)
    if scan.count == 0 or scan.first is None:
        raise DecodeFailedError(
            str(path),
            f"no decodable video frame ({scan.count} video packets)",
            "the file is truncated or damaged; re-download or re-export it",
        )
    scan.times.sort()
    return scan


def _track_end(packet, scan: _Scan) -> None:
    if packet.pts is not None and packet.time_base:
        scan.end_s = max(scan.end_s, float((packet.pts + (packet.duration or 0)) * packet.time_base))


def size_changes(sizes, rotation: int) -> tuple[tuple[int, int, int], ...]:
    """``[(index, coded w, coded h), ...]`` in display order → the display sizes after the first, where
    they change: ``((index, w, h), ...)``."""
    out, last = [], None
    for index, w, h in sizes:
        size = (h, w) if rotation in (90, 270) else (w, h)
        if last is not None and size != last:
            out.append((index, *size))
        last = size
    return tuple(out)


def _change_indices(scan: _Scan, raw: bool) -> list[tuple[int, int, int]]:
    """Decoded key-frame sizes keyed by display index: the rank of their pts among the shown packets when
    timestamps are usable, else their decode position (raw streams, timestamps that restart)."""
    import bisect

    if raw or scan.restarts or not scan.times:
        return sorted((pos, w, h) for _, pos, w, h in scan.sizes)
    pts = [t for t, _ in scan.times]
    return sorted(
        (bisect.bisect_left(pts, key) if key is not None else pos, w, h) for key, pos, w, h in scan.sizes
    )


def _is_raw(container, scan: _Scan) -> bool:
    """A demuxer without timestamps (raw H.264/HEVC/MPEG-2/AV1 ...), or no packet with a timestamp."""
    import av

    return bool(int(container.format.flags) & av.format.Flags.no_timestamps.value) or not scan.times


def _raw_rate(stream, warnings: list[str]) -> float:
    """Frame rate of a raw elementary stream: the bitstream's (FFmpeg's guessed rate), or FFmpeg's raw
    demuxer default (25 fps) with a warning when the bitstream declares none."""
    declared = stream.codec_context.framerate
    guessed = stream.guessed_rate or stream.average_rate
    if declared and float(declared) > 0:
        rate = guessed if guessed and float(guessed) > 0 else declared
        return float(rate)
    fps = float(guessed) if guessed and float(guessed) > 0 else 25.0
    warnings.append(
        f"raw {codec_name(stream)} stream without a frame rate: assuming {fps:g} fps "
        "(FFmpeg's default); durations and key-frame times assume it too"
    )
    return fps


def _timing(stream, container, scan: _Scan, raw: bool, warnings: list[str]) -> tuple[float, float, bool]:
    """(avg_fps, duration_s, vfr) from the stream header and the packet timestamps."""
    n, times = scan.count, scan.times
    if raw:
        avg_fps = _raw_rate(stream, warnings)
        return avg_fps, n / avg_fps, False
    tb = float(stream.time_base) if stream.time_base else 0.0
    duration = 0.0
    if scan.restarts and scan.durations and tb:
        duration = scan.durations * tb
        warnings.append(
            f"timestamps restart {scan.restarts} time(s) mid-stream (concatenated streams?): "
            "the duration is the sum of the frame durations"
        )
    elif scan.discarded and stream.duration and tb:  # edit list: its duration, as ffprobe reports
        duration = stream.duration * tb
    elif len(times) >= 2 and tb:
        duration = (times[-1][0] + (times[-1][1] or times[-1][0] - times[-2][0]) - times[0][0]) * tb
    if duration <= 0 and container.duration:
        duration = container.duration / 1_000_000
    vfr = is_variable(scan.runs if scan.runs is not None else [[t for t, _ in times]])
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
        warnings.append(
            "variable frame rate: key frames follow the official frame-count rule "
            f"(every round({avg_fps:.3f})-th frame), not wall-clock seconds"
        )
    return avg_fps, duration, vfr


def edit_list_note(discarded: int, shown: int) -> str:
    """The warning for a stream whose edit list hides ``discarded`` packets (see the module docstring)."""
    return (
        f"edit list: {discarded} leading frames are not shown (trimmed by stream copy); {shown} frames "
        f"counted as a player and ffprobe do, while the official decoder (decord) counts "
        f"{shown + discarded} and its frame i is our frame i-{discarded}"
    )


def resolution_note(first: tuple[int, int], changes) -> str:
    """The warning listing mid-stream size changes: ``(index, w, h)`` each."""
    listed = ", ".join(f"{w}x{h} at frame {i}" for i, w, h in changes[:5])
    more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
    return (
        f"resolution changes mid-stream: {first[0]}x{first[1]}, then {listed}{more}; "
        "every frame is resized to the model's input size"
    )


def probe_video(path, *, key_sizes: bool = True, stream: int | None = None) -> VideoInfo:
    """Inspect ``path`` (one demux pass; the first frame and, with ``key_sizes``, key frames decoded to
    find resolution changes; ``decode_clip`` turns that off as it sees every frame). ``stream``: the
    container's stream index to describe (``video.stream``; None or -1: ffmpeg's default choice,
    :func:`video_stream`). Raises :class:`InputError` subclasses."""
    import av

    p = check_path(path)
    warnings: list[str] = []
    snap = file_stat(p) or FileStat(0, 0.0)
    with open_container(p, snap.size_bytes) as container:
        stream = video_stream(container, p, stream)
        scan = _scan_packets(container, stream, p, warnings, key_sizes)
        raw = _is_raw(container, scan)
        avg_fps, duration, vfr = _timing(stream, container, scan, raw, warnings)
        first = scan.first
        orientation = frame_orientation(first)
        rotation = orientation.rotation
        if orientation.hflip:
            warnings.append(
                f"display matrix mirrors the picture ({orientation.transform}): frames are shown "
                "as ffmpeg shows them; the official decoder (decord) does not mirror"
            )
        if orientation.off_axis is not None:
            warnings.append(
                f"display matrix turns by {orientation.off_axis:g} degrees: rounded to "
                f"{rotation} (ffmpeg rotates by the exact angle)"
            )
        fmt = av.VideoFormat(first.format.name)
        depth = max(c.bits for c in fmt.components) if fmt.components else 8
        sar = stream.sample_aspect_ratio
        if sar and sar != 1:
            warnings.append(
                f"non-square pixels (SAR {sar}): resized from the stored size like the official decoder"
            )
        if first.interlaced_frame:
            warnings.append("interlaced: frames are not deinterlaced (as in the official decoder)")
        w, h = (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        changes = size_changes(_change_indices(scan, raw), rotation)
        if changes:
            warnings.append(resolution_note((w, h), changes))
        if scan.discarded:
            warnings.append(edit_list_note(scan.discarded, scan.count))
        cut = None if scan.error else truncation(container, p, scan, raw, stream, size=snap.size_bytes)
        if cut:
            warnings.append(f"container damaged: {cut}")
        return VideoInfo(
            path=str(p),
            container=container_name(container, p),
            codec=codec_name(stream),
            width=w,
            height=h,
            coded_width=first.width,
            coded_height=first.height,
            rotation=rotation,
            avg_fps=avg_fps,
            vfr=vfr,
            duration_s=duration,
            n_frames=scan.count,
            pix_fmt=first.format.name,
            bit_depth=depth,
            interlaced=bool(first.interlaced_frame),
            has_audio=bool(container.streams.audio),
            warnings=tuple(warnings),
            resolution_changes=changes,
            discarded_frames=scan.discarded,
            raw_stream=raw,
            container_damaged=scan.error or cut,
            timestamp_restarts=scan.restarts,
            stream_index=stream.index,
            size_bytes=snap.size_bytes,
            mtime=snap.mtime,
            hflip=orientation.hflip,
            transform=orientation.transform,
        )
