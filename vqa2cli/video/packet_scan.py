"""Probe's one demux pass over a file (:func:`scan_packets` → :class:`PacketScan`): the shown packets' times
and durations, packets an edit list hides, timestamp restarts, the first decoded frame and, at most one per
``KEY_DECODE_GAP`` packets, key frames decoded for their size (where a stream can change size mid-stream);
and what follows from it: the frame rate, duration and VFR verdict (:func:`stream_timing`), raw elementary
streams (:func:`is_raw`, :func:`raw_rate`), the display-size changes (:func:`size_changes`). The meaning of
each figure is :mod:`vqa2cli.video.probe`'s module docstring."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import DecodeFailedError
from .frame_rate import is_variable
from .opening import codec_name
from .streams import STREAMS_ADDED

KEY_DECODE_GAP = 8  # probe decodes a key frame for its size when at least this many packets follow the last


@dataclass
class PacketScan:
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


def _decode_sizes(stream, packet, scan: PacketScan) -> None:
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


def scan_packets(container, stream, path: Path, warnings: list[str], key_sizes: bool = True) -> PacketScan:
    """One demux pass: shown packets' pts/durations, the first frame decoded (format, rotation) and, with
    ``key_sizes``, key frames decoded for their size (at most one per ``KEY_DECODE_GAP`` packets)."""
    import av

    scan = PacketScan(times=[], sizes=[], fed=[], runs=[[]])
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


def _track_end(packet, scan: PacketScan) -> None:
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


def change_indices(scan: PacketScan, raw: bool) -> list[tuple[int, int, int]]:
    """Decoded key-frame sizes keyed by display index: the rank of their pts among the shown packets when
    timestamps are usable, else their decode position (raw streams, timestamps that restart)."""
    import bisect

    if raw or scan.restarts or not scan.times:
        return sorted((pos, w, h) for _, pos, w, h in scan.sizes)
    pts = [t for t, _ in scan.times]
    return sorted(
        (bisect.bisect_left(pts, key) if key is not None else pos, w, h) for key, pos, w, h in scan.sizes
    )


def is_raw(container, scan: PacketScan) -> bool:
    """A demuxer without timestamps (raw H.264/HEVC/MPEG-2/AV1 ...), or no packet with a timestamp."""
    import av

    return bool(int(container.format.flags) & av.format.Flags.no_timestamps.value) or not scan.times


def raw_rate(stream, warnings: list[str]) -> float:
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


def stream_timing(
    stream, container, scan: PacketScan, raw: bool, warnings: list[str]
) -> tuple[float, float, bool]:
    """(avg_fps, duration_s, vfr) from the stream header and the packet timestamps."""
    n, times = scan.count, scan.times
    if raw:
        avg_fps = raw_rate(stream, warnings)
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
