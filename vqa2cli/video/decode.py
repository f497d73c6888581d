"""Decode a video once with PyAV into the two inputs VQA² was trained on (spec §3).

``decode_clip`` = :func:`~vqa2cli.video.probe.probe_video` (one demux pass: frame count, fps, rotation)
→ :func:`~vqa2cli.video.sampling.plan_sampling` → one threaded decode pass in which only the planned frames
are converted and resized (:mod:`vqa2cli.video.resize`) straight into preallocated ``uint8`` arrays. Every
frame must still be decoded (inter-frame coding), but no full-size frame outlives its loop iteration.

Deviations from the official loader (decord + ``SigLipImageProcessor``), each also noted in the output:

* short clips, long clips, token budget: see :mod:`vqa2cli.video.sampling`;
* resize method ``"sws"`` by default, within 1 grey level of PIL on average (see :mod:`vqa2cli.video.resize`);
  ``resize="pil"`` is the exact official path;
* a missing average frame rate falls back to frames/duration (the official code crashes).

**Mid-stream decode failures** (truncated download, damaged packets): decoding stops at the first error,
because skipping a broken frame would shift every later frame index. The frames decoded so far are kept,
with a warning and the plan restricted to them (``truncated:m`` in ``plan.policy``), when there are at least
``min(n_frames, max(4, r))`` of them, i.e. one key-frame interval (about 1 s) and 4 motion frames; otherwise
:class:`~vqa2cli.errors.DecodeFailedError` is raised. A quality score from the first second of a damaged
file is still meaningful; one from a handful of frames is not.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ..config import VideoSection
from ..errors import DecodeFailedError
from .probe import VideoInfo, open_container, probe_video, video_stream
from .resize import FrameResizer
from .sampling import SamplingPlan, plan_sampling, restrict_plan

__all__ = ["DecodedClip", "VideoInfo", "decode_clip", "probe_video", "tokens_per_keyframe"]


@dataclass
class DecodedClip:
    info: VideoInfo
    plan: SamplingPlan
    keyframes: object  # numpy uint8 [K, S, S, 3] RGB, S = video.keyframe_size
    motion_frames: object  # numpy uint8 [T, s, s, 3] RGB, s = video.motion_size
    keyframe_times: tuple[float, ...]  # seconds from the first frame's pts
    warnings: tuple[str, ...]
    decode_s: float
    resize: str = "sws"  # "sws" (swscale Keys bicubic, ≤1 level from PIL) or "pil" (official path)


def tokens_per_keyframe(size: int, patch: int = 14) -> int:
    """SigLIP patches per side, bilinearly pooled to ceil(side/2) (spec §2): 384 px → 27 → 14² = 196."""
    return math.ceil((size // patch) / 2) ** 2


def decode_clip(path, video: VideoSection, *, token_budget: int | None = None, motion_copies: int = 1,
                resize: str = "sws") -> DecodedClip:
    """Decode ``path`` into key frames and motion frames sized per ``video``; raises ``InputError`` subclasses."""
    started = time.perf_counter()
    info = probe_video(path)
    plan = plan_sampling(info.n_frames, info.avg_fps, keyframe_fps=video.keyframe_fps,
                         max_motion_frames=video.max_motion_frames, token_budget=token_budget,
                         tokens_per_keyframe=tokens_per_keyframe(video.keyframe_size),
                         motion_copies=motion_copies, policy=video.long_clip_policy, source=info.path)
    resizer = FrameResizer({video.keyframe_size, video.motion_size}, info.rotation, resize)
    keys, motion, times, decoded, error = _decode_planned(info, plan, video, resizer)
    warnings = list(info.warnings) + list(plan.notes)
    needed = max(max(plan.keyframe_indices), max(plan.motion_indices)) + 1
    if decoded < needed:
        keys, motion, times, plan = _keep_partial(info, plan, keys, motion, times, decoded, error)
        warnings.append(plan.notes[-1])
    return DecodedClip(info=info, plan=plan, keyframes=keys, motion_frames=motion, keyframe_times=tuple(times),
                       warnings=tuple(warnings), decode_s=time.perf_counter() - started, resize=resize)


def _decode_planned(info: VideoInfo, plan: SamplingPlan, video: VideoSection, resizer: FrameResizer):
    """One decode pass; returns (keys, motion, times, frames decoded, error text or None)."""
    import av
    import numpy as np

    big, small = video.keyframe_size, video.motion_size
    key_rows = {idx: row for row, idx in enumerate(plan.keyframe_indices)}
    motion_rows: dict[int, list[int]] = {}
    for row, idx in enumerate(plan.motion_indices):
        motion_rows.setdefault(idx, []).append(row)
    last = max(max(key_rows), max(motion_rows))
    keys = np.empty((len(key_rows), big, big, 3), np.uint8)
    motion = np.empty((len(plan.motion_indices), small, small, 3), np.uint8)
    times = [0.0] * len(key_rows)
    index, start, error = -1, None, None
    with open_container(info.path) as container:
        stream = video_stream(container, info.path)
        stream.thread_type = "AUTO"
        stream.thread_count = video.decode_threads
        try:
            for frame in container.decode(stream):
                index += 1
                start = frame.time if start is None else start
                if index in key_rows or index in motion_rows:
                    sizes = ({big} if index in key_rows else set()) | ({small} if index in motion_rows else set())
                    out = resizer(frame, sizes)
                    if index in key_rows:
                        keys[key_rows[index]] = out[big]
                        times[key_rows[index]] = _seconds(frame, start, index, info.avg_fps)
                    for row in motion_rows.get(index, ()):
                        motion[row] = out[small]
                if index >= last:
                    break
        except av.error.FFmpegError as exc:
            error = exc.strerror or type(exc).__name__
    return keys, motion, times, index + 1, error


def _seconds(frame, start, index: int, fps: float) -> float:
    if frame.time is None or start is None:
        return index / fps
    return round(frame.time - start, 6)


def _keep_partial(info, plan, keys, motion, times, decoded: int, error: str | None):
    """Apply the mid-stream failure policy (module docstring): keep what was decoded, or raise."""
    import numpy as np

    reason = f"decoding stopped after {decoded} of {info.n_frames} frames" + (f" ({error})" if error else "")
    if decoded < min(info.n_frames, max(4, plan.keyframe_step)):
        raise DecodeFailedError(info.path, reason, "the file is truncated or damaged; re-download or re-export it")
    kept = restrict_plan(plan, decoded)
    first_row = {}
    for row, idx in enumerate(plan.motion_indices):
        first_row.setdefault(idx, row)
    keys = keys[: len(kept.keyframe_indices)]
    motion = motion[np.array([first_row[i] for i in kept.motion_indices])]
    note = f"{reason}: kept {len(kept.keyframe_indices)} key frames and {len(kept.motion_indices)} motion frames"
    notes = kept.notes[:-1] + (note,)
    kept = SamplingPlan(kept.keyframe_indices, kept.motion_indices, kept.keyframe_step, kept.motion_stride,
                        kept.policy, notes)
    return keys, motion, times[: len(kept.keyframe_indices)], kept
