"""Decode a video once with PyAV into the two inputs VQA² was trained on (spec §3).

``decode_clip`` = :func:`~vqa2cli.video.probe.probe_video` (one demux pass: frame count, fps, rotation)
→ :func:`~vqa2cli.video.sampling.plan_sampling` → one threaded decode pass in which only the planned frames
are converted and resized (:mod:`vqa2cli.video.resize`, in a worker thread so it overlaps decoding) straight
into preallocated ``uint8`` arrays. Every frame must still be decoded (inter-frame coding); a full-size frame
lives only until it is resized (at most ``IN_FLIGHT`` + 1 of them at a time).

Deviations from the official loader (decord + ``SigLipImageProcessor``), each also noted in the output:

* short clips, long clips, token budget: see :mod:`vqa2cli.video.sampling`;
* resize method ``"torch"`` by default: PIL's antialiased bicubic as torch implements it, within 0.1 grey
  level of PIL on average (see :mod:`vqa2cli.video.resize`); ``video.resize="pil"`` is the exact official path;
* a missing average frame rate falls back to frames/duration (the official code crashes);
* YUV→RGB is swscale's full-size conversion honouring the stream's colour tags, as decord's: with
  ``video.resize="pil"`` the frames equal decord 0.6.0's bit for bit for 8-bit and 4:2:2 10-bit sources, while
  10-bit 4:2:0 differs at chroma edges (decord bundles FFmpeg 4; tests/test_official_loader.py,
  benchmarks/RESULTS.md). Rotation metadata is applied as decord and the ffmpeg CLI do; interlaced frames
  are not deinterlaced (neither are they officially).

**Mid-stream decode failures** (truncated download, damaged packets, a stream cut before its first key frame,
whose leading frames the decoder drops): decoding stops at the first error,
because skipping a broken frame would shift every later frame index. The frames decoded so far are kept,
with a warning and the plan restricted to them (``truncated:m`` in ``plan.policy``), when there are at least
``min(n_frames, max(4, r))`` of them, i.e. one key-frame interval (about 1 s) and 4 motion frames; otherwise
:class:`~vqa2cli.errors.DecodeFailedError` is raised. A quality score from the first second of a damaged
file is still meaningful; one from a handful of frames is not.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from ..config import VideoSection
from ..errors import DecodeFailedError
from .probe import VideoInfo, open_container, probe_video, video_stream
from .resize import FrameResizer
from .sampling import SamplingPlan, plan_sampling, restrict_plan, tokens_per_keyframe

__all__ = ["DecodedClip", "VideoInfo", "WindowStream", "decode_clip", "decode_windows", "probe_video",
           "tokens_per_keyframe"]

IN_FLIGHT = 2  # decoded full-size frames that may wait for the resize thread


@dataclass
class DecodedClip:
    info: VideoInfo
    plan: SamplingPlan
    keyframes: object  # numpy uint8 [K, S, S, 3] RGB, S = video.keyframe_size
    motion_frames: object  # numpy uint8 [T, s, s, 3] RGB, s = video.motion_size
    keyframe_times: tuple[float, ...]  # seconds from the first frame's pts
    warnings: tuple[str, ...]
    decode_s: float
    resize: str = "torch"  # "torch" (PIL's bicubic in torch), "sws" (swscale) or "pil" (official path)


def decode_clip(path, video: VideoSection, *, token_budget: int | None = None, motion_copies: int = 1,
                info: VideoInfo | None = None) -> DecodedClip:
    """Decode ``path`` into key and motion frames sized, sampled and resized per ``video``.

    ``video.resize`` picks the resize method (recorded as ``DecodedClip.resize``); ``token_budget`` is the
    number of visual tokens the prompt leaves (None: no limit); ``motion_copies`` is how often the motion
    block appears in the prompt (``settings.model.motion_copies``: 2 for the duplicated layout).
    Raises ``InputError`` subclasses (missing, empty, not a video, undecodable, over the long-clip limits
    with ``long_clip_policy="error"``). ``info``: the clip's :func:`probe_video` result when the caller
    already has it.
    """
    resize = video.resize
    started = time.perf_counter()
    info = info or probe_video(path)
    plan = plan_sampling(info.n_frames, info.avg_fps, keyframe_fps=video.keyframe_fps,
                         max_motion_frames=video.max_motion_frames, token_budget=token_budget,
                         tokens_per_keyframe=tokens_per_keyframe(video.keyframe_size),
                         motion_copies=motion_copies, policy=video.long_clip_policy, source=info.path,
                         motion_frame_step=video.motion_frame_step)
    resizer = FrameResizer({video.keyframe_size, video.motion_size}, info.rotation, resize)
    keys, motion, times, decoded, error = _decode_planned(info, plan, video, resizer)
    warnings = list(info.warnings) + list(plan.notes)
    needed = max(max(plan.keyframe_indices), max(plan.motion_indices)) + 1
    if decoded < needed:
        keys, motion, times, plan = _keep_partial(info, plan, keys, motion, times, decoded, error)
        warnings.append(plan.notes[-1])
    return DecodedClip(info=info, plan=plan, keyframes=keys, motion_frames=motion,
                       keyframe_times=tuple(times), warnings=tuple(warnings),
                       decode_s=time.perf_counter() - started, resize=resize)


class WindowStream:
    """A clip decoded window by window in one pass (``iter`` yields ``(Window, DecodedClip)`` pairs).

    ``windows`` is the plan (:func:`~vqa2cli.video.segments.plan_windows`), known before decoding starts.
    Each window's frames are handed over as soon as its last planned frame is resized, and its arrays are
    the caller's to drop: the stream holds one window's frames at a time. The :class:`DecodedClip` of a
    window is the window seen as a clip: ``info.n_frames`` and ``info.duration_s`` are the window's,
    ``plan`` holds clip indices (offset by ``window.start``), ``keyframe_times`` are clip seconds and
    ``decode_s`` is the decode time spent on this window. When decoding ends early (truncated or damaged
    data) the window in progress is kept under the rule of :func:`decode_clip` (at least a key-frame interval
    and 4 frames of it decoded), later windows are dropped and ``warnings`` says so; if even the first window
    cannot be kept, :class:`~vqa2cli.errors.DecodeFailedError` is raised while iterating.
    """

    def __init__(self, info: VideoInfo, windows, video: VideoSection, resize: str):
        self.info, self.windows, self.video, self.resize = info, windows, video, resize
        self.warnings: list[str] = list(info.warnings)

    def __iter__(self):
        resizer = FrameResizer({self.video.keyframe_size, self.video.motion_size}, self.info.rotation,
                               self.resize)
        stream = _decode_stream(self.info, [w.plan for w in self.windows], self.video, resizer)
        started = time.perf_counter()
        for window, (out, decoded, error) in zip(self.windows, stream):
            plan, keys, motion, times = window.plan, out.keys, out.motion, out.times
            notes = list(plan.notes)
            short = decoded < max(max(plan.keyframe_indices), max(plan.motion_indices)) + 1
            if short:
                got = decoded - window.start
                if window.index > 0 and got < min(window.n_frames, max(4, plan.keyframe_step)):
                    self.warnings.append(f"decoding ended after {decoded} of {self.info.n_frames} frames: "
                                         f"windows {window.index}-{len(self.windows) - 1} not scored")
                    return
                keys, motion, times, plan = _keep_partial(self.info, plan, keys, motion, times, decoded, error)
                notes.append(plan.notes[-1])
            info = replace(self.info, n_frames=window.n_frames, duration_s=window.duration_s)
            yield window, DecodedClip(info=info, plan=plan, keyframes=keys, motion_frames=motion,
                                      keyframe_times=tuple(times), warnings=tuple(notes),
                                      decode_s=time.perf_counter() - started, resize=self.resize)
            if short:
                if window.index + 1 < len(self.windows):
                    self.warnings.append(f"decoding ended after {decoded} of {self.info.n_frames} frames: "
                                         f"windows {window.index + 1}-{len(self.windows) - 1} not scored")
                return
            started = time.perf_counter()


def decode_windows(path, video: VideoSection, window_s: float, *, token_budget: int | None = None,
                   motion_copies: int = 1, info: VideoInfo | None = None) -> WindowStream:
    """Plan ``path``'s windows of about ``window_s`` seconds and return the stream that decodes them in one
    pass (nothing is decoded until it is iterated). Variable-frame-rate clips are cut by presentation time
    (one extra demux pass reads the timestamps). Raises ``InputError`` subclasses."""
    from .segments import plan_windows

    info = info or probe_video(path)
    times = presentation_times(info) if info.vfr else None
    windows = plan_windows(info.n_frames, info.avg_fps, window_s, keyframe_fps=video.keyframe_fps,
                           max_motion_frames=video.max_motion_frames, token_budget=token_budget,
                           tokens_per_keyframe=tokens_per_keyframe(video.keyframe_size),
                           motion_copies=motion_copies, policy=video.long_clip_policy, frame_times=times,
                           duration_s=info.duration_s, source=info.path)
    return WindowStream(info, windows, video, video.resize)


def presentation_times(info: VideoInfo) -> list[float] | None:
    """Seconds from the first frame of every video packet's presentation time, sorted (one demux pass);
    ``None`` when some packet has no timestamp or the count differs from ``info.n_frames``."""
    import av

    with open_container(info.path) as container:
        stream = video_stream(container, info.path)
        try:
            stamps = [p.pts for p in container.demux(stream) if p.size]
        except av.error.FFmpegError:
            return None
    if len(stamps) != info.n_frames or any(t is None for t in stamps) or not stream.time_base:
        return None
    stamps.sort()
    base = float(stream.time_base)
    return [(t - stamps[0]) * base for t in stamps]


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


def _decode_planned(info: VideoInfo, plan: SamplingPlan, video: VideoSection, resizer: FrameResizer):
    """One decode pass; returns (keys, motion, times, frames decoded, error text or None)."""
    for out, decoded, error in _decode_stream(info, [plan], video, resizer):
        return out.keys, out.motion, out.times, decoded, error


def _decode_stream(info: VideoInfo, plans, video: VideoSection, resizer: FrameResizer):
    """One decode pass over the clip, yielding ``(collector, frames decoded so far, error or None)`` for each
    plan of ``plans`` (ascending, non-overlapping frame ranges) as soon as its last planned frame is resized.

    The decoder (FFmpeg's own threads) and the resize (one worker thread; swscale and torch release the
    GIL) run in parallel. At most ``IN_FLIGHT`` full-size frames wait for their resize; each is dropped once
    resized. When decoding ends early (end of data or an error) the plan in progress is yielded with the
    frames it got and the rest are not.
    """
    import av

    plans = iter(plans)
    out = _Collector(next(plans), video)
    index, start, error, done = -1, None, None, False
    pending: deque = deque()
    pool = ThreadPoolExecutor(1, thread_name_prefix="vqa2-resize")
    with open_container(info.path) as container, pool:
        stream = video_stream(container, info.path)
        stream.thread_type = "AUTO"
        stream.thread_count = video.decode_threads
        try:
            for frame in container.decode(stream):
                index += 1
                start = frame.time if start is None else start
                sizes = out.sizes(index)
                if sizes:
                    seconds = _seconds(frame, start, index, info.avg_fps)
                    pending.append((index, seconds, pool.submit(resizer, frame, sizes)))
                while len(pending) > IN_FLIGHT:
                    _finish(pending.popleft(), out, info.path)
                if index >= out.last:
                    while pending:
                        _finish(pending.popleft(), out, info.path)
                    yield out, index + 1, None
                    following = next(plans, None)
                    if following is None:
                        done = True
                        break
                    out = _Collector(following, video)
        except av.error.FFmpegError as exc:
            error = exc.strerror or type(exc).__name__
        finally:
            while pending:
                _finish(pending.popleft(), out, info.path)
    if not done:
        yield out, index + 1, error


def _finish(item, out: _Collector, path: str) -> None:
    import av

    index, seconds, future = item
    try:
        resized = future.result()
    except av.error.FFmpegError as exc:  # a frame FFmpeg decoded but cannot convert: not a truncation
        raise DecodeFailedError(path, f"cannot convert frame {index} to RGB ({exc.strerror})",
                                "re-encode the file, e.g. ffmpeg -i IN -pix_fmt yuv420p OUT.mp4") from exc
    out.store(index, seconds, resized)


def _seconds(frame, start, index: int, fps: float) -> float:
    if frame.time is None or start is None:
        return index / fps
    return round(frame.time - start, 6)


def _keep_partial(info, plan, keys, motion, times, decoded: int, error: str | None):
    """Apply the mid-stream failure policy (module docstring): keep what was decoded, or raise."""
    import numpy as np

    reason = (f"only {decoded} of {info.n_frames} frames decodable ("
              + (f"decoding failed: {error})" if error else
                 "damaged or truncated data, or a stream cut before its first key frame)"))
    if decoded < min(info.n_frames, max(4, plan.keyframe_step)):
        raise DecodeFailedError(info.path, reason,
                                "the file is truncated or damaged; re-download or re-export it")
    kept = restrict_plan(plan, decoded)
    first_row = {}
    for row, idx in enumerate(plan.motion_indices):
        first_row.setdefault(idx, row)
    keys = keys[: len(kept.keyframe_indices)]
    motion = motion[np.array([first_row[i] for i in kept.motion_indices])]
    note = (f"{reason}: kept {len(kept.keyframe_indices)} key frames and "
            f"{len(kept.motion_indices)} motion frames")
    notes = kept.notes[:-1] + (note,)
    kept = SamplingPlan(kept.keyframe_indices, kept.motion_indices, kept.keyframe_step, kept.motion_stride,
                        kept.policy, notes, kept.motion_frame_step)
    return keys, motion, times[: len(kept.keyframe_indices)], kept
