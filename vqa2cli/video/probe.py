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

from dataclasses import dataclass

from . import opening
from .opening import (  # noqa: F401 (re-exported: the names importers knew here)
    DECODER_TO_CODEC,
    FileStat,
    check_path,
    codec_name,
    container_name,
    file_stat,
    open_container,
    snapshot_url,
    unreadable,
)
from .orientation import frame_orientation
from .packet_scan import change_indices, is_raw, scan_packets, size_changes, stream_timing
from .streams import STREAMS_ADDED, best_video_stream, changed_note, video_stream  # noqa: F401 (re-exported)
from .truncation import truncation


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

    p = opening.check_path(path)  # looked up at call time: tests count the checks
    warnings: list[str] = []
    snap = file_stat(p) or FileStat(0, 0.0)
    with open_container(p, snap.size_bytes) as container:
        stream = video_stream(container, p, stream)
        scan = scan_packets(container, stream, p, warnings, key_sizes)
        raw = is_raw(container, scan)
        avg_fps, duration, vfr = stream_timing(stream, container, scan, raw, warnings)
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
        changes = size_changes(change_indices(scan, raw), rotation)
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
