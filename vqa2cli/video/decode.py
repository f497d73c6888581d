"""Decode a video once with PyAV into the two inputs VQA² was trained on (spec §3).

``decode_clip`` = :func:`~vqa2cli.video.probe.probe_video` (one demux pass: frame count, fps, rotation)
→ :func:`~vqa2cli.video.sampling.plan_sampling` → one threaded decode pass in which only the planned frames
are converted and resized (:mod:`vqa2cli.video.resize`, in a worker thread so it overlaps decoding) straight
into preallocated ``uint8`` arrays. Every frame must still be decoded (inter-frame coding); a full-size frame
lives only until it is resized (at most ``IN_FLIGHT`` + 1 of them at a time).

Deviations from the official loader (decord + ``SigLipImageProcessor``), each also noted in the output:

* short clips, long clips, token budget: see :mod:`vqa2cli.video.sampling`;
* resize method ``"torch"`` by default: PIL's antialiased bicubic as torch implements it, within 0.1 grey
  level of PIL on average (see :mod:`vqa2cli.video.resize`); ``resize="pil"`` is the exact official path;
* a missing average frame rate falls back to frames/duration (the official code crashes);
* frames are the ones a player shows (:mod:`vqa2cli.video.probe`): an edit list's hidden packets are not
  counted (decord counts them), raw elementary streams use the bitstream's rate, not FFmpeg's 25 fps default;
* YUV→RGB is swscale's full-size conversion honouring the stream's colour tags, as decord's: with
  ``resize="pil"`` the frames equal decord 0.6.0's bit for bit for 8-bit and 4:2:2 10-bit sources, while
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

Decoding always runs to the end of the stream (past the last sampled frame), so ``decoded_frames`` is
every frame the decoder returned and ``damaged_frames`` those it flagged corrupt (error concealment, a
missing reference); the records report both. With ``video.strict`` a file with fewer decoded frames than
``n_frames``, any damaged frame, or a container the demuxer gave up on raises
:class:`~vqa2cli.errors.DamagedInputError` (``damaged_input``, exit 3) instead of scoring with a warning.
Every frame's size is checked: ``resolution_changes`` lists where it changes (each frame is resized
to the model's size whatever its own).
"""

from __future__ import annotations

import math
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..config import VideoSection
from ..errors import DamagedInputError, DecodeFailedError
from .probe import VideoInfo, open_container, probe_video, resolution_note, size_changes, video_stream
from .resize import FrameResizer
from .sampling import SamplingPlan, plan_sampling, restrict_plan

__all__ = ["DecodedClip", "VideoInfo", "decode_clip", "probe_video", "tokens_per_keyframe"]

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
    decoded_frames: int = 0  # frames the decoder returned (the whole stream is decoded)
    damaged_frames: int = 0  # of those, frames flagged corrupt (error concealment, missing reference)
    resolution_changes: tuple[tuple[int, int, int], ...] = ()  # (frame index, display width, height)


def tokens_per_keyframe(size: int, patch: int = 14) -> int:
    """SigLIP patches per side, bilinearly pooled to ceil(side/2) (spec §2): 384 px → 27 → 14² = 196."""
    return math.ceil((size // patch) / 2) ** 2


def decode_clip(path, video: VideoSection, *, token_budget: int | None = None, motion_copies: int = 1,
                resize: str = "torch") -> DecodedClip:
    """Decode ``path`` into key and motion frames sized per ``video``; raises ``InputError`` subclasses
    (:class:`~vqa2cli.errors.DamagedInputError` for a damaged file when ``video.strict``)."""
    started = time.perf_counter()
    info = probe_video(path, key_sizes=False)  # the decode below sees every frame's size
    plan = plan_sampling(info.n_frames, info.avg_fps, keyframe_fps=video.keyframe_fps,
                         max_motion_frames=video.max_motion_frames, token_budget=token_budget,
                         tokens_per_keyframe=tokens_per_keyframe(video.keyframe_size),
                         motion_copies=motion_copies, policy=video.long_clip_policy, source=info.path,
                         motion_frame_step=video.motion_frame_step)
    resizer = FrameResizer({video.keyframe_size, video.motion_size}, info.rotation, resize)
    out, decoded, error = _decode_planned(info, plan, video, resizer)
    keys, motion, times = out.keys, out.motion, out.times
    warnings = list(info.warnings) + list(plan.notes)
    changes = size_changes(out.frame_sizes, info.rotation)
    if changes:
        warnings.append(resolution_note(_display(out.frame_sizes[0], info), changes))
    needed = max(max(plan.keyframe_indices), max(plan.motion_indices)) + 1
    if decoded < needed:  # raises decode_failed below one key-frame interval, in either mode
        keys, motion, times, plan = _keep_partial(info, plan, keys, motion, times, decoded, error)
        warnings.append(plan.notes[-1])
    if getattr(video, "strict", False) and (decoded < info.n_frames or out.damaged or info.container_damaged):
        raise _damaged(info, decoded, out.damaged, error)
    elif decoded < info.n_frames:
        warnings.append(f"only {decoded} of {info.n_frames} frames decodable (after the last sampled frame"
                        + (f"; decoding failed: {error})" if error else ")"))
    if out.damaged:
        warnings.append(f"{out.damaged} damaged frame(s) decoded with error concealment or a missing "
                        "reference")
    return DecodedClip(info=info, plan=plan, keyframes=keys, motion_frames=motion,
                       keyframe_times=tuple(times), warnings=tuple(warnings),
                       decode_s=time.perf_counter() - started, resize=resize, decoded_frames=decoded,
                       damaged_frames=out.damaged, resolution_changes=changes)


def _display(size, info: VideoInfo) -> tuple[int, int]:
    _, w, h = size
    return (h, w) if info.rotation in (90, 270) else (w, h)


def _damaged(info: VideoInfo, decoded: int, damaged: int, error: str | None) -> DamagedInputError:
    """The ``--strict`` error: what was decoded, and why the rest was not."""
    parts = [f"damaged input: {decoded} of {info.n_frames} frames decodable"]
    if damaged:
        parts.append(f"{damaged} of them damaged")
    if error:
        parts.append(f"decoding failed: {error}")
    if info.container_damaged:
        parts.append(f"the container is damaged: {info.container_damaged}")
    return DamagedInputError(info.path, "; ".join(parts),
                             "re-download or re-export the file, or drop --strict to score what decodes",
                             input={"n_frames": info.n_frames, "decoded_frames": decoded,
                                    "damaged_frames": damaged})


class _Collector:
    """Preallocated output arrays; ``store`` puts one resized frame in every row that wants it."""

    def __init__(self, plan: SamplingPlan, video: VideoSection):
        import numpy as np

        self.big, self.small = video.keyframe_size, video.motion_size
        self.key_rows = {idx: row for row, idx in enumerate(plan.keyframe_indices)}
        self.motion_rows: dict[int, list[int]] = {}
        for row, idx in enumerate(plan.motion_indices):
            self.motion_rows.setdefault(idx, []).append(row)
        self.last = max(max(self.key_rows), max(self.motion_rows))
        self.keys = np.empty((len(self.key_rows), self.big, self.big, 3), np.uint8)
        self.motion = np.empty((len(plan.motion_indices), self.small, self.small, 3), np.uint8)
        self.times = [0.0] * len(self.key_rows)
        self.frame_sizes: list[tuple[int, int, int]] = []  # (index, coded w, h): first frame, then changes
        self.damaged = 0

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
    """One decode pass over the whole stream; returns (collector, frames decoded, error text or None).

    The decoder (FFmpeg's own threads) and the resize (one worker thread; swscale and torch release the
    GIL) run in parallel. At most ``IN_FLIGHT`` full-size frames wait for their resize; each is dropped once
    resized. Frames after the last sampled one are only counted (size, corrupt flag), not converted.
    """
    import av

    out = _Collector(plan, video)
    index, start, error = -1, None, None
    pending: deque = deque()
    pool = ThreadPoolExecutor(1, thread_name_prefix="vqa2-resize")
    with open_container(info.path) as container, pool:
        stream = video_stream(container, info.path)
        stream.thread_type = "AUTO"
        stream.thread_count = video.decode_threads
        def take(frame) -> None:
            nonlocal index, start
            index += 1
            _check_frame(frame, index, out)
            if index > out.last:
                return
            start = frame.time if start is None else start
            sizes = out.sizes(index)
            if sizes:
                seconds = _seconds(frame, start, index, info)
                pending.append((index, seconds, pool.submit(resizer, frame, sizes)))
            while len(pending) > IN_FLIGHT:
                _finish(pending.popleft(), out, info.path)

        try:
            for frame in container.decode(stream):
                take(frame)
        except av.error.FFmpegError as exc:
            error = exc.strerror or type(exc).__name__
            _drain(stream, take)  # frames still in the decoder's threads: the count does not depend on timing
        finally:
            while pending:
                _finish(pending.popleft(), out, info.path)
    return out, index + 1, error


def _drain(stream, take) -> None:
    """After a decode error, flush the frames of the packets before it that the decoder still holds."""
    import av

    try:
        for frame in stream.decode(None):
            take(frame)
    except av.error.FFmpegError:
        pass


def _check_frame(frame, index: int, out: _Collector) -> None:
    """Count damaged frames and note where the frame size changes."""
    out.damaged += bool(frame.is_corrupt)
    if not out.frame_sizes or out.frame_sizes[-1][1:] != (frame.width, frame.height):
        out.frame_sizes.append((index, frame.width, frame.height))


def _finish(item, out: _Collector, path: str) -> None:
    import av

    index, seconds, future = item
    try:
        resized = future.result()
    except av.error.FFmpegError as exc:  # a frame FFmpeg decoded but cannot convert: not a truncation
        raise DecodeFailedError(path, f"cannot convert frame {index} to RGB ({exc.strerror})",
                                "re-encode the file, e.g. ffmpeg -i IN -pix_fmt yuv420p OUT.mp4") from exc
    out.store(index, seconds, resized)


def _seconds(frame, start, index: int, info: VideoInfo) -> float:
    """Seconds from the first frame: its timestamp, or ``index / avg_fps`` for raw streams (whose
    timestamps, if any, are the demuxer's guesses), timestamps that restart, and frames without one."""
    if info.raw_stream or info.timestamp_restarts or frame.time is None or start is None:
        return index / info.avg_fps
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
