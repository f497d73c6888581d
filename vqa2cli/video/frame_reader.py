"""The streaming frame reader under :mod:`vqa2cli.video.decode`: one threaded decode pass over a stream.

Every frame is decoded (inter-frame coding) and counted (:class:`_Tally`: corrupt flags, size changes,
the error that ended decoding); only the frames a :class:`~vqa2cli.video.sampling.SamplingPlan` wants
are converted and resized (:class:`~vqa2cli.video.resize.FrameResizer`, in one worker thread so it
overlaps decoding) straight into preallocated ``uint8`` arrays (:class:`_Collector`). A full-size frame
lives only until it is resized (at most ``IN_FLIGHT`` + 1 of them at a time). :func:`_decode_stream`
hands each plan's arrays over as soon as its last planned frame is resized (the window stream);
:func:`_decode_planned` is the one-plan case (a clip). What the frames mean (clip assembly, the
mid-stream failure policy, warnings) is :mod:`vqa2cli.video.decode`'s; the underscored names are the
package-internal interface between the two modules.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ..config import VideoSection
from ..errors import DecodeFailedError
from .opening import open_container
from .packet_scan import size_changes
from .probe import VideoInfo
from .resize import FrameResizer
from .sampling import SamplingPlan
from .streams import STREAMS_ADDED, video_stream

IN_FLIGHT = 2  # decoded full-size frames that may wait for the resize thread


def _output_array(shape: tuple[int, ...]):
    """An uninitialised ``uint8`` numpy array of ``shape`` in ordinary (4 KiB) pages.

    numpy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on large arrays; with the
    common ``defrag=madvise`` setting each huge-page fault may then stall in direct memory compaction, which
    on a busy machine made filling 800 MB of frames cost 1.7-2.6 s of CPU instead of 0.5-0.6 s
    (benchmarks/RESULTS.md). torch's CPU allocator does not ask for huge pages, and the model reads these
    arrays through ``torch.from_numpy`` anyway."""
    import torch

    return torch.empty(shape, dtype=torch.uint8).numpy()


class _Collector:
    """Preallocated output arrays; ``store`` puts one resized frame in every row that wants it."""

    def __init__(self, plan: SamplingPlan, video: VideoSection):
        self.big, self.small = video.keyframe_size, video.motion_size
        self.key_rows = {idx: row for row, idx in enumerate(plan.keyframe_indices)}
        self.motion_rows: dict[int, list[int]] = {}
        for row, idx in enumerate(plan.motion_indices):
            self.motion_rows.setdefault(idx, []).append(row)
        self.last = max(max(self.key_rows), max(self.motion_rows))
        self.keys = _output_array((len(self.key_rows), self.big, self.big, 3))
        self.motion = _output_array((len(plan.motion_indices), self.small, self.small, 3))
        self.times = [0.0] * len(self.key_rows)

    def sizes(self, index: int) -> set[int]:
        wanted = {self.big} if index in self.key_rows else set()
        return (wanted | {self.small}) if index in self.motion_rows else wanted

    def store(self, index: int, seconds: float, out: dict) -> None:
        if index in self.key_rows:
            self.keys[self.key_rows[index]] = out[self.big]
            self.times[self.key_rows[index]] = seconds
        for row in self.motion_rows.get(index, ()):
            self.motion[row] = out[self.small]


class _Tally:
    """Every frame the decoder returned, to the end of the stream: count, corrupt flags, sizes, the error
    that ended decoding (the demuxer's), the packets the decoder refused (``lost``, the first refusal's
    reason in ``lost_error``: skipped, decoding goes on). ``count_only``: stop converting planned frames
    (strict mode found damage)."""

    def __init__(self, count_only: bool = False):
        self.decoded, self.damaged, self.error, self.count_only = 0, 0, None, count_only
        self.lost, self.lost_error = 0, None
        self.frame_sizes: list[tuple[int, int, int]] = []  # (index, coded w, h): first frame, then changes

    def check(self, frame, index: int) -> None:
        """Count a damaged frame and note where the frame size changes."""
        self.damaged += bool(frame.is_corrupt)
        if not self.frame_sizes or self.frame_sizes[-1][1:] != (frame.width, frame.height):
            self.frame_sizes.append((index, frame.width, frame.height))

    def changes(self, info: VideoInfo) -> tuple[tuple[int, int, int], ...]:
        """``(frame index, display width, height)`` after the first frame, where the size changes."""
        return size_changes(self.frame_sizes, info.rotation)


def _decode_planned(info: VideoInfo, plan: SamplingPlan, video: VideoSection, resizer: FrameResizer):
    """One decode pass over the whole stream; returns (collector, tally)."""
    tally, out = _Tally(), None
    for out, _, _ in _decode_stream(info, [plan], video, resizer, tally):  # noqa: B007 - the last one is kept
        pass
    return out, tally


def _decode_stream(
    info: VideoInfo, plans, video: VideoSection, resizer: FrameResizer, tally: _Tally, opener=None
):
    """One decode pass over the whole stream, yielding ``(collector, frames decoded so far, error or None)``
    for each plan of ``plans`` (ascending, non-overlapping frame ranges) as soon as its last planned frame is
    resized; ``tally`` counts every frame to the end of the stream (it is final once the generator ends).

    The decoder (FFmpeg's own threads) and the resize (one worker thread; swscale and torch release the
    GIL) run in parallel. At most ``IN_FLIGHT`` full-size frames wait for their resize; each is dropped once
    resized. Frames after the last planned one are only counted (size, corrupt flag), not converted. When
    decoding ends early (end of data or an error) the plan in progress is yielded with the frames it got and
    the rest are not; after an error the decoder is drained, so the count does not depend on thread timing.
    ``opener``: a callable returning the open container (a live copy, video/live.py); default the file.
    """
    plans = iter(plans)
    first = None if tally.count_only else next(plans, None)
    if first is None and not tally.count_only:
        return  # no window planned (a live stream that stalled or ended before its first): nothing to read
    out = None if first is None else _Collector(first, video)
    index, start = -1, None
    pending: deque = deque()
    pool = ThreadPoolExecutor(1, thread_name_prefix="vqa2-resize")
    opened = opener() if opener is not None else open_container(info.path, info.size_bytes)
    with opened as container, pool:
        stream = video_stream(container, info.path, info.stream_index)
        stream.thread_type = "AUTO"
        stream.thread_count = video.decode_threads
        frames = _frames(container, stream, tally)
        try:
            for frame in frames:
                index += 1
                tally.check(frame, index)
                if out is None:
                    continue
                start = frame.time if start is None else start
                sizes = out.sizes(index)
                if sizes:
                    seconds = _seconds(frame, start, index, info)
                    pending.append((index, seconds, pool.submit(resizer, frame, sizes)))
                while len(pending) > IN_FLIGHT:
                    _finish(pending.popleft(), out, info.path)
                if index >= out.last:
                    while pending:
                        _finish(pending.popleft(), out, info.path)
                    yield out, index + 1, tally.error
                    following = None if tally.count_only else next(plans, None)
                    out = None if following is None else _Collector(following, video)
        finally:
            frames.close()
            while pending:
                _finish(pending.popleft(), out, info.path)
    tally.decoded = index + 1
    if out is not None:
        yield out, index + 1, tally.error


def _frames(container, stream, tally: _Tally):
    """Every frame of ``stream``, decoding past damaged packets as the ffmpeg CLI does: a packet the decoder
    refuses (``avcodec_send_packet``/``receive_frame`` error, e.g. ``InvalidDataError``) is counted in
    ``tally.lost`` and skipped, the decoder kept, and decoding goes on with the next packet (ffmpeg's
    "Error while decoding stream", not fatal without ``-xerror``). At a demuxer error (the container cannot
    be read further) ``tally.error`` is set and the frames the decoder still holds are flushed (then the
    generator ends). Packets go to the decoder exactly as ``container.decode`` sends them (empty ones too)."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except STREAMS_ADDED:
            break  # the end of the packets (probe.STREAMS_ADDED): flush below
        except av.error.FFmpegError as exc:
            tally.error = exc.strerror or type(exc).__name__
            break
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            tally.lost += 1
            tally.lost_error = tally.lost_error or exc.strerror or type(exc).__name__
            continue
        yield from frames
    try:
        yield from stream.decode(None)
    except av.error.FFmpegError:
        pass


def _finish(item, out: _Collector, path: str) -> None:
    import av

    index, seconds, future = item
    try:
        resized = future.result()
    except av.error.FFmpegError as exc:  # a frame FFmpeg decoded but cannot convert: not a truncation
        raise DecodeFailedError(
            path,
            f"cannot convert frame {index} to RGB ({exc.strerror})",
            "re-encode the file, e.g. ffmpeg -i IN -pix_fmt yuv420p OUT.mp4",
        ) from exc
    out.store(index, seconds, resized)


def _seconds(frame, start, index: int, info: VideoInfo) -> float:
    """Seconds from the first frame: its timestamp, or ``index / avg_fps`` for raw streams (whose
    timestamps, if any, are the demuxer's guesses), timestamps that restart, and frames without one."""
    if info.raw_stream or info.timestamp_restarts or frame.time is None or start is None:
        return index / info.avg_fps
    return round(frame.time - start, 6)
