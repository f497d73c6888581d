"""Windows of a stream whose length is not known yet, planned and decoded as its frames arrive (docs/live.md).

The window rule is :func:`~vqa2cli.video.segments.plan_windows`, unchanged: with ``n`` frames seen so far,
every window of ``plan_windows(n, ...)`` but the last is final (constant frame rate: windows of ``L``
frames; the last one may still grow, or a short tail may still join it), and at the stream's end (or at
``--duration``) all of them are. So the windows are exactly those ``score --segments`` plans for the same
complete file, each known one key-frame step (``round(avg_fps)`` frames, about 1 s) after its last frame
arrives. A frame counter (one demux pass, in a thread) feeds :class:`LiveWindows`; the decode pass is the
one of :class:`~vqa2cli.video.decode.WindowStream`, whose plans are taken from :class:`LiveWindows` one by
one, waiting for each.

The clip's facts (frame rate, rotation, stream) come from :func:`~vqa2cli.video.probe.probe_video` on the
bytes already there, and at the stream's end from the probe of the complete copy: the record's ``input``
is then the file's. Windows are cut by frame count (constant rate); a stream the final probe finds
variable-rate is noted (``score --segments`` on the file cuts it by presentation time).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from ..errors import CorruptContainerError, EmptyFileError, InputError
from .decode import WindowStream
from .probe import STREAMS_ADDED, VideoInfo, probe_video, video_stream
from .sampling import keyframe_step
from .segments import TIME_EPSILON_S, Window, plan_windows, window_frames


class LiveWindows:
    """The final windows of a live stream, in order, as they become final (a growing sequence).

    Iterating waits for the next window (thread-safe; several iterators each see every window); it ends at
    the stream's end, or raises the error the counter met. ``limit_frames``: ``--duration`` as a frame count
    (the stream ends there)."""

    def __init__(
        self,
        avg_fps: float,
        window_s: float,
        sampling: dict[str, Any],
        *,
        limit_frames: int | None = None,
    ):
        self.avg_fps, self.window_s, self.sampling = avg_fps, window_s, sampling
        self.limit = limit_frames
        keyframe_fps = sampling.get("keyframe_fps", 1.0)
        self.length = window_frames(avg_fps, window_s, keyframe_fps)
        self.step = keyframe_step(avg_fps, keyframe_fps)
        self.final: list[Window] = []
        self.ended, self.limited, self.error = False, False, None
        self._cond = threading.Condition()

    @property
    def full(self) -> bool:
        """True once ``limit_frames`` frames were seen (``--duration`` reached): the windows are all final."""
        return self.limited

    def seen(self, n: int) -> None:
        """``n`` frames have arrived: windows that can no longer change become final."""
        with self._cond:
            if self.ended:
                return
            if self.limit is not None and n >= self.limit:
                self.limited = True
                self._finish(self.limit, self.limit / self.avg_fps)
            elif n >= (len(self.final) + 1) * self.length + self.step:
                self._extend(plan_windows(n, self.avg_fps, self.window_s, **self.sampling)[:-1])

    def end(self, n: int, duration_s: float | None = None, *, keep_tail: bool = True) -> None:
        """The stream ended after ``n`` frames (``duration_s``: the complete file's, for the last window's
        end). ``keep_tail=False`` (a stall): the windows not final yet are dropped."""
        with self._cond:
            if self.ended:
                return
            if self.limit is not None and n >= self.limit:  # --duration reached as the stream ended
                self.limited = True
                self._finish(self.limit, self.limit / self.avg_fps)
            elif keep_tail and n > 0:
                self._finish(n, duration_s)
            self.ended = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self._cond:
            if not self.ended:
                self.error, self.ended = error, True
                self._cond.notify_all()

    def _finish(self, n: int, duration_s: float | None) -> None:
        self._extend(plan_windows(n, self.avg_fps, self.window_s, duration_s=duration_s, **self.sampling))
        self.ended = True
        self._cond.notify_all()

    def _extend(self, windows) -> None:
        self.final.extend(windows[len(self.final) :])
        self._cond.notify_all()

    def __len__(self) -> int:
        return len(self.final)

    def __getitem__(self, index):
        return self.final[index]

    def __iter__(self) -> Iterator[Window]:
        i = 0
        while True:
            with self._cond:
                while i >= len(self.final) and not self.ended:
                    self._cond.wait()
                if i < len(self.final):
                    window = self.final[i]
                elif self.error is not None:
                    raise self.error
                else:
                    break
            yield window
            i += 1


class FrameCounter:
    """One demux pass over a live copy in a thread: counts the video stream's shown packets (as the probe
    counts frames), probes the bytes there once a few packets are in (:attr:`info`), hands the counts to
    :attr:`windows` once set, and at the end probes the complete copy. ``open_reader()``: a new file object
    from the copy's first byte; ``path``: the copy; ``name``: the input as given; ``stalled()``: whether the
    copy ended by its time-out."""

    PROBE_AFTER = 2  # packets in before the first probe (doubled after each probe that finds no frame)

    def __init__(
        self,
        open_reader,
        path: str,
        name: str,
        stream: int,
        stalled: Callable[[], bool],
        end_at: Callable[[int], None] | None = None,
    ):
        self.open_reader, self.path, self.name, self.stream = open_reader, path, name, stream
        self.stalled, self.end_at = stalled, end_at
        self.reader: Any = None
        self.header_fps: float | None = None  # the stream header's average rate (as the probe reads it)
        self.count, self.ended = 0, False
        self.info: VideoInfo | None = None
        self.error: BaseException | None = None
        self.windows: LiveWindows | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="vqa2-live-count", daemon=True)

    def start(self) -> FrameCounter:
        self._thread.start()
        return self

    def wait_info(self) -> VideoInfo:
        """The clip's facts from the first bytes; raises the InputError of a stream with nothing decodable."""
        with self._cond:
            while self.info is None and self.error is None:
                self._cond.wait()
            if self.info is None:
                assert self.error is not None
                raise self.error
            return self.info

    def plan(self, windows: LiveWindows) -> None:
        """Start handing counts to ``windows`` (the counts so far at once)."""
        with self._cond:
            self.windows = windows
            ended, count = self.ended, self.count
        windows.seen(count)
        if windows.full:
            self._limit_reached()
        if ended:
            self._end_windows()

    def _limit_reached(self) -> None:
        """``--duration`` reached: the stream ends where this pass has read (every frame before the limit is
        in those bytes; the decode pass reads up to there, a few frames more at most)."""
        if self.end_at is not None and self.reader is not None:
            self.end_at(self.reader.offset)

    def _run(self) -> None:
        try:
            self._count()
        except BaseException as exc:  # noqa: BLE001 - handed to the run's thread
            self._fail(exc)
            return
        with self._cond:
            self.ended = True
        if self.info is None:
            self._probe(final=True)  # raises nothing: sets info or error
        self._end_windows()

    def _count(self) -> None:
        import av

        self.reader = self.open_reader()
        try:
            container = av.open(self.reader, mode="r", metadata_errors="replace")
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            if self.stalled():
                return
            if os.path.getsize(self.path) == 0:
                raise EmptyFileError(
                    self.name, "the stream ended before its first byte (0 bytes)", "check what feeds it"
                ) from exc
            reason = getattr(exc, "strerror", None) or str(exc)
            raise CorruptContainerError(
                self.name, f"not a readable video stream ({reason})", "check the source and its format"
            ) from exc
        next_probe = self.PROBE_AFTER
        with container:
            stream = video_stream(container, self.name, self.stream)
            rate = stream.average_rate  # read from the stream's start as far as for the complete file
            self.header_fps = float(rate) if rate and float(rate) > 0 else None
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or packet.is_discard:
                        continue
                    with self._cond:
                        self.count += 1
                    if self.info is None and self.count >= next_probe:
                        next_probe *= 2
                        self._probe(final=False)
                    windows = self.windows
                    if windows is not None:
                        windows.seen(self.count)
                        if windows.full:
                            self._limit_reached()
                            return
            except STREAMS_ADDED:
                pass
            except av.error.FFmpegError:
                pass  # a stream cut mid-packet: the frames before count; the final probe says so

    def _probe(self, *, final: bool) -> None:
        """Probe the bytes there; a probe before the end drops what a cut-off copy makes it say."""
        try:
            info = probe_video(self.path, key_sizes=False, stream=self.stream)
        except InputError as exc:
            if final:
                self._fail(exc)
            return
        if not final:  # what a cut-off copy makes the probe say is dropped; the rate is the header's
            fps = self.header_fps if self.header_fps and not info.raw_stream else info.avg_fps
            info = replace(info, warnings=(), container_damaged=None, size_bytes=0, avg_fps=fps)
        with self._cond:
            self.info = info
            self._cond.notify_all()

    def _end_windows(self) -> None:
        """At the end of the copy: the complete copy probed; the last windows planned over its frames."""
        windows = self.windows
        if windows is None or windows.ended:
            return
        if self.stalled():
            windows.end(self.count, keep_tail=False)
            return
        try:
            final = probe_video(self.path, key_sizes=False, stream=self.stream)
        except InputError as exc:
            windows.fail(exc)
            return
        with self._cond:
            self.info = final
        windows.end(final.n_frames, final.duration_s)

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self.error, self.ended = exc, True
            self._cond.notify_all()
        if self.windows is not None:
            self.windows.fail(exc)


class LiveWindowStream(WindowStream):
    """A :class:`~vqa2cli.video.decode.WindowStream` over a live copy: its ``windows`` are a
    :class:`LiveWindows` (waited for one by one), its container opened through ``opener`` (a reader of the
    copy), its ``info`` the counter's latest (the complete file's once the stream has ended)."""

    def __init__(self, counter: FrameCounter, windows: LiveWindows, video, opener, *, limit_s=None):
        self.counter, self.limit_s = counter, limit_s
        super().__init__(counter.wait_info(), windows, video, video.resize)
        self.opener = opener

    @property
    def info(self) -> VideoInfo:
        """The counter's latest facts; once ``--duration`` is reached, those of the first D seconds."""
        info = self.counter.info or self._info
        if self.windows.limited and self.windows.final:
            last = self.windows.final[-1]
            info = replace(info, n_frames=last.stop, duration_s=last.end_s)
        return info

    @info.setter
    def info(self, value: VideoInfo) -> None:
        self._info = value

    def __iter__(self):
        yield from super().__iter__()
        final = self.counter.info
        if final is not None and final.warnings:
            self.warnings[:0] = [w for w in final.warnings if w not in self.warnings]
        if final is not None and not self.windows.limited and final.avg_fps != self.windows.avg_fps:
            self.warnings.append(
                f"the frame rate read at the stream's start ({self.windows.avg_fps:g} fps) differs from the "
                f"complete stream's ({final.avg_fps:g} fps): its windows were cut at {self.windows.avg_fps:g} fps"
            )
        if final is not None and final.vfr and not self.windows.limited:
            self.warnings.append(
                "variable frame rate: the live windows were cut by frame count (constant-rate rule); "
                "`score --segments` on the file cuts by presentation time"
            )


class FirstFrames:
    """A container whose ``demux`` ends after the first ``limit`` shown packets (size > 0, not discarded: the
    frames the probe counts) of the stream it is asked for: the decode pass of ``--duration`` decodes exactly
    the clip's frames, whatever follows. Everything else is the wrapped container's."""

    def __init__(self, container, limit: int):
        self.container, self.limit = container, limit

    def __getattr__(self, name: str):
        return getattr(self.container, name)

    def __enter__(self) -> FirstFrames:
        self.container.__enter__()
        return self

    def __exit__(self, *exc):
        return self.container.__exit__(*exc)

    def demux(self, *streams):
        import av

        shown = 0
        for packet in self.container.demux(*streams):
            yield packet
            if packet.size and not packet.is_discard:
                shown += 1
                if shown >= self.limit:
                    flush = av.Packet()  # an empty packet: the decoder gives the frames it holds (as at EOF)
                    flush.stream = packet.stream
                    yield flush
                    return


def limit_frames(limit_s: float | None, avg_fps: float) -> int | None:
    """``--duration`` in frames: those shown before ``limit_s`` seconds (frame ``i`` at ``i / avg_fps``)."""
    if limit_s is None:
        return None
    return max(1, math.ceil(limit_s * avg_fps - TIME_EPSILON_S))
