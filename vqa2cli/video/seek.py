"""Decode chosen windows of a clip by seeking (``score --explain``): only those windows are decoded again.

:class:`SeekStream` yields the same ``(Window, DecodedClip)`` pairs as
:class:`~vqa2cli.video.decode.WindowStream`, but instead of decoding from the start of the file it seeks the
demuxer to the key frame at or before each window's first frame (``av_seek_frame`` with
``AVSEEK_FLAG_BACKWARD``, PyAV ``container.seek(pts, stream=..., backward=True, any_frame=False)``), decodes
forward, drops the frames before the window and stops after its last planned frame. Each decoded frame is
mapped to its frame index by its presentation timestamp: the rank of its ``pts`` among the stream's packet
timestamps (one demux pass, no decoding; the same rank rule as :func:`~vqa2cli.video.decode.presentation_times`,
exact for constant and variable frame rates). The frames handed to the model are bit-identical to the
full-pass decode of that window (tests/test_seek.py), because decoding from a key frame reproduces the
frames that follow it.

Cost: per window, the frames from the key frame before it to its last planned frame (at most one GOP more
than the window); a window that starts within a key-frame step of the last frame decoded (a run of adjacent
windows) is decoded on from there without a seek. ``frames_decoded`` counts them. When the demuxer lands after the window's first frame
(a key-frame index keyed by decoding time), the seek is retried from earlier timestamps.

Falls back to the full pass from the start (:class:`~vqa2cli.video.decode.WindowStream`, ``fallback`` says
why) when seeking cannot be trusted to give the same frames: raw elementary streams (no timestamps),
timestamps that restart, packets without or with repeated timestamps, a packet count that differs from the
probe's, a damaged file (``clean=False``: the full pass re-indexes frames after a lost packet), a seek the
demuxer refuses (no index), or decoded frames that are corrupt, unknown or out of sequence.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..config import VideoSection
from .frame_reader import IN_FLIGHT, _Collector, _finish, _frames, _seconds, _Tally
from .opening import open_container
from .probe import VideoInfo
from .resize import FrameResizer
from .streams import STREAMS_ADDED, video_stream

__all__ = ["SeekStream"]


class _Unseekable(Exception):
    """Seeking cannot give the full pass's frames (the message says why)."""


class _Reader:
    """The frames decoded after one seek, each with its frame index (``last``: the latest; ``first``: the
    first after the seek). Raises :class:`_Unseekable` for a frame whose timestamp is no packet's or that
    does not follow the one before."""

    def __init__(self, frames, tally: _Tally):
        self.iterator, self.tally = frames, tally
        self.first: int | None = None
        self.last = -1

    @classmethod
    def after_seek(cls, container, stream, pts: int) -> _Reader:
        import av

        try:
            container.seek(pts, stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError as exc:
            raise _Unseekable(f"the demuxer cannot seek ({exc.strerror})") from exc
        tally = _Tally()
        return cls(_frames(container, stream, tally), tally)

    def frames(self, index_of: dict[int, int]):
        for frame in self.iterator:
            index = index_of.get(frame.pts)
            if index is None or (self.first is not None and index != self.last + 1):
                raise _Unseekable(f"decoded frame (pts {frame.pts}) out of sequence after seeking")
            if self.first is None:
                self.first = index
            self.last = index
            yield index, frame


class SeekStream:
    """``iter`` yields ``(Window, DecodedClip)`` for each of ``windows`` (ascending, non-overlapping), decoded
    by seeking (module docstring). ``clean``: the file decoded without lost or damaged frames when scored.
    After iterating, ``frames_decoded`` is the number of frames decoded (all windows, retries included) and
    ``fallback`` the reason the full pass was used (None when every window was seeked). A window whose
    frames do not all decode falls back to the full pass for it and the windows after it."""

    def __init__(self, info: VideoInfo, windows, video: VideoSection, resize: str, *, clean: bool = True):
        self.info, self.windows, self.video, self.resize = info, list(windows), video, resize
        self.clean = clean
        self.frames_decoded = 0
        self.fallback: str | None = None
        self.warnings: list[str] = []
        self._reader: _Reader | None = None
        self.index_of: dict[int, int] = {}
        self.start = 0.0  # the first frame's time (seconds), as the full pass's

    def __iter__(self):
        done = 0
        try:
            stamps = self._stamps()
            with open_container(self.info.path, self.info.size_bytes) as container:
                stream = video_stream(container, self.info.path, self.info.stream_index)
                stream.thread_type = "AUTO"
                stream.thread_count = self.video.decode_threads
                resizer = self._resizer()
                self.index_of = {pts: i for i, pts in enumerate(stamps)}
                base = stream.time_base
                self.start = float(stamps[0]) * base.numerator / base.denominator
                for window in self.windows:
                    started = time.perf_counter()
                    out = self._window(container, stream, window, stamps, resizer)
                    yield window, self._clip(window, out, started)
                    done += 1
        except _Unseekable as exc:
            self.fallback = str(exc)
        finally:
            if self._reader is not None:
                self._reader.iterator.close()
            self._reader = None
        if done < len(self.windows):
            yield from self._full_pass(self.windows[done:])

    def _resizer(self) -> FrameResizer:
        sizes = {self.video.keyframe_size, self.video.motion_size}
        return FrameResizer(sizes, self.info.rotation, self.resize, hflip=self.info.hflip)

    def _stamps(self) -> list[int]:
        """Every shown packet's pts, sorted (frame index = rank); raises :class:`_Unseekable`."""
        import av

        info = self.info
        if not self.clean:
            raise _Unseekable("the file had lost or damaged frames when scored")
        if info.raw_stream:
            raise _Unseekable("a raw stream has no timestamps to seek to")
        if info.timestamp_restarts:
            raise _Unseekable("the timestamps restart mid-stream")
        stamps = []
        with open_container(info.path, info.size_bytes) as container:
            stream = video_stream(container, info.path, info.stream_index)
            try:
                for packet in container.demux(stream):
                    if packet.size:
                        stamps.append(packet.pts)
            except STREAMS_ADDED:
                pass
            except av.error.FFmpegError as exc:
                raise _Unseekable(f"the packets cannot be read ({exc.strerror})") from exc
        if any(t is None for t in stamps) or len(set(stamps)) != len(stamps):
            raise _Unseekable("packets without or with repeated timestamps")
        if len(stamps) != info.n_frames:
            raise _Unseekable(f"{len(stamps)} packets for {info.n_frames} frames")
        return sorted(stamps)

    def _window(self, container, stream, window, stamps: list[int], resizer) -> _Collector:
        """Decode ``window``: on from the previous window when it starts within one key-frame step of the
        last frame decoded (a run of adjacent windows: no seek), else seek to its first frame (earlier and
        earlier while the demuxer lands after it)."""
        step = max(16, window.plan.keyframe_step)
        if self._reader is not None and self._reader.last < window.start <= self._reader.last + step:
            out = self._collect(self._reader, window, resizer)
            if out is not None:
                return out
        target = window.start
        while True:
            if self._reader is not None:
                self._reader.iterator.close()
            self._reader = _Reader.after_seek(container, stream, stamps[target])
            out = self._collect(self._reader, window, resizer)
            if out is not None:
                return out
            if target == 0:
                raise _Unseekable("the first frame after seeking to the start is not frame 0")
            target, step = max(0, target - step), step * 2

    def _collect(self, reader: _Reader, window, resizer) -> _Collector | None:
        """``window``'s planned frames from ``reader``; None when the reader starts after the window's first
        frame (seek earlier). Raises :class:`_Unseekable`."""
        out = _Collector(window.plan, self.video)
        pending: deque = deque()
        with ThreadPoolExecutor(1, thread_name_prefix="vqa2-resize") as pool:
            try:
                for index, frame in reader.frames(self.index_of):
                    self.frames_decoded += 1
                    if index < window.start:
                        continue
                    if index > window.start and reader.first == index:
                        return None  # landed after the window: seek earlier
                    if frame.is_corrupt or reader.tally.lost:
                        raise _Unseekable(f"frame {index} is damaged after seeking")
                    sizes = out.sizes(index)
                    if sizes:
                        seconds = _seconds(frame, self.start, index, self.info)
                        pending.append((index, seconds, pool.submit(resizer, frame, sizes)))
                    while len(pending) > IN_FLIGHT:
                        _finish(pending.popleft(), out, self.info.path)
                    if index >= out.last:
                        while pending:
                            _finish(pending.popleft(), out, self.info.path)
                        return out
            finally:
                for _, _, future in pending:
                    future.cancel()
        raise _Unseekable(f"decoding ended before frame {out.last} after seeking")

    def _clip(self, window, out: _Collector, started: float):
        from .decode import DecodedClip

        info = replace(self.info, n_frames=window.n_frames, duration_s=window.duration_s)
        return DecodedClip(
            info=info,
            plan=window.plan,
            keyframes=out.keys,
            motion_frames=out.motion,
            keyframe_times=tuple(out.times),
            warnings=tuple(window.plan.notes),
            decode_s=time.perf_counter() - started,
            resize=self.resize,
        )

    def _full_pass(self, windows):
        """The windows left, decoded from the start in one pass (``WindowStream``), up to the last of them."""
        from .decode import WindowStream

        stream = WindowStream(self.info, windows, self.video, self.resize)
        for window, clip in stream:
            yield window, clip
            if window is windows[-1]:
                break
        self.frames_decoded += windows[-1].stop
        self.warnings = stream.warnings
