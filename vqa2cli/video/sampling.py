"""Which decoded frames become key frames (SigLIP) and motion frames (SlowFast): pure index arithmetic.

Official rule (spec §3, ``load_video`` in the Q-Future scripts, decoding with decord):

* ``r = round(avg_fps)`` with Python's banker's rounding; key frames are ``range(0, n, r)``: 1 fps, no cap.
* motion (dense) frames are *all* frames cut to a multiple of 4: ``range(n)[: n // 4 * 4]``.

``n`` is decord's ``len(vr)``, which is the number of packets of the video stream (decord indexes every
packet when it opens a file) and ``avg_fps`` is decord's ``get_avg_fps()``, i.e. the stream's
``avg_frame_rate``. :mod:`vqa2cli.video.probe` measures both the same way with PyAV, except where decord
does not see what a player shows: packets hidden by an edit list are not counted, and raw elementary
streams use the bitstream's rate (see that module).

Within the model's limits the plan equals the official indices exactly (``policy == "official"``).
Deviations, each recorded in ``SamplingPlan.policy`` and ``SamplingPlan.notes``:

* **Short clips.** With fewer than ``r`` frames the official eval script crashes (NameError) while its
  training loader yields frame 0; we follow the training loader: frame 0 is always a key frame. With fewer
  than 4 frames the official code would feed SlowFast an empty tensor; we pad the motion frames to 4 by
  repeating the last frame (``pad:4``).
* **Long clips** (``policy="stride"``, the default). The motion position table has ``max_motion_frames``
  (2000) rows and the official code crashes beyond it. We take every ``s``-th frame,
  ``s = ceil(n / max_motion_frames)``, so at most ``max_motion_frames`` motion frames remain (cut to a
  multiple of 4; ``stride:s``). If ``token_budget`` is given and ``K * tokens_per_keyframe + 1 +
  T * motion_copies`` exceeds it (the official code silently truncates the sequence at 10000 embeddings),
  the key frames are subsampled uniformly to the largest count that fits, first and last kept
  (``keyframes:uniform-K``); only if not even one key frame fits is the motion stride increased.
* ``policy="error"`` raises :class:`ClipTooLongError` instead of deviating for long clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError

POLICIES = ("stride", "error")


class ClipTooLongError(InputError):
    """The clip exceeds the motion table or the token budget and ``long_clip_policy`` is ``error``."""

    code = "too_long"


@dataclass(frozen=True)
class SamplingPlan:
    keyframe_indices: tuple[int, ...]  # indices into the decoded frame sequence (presentation order)
    motion_indices: tuple[int, ...]  # len is a multiple of 4, >= 4 (may repeat the last frame when padded)
    keyframe_step: int  # r = round(avg_fps / keyframe_fps) (banker's), at least 1
    motion_stride: int  # 1 = official (all frames); >1 = long-clip policy applied
    policy: str  # "official" or "+"-joined deviations: "pad:4", "stride:3", "keyframes:uniform-40"
    notes: tuple[str, ...]  # human-readable deviations


def visual_tokens(n_keyframes: int, n_motion: int, tokens_per_keyframe: int, motion_copies: int) -> int:
    """Spliced visual sequence length: K*tokens + 1 newline + T per motion copy (spec §2)."""
    return n_keyframes * tokens_per_keyframe + 1 + n_motion * motion_copies


def keyframe_step(avg_fps: float, keyframe_fps: float = 1.0) -> int:
    """``round(avg_fps / keyframe_fps)`` with Python's (banker's) rounding, at least 1."""
    if not (math.isfinite(avg_fps) and avg_fps > 0):
        raise ValueError(f"avg_fps must be a positive number, got {avg_fps!r}")
    if not (math.isfinite(keyframe_fps) and keyframe_fps > 0):
        raise ValueError(f"keyframe_fps must be a positive number, got {keyframe_fps!r}")
    return max(1, round(avg_fps / keyframe_fps))


def _strided_motion(n: int, cap: int) -> tuple[tuple[int, ...], int]:
    """Motion indices for ``n`` frames with at most ``cap`` (>= 4) of them: (indices, stride)."""
    cap4 = cap // 4 * 4
    if n // 4 * 4 <= cap4:
        return tuple(range(n // 4 * 4)), 1
    stride = max(1, min(math.ceil(n / cap4), n // 4))  # n // 4 keeps at least 4 frames when cap4 == 4
    picked = range(0, n, stride)
    return tuple(picked[: len(picked) // 4 * 4]), stride


def _uniform_subset(indices: tuple[int, ...], count: int) -> tuple[int, ...]:
    """``count`` items spread evenly over ``indices``, first and last kept (integer rounding, distinct)."""
    if count >= len(indices):
        return indices
    if count == 1:
        return indices[:1]
    last, span = len(indices) - 1, count - 1
    return tuple(indices[(2 * j * last + span) // (2 * span)] for j in range(count))


def plan_sampling(n_frames: int, avg_fps: float, *, keyframe_fps: float = 1.0,
                  max_motion_frames: int = 2000, token_budget: int | None = None,
                  tokens_per_keyframe: int = 196, motion_copies: int = 1,
                  policy: str = "stride", source: str = "video") -> SamplingPlan:
    """Plan the key and motion frame indices for a clip of ``n_frames`` decoded frames.

    ``source`` only names the clip in :class:`ClipTooLongError` messages.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    if max_motion_frames < 4:
        raise ValueError(f"max_motion_frames must be at least 4, got {max_motion_frames}")
    if policy not in POLICIES:
        raise ValueError(f"long-clip policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    step = keyframe_step(avg_fps, keyframe_fps)
    keyframes = tuple(range(0, n_frames, step))
    parts: list[str] = []
    notes: list[str] = []
    if n_frames < step:
        notes.append(f"clip shorter than one key-frame interval ({n_frames} < {step} frames): "
                     "frame 0 is the only key frame")
    if n_frames < 4:
        motion, stride = tuple(range(n_frames)) + (n_frames - 1,) * (4 - n_frames), 1
        parts.append("pad:4")
        notes.append(f"only {n_frames} frame(s): motion frames padded to 4 by repeating the last frame")
    else:
        if n_frames // 4 * 4 > max_motion_frames and policy == "error":
            raise ClipTooLongError(source, f"{n_frames} frames exceed the {max_motion_frames}-row motion "
                                           "table", "use long_clip_policy 'stride' or trim the clip")
        motion, stride = _strided_motion(n_frames, max_motion_frames)
    if token_budget is not None:
        keyframes, motion, stride = _fit_budget(keyframes, motion, stride, n_frames, token_budget,
                                                tokens_per_keyframe, motion_copies, policy, source, notes)
    if stride > 1:
        parts.append(f"stride:{stride}")
        notes.append(f"{n_frames} frames: one motion frame in every {stride} used "
                     f"({len(motion)} motion frames; the motion table has {max_motion_frames} rows)")
    if len(keyframes) < len(range(0, n_frames, step)):
        parts.append(f"keyframes:uniform-{len(keyframes)}")
    return SamplingPlan(keyframes, motion, step, stride, "+".join(parts) or "official", tuple(notes))


def _fit_budget(keyframes, motion, stride, n_frames, budget, per_key, copies, policy, source, notes):
    """Shrink the key frames (then, if needed, the motion frames) until the visual tokens fit ``budget``."""
    total = visual_tokens(len(keyframes), len(motion), per_key, copies)
    if total <= budget:
        return keyframes, motion, stride
    if policy == "error":
        raise ClipTooLongError(source, f"{len(keyframes)} key frames and {len(motion)} motion frames need "
                                       f"{total} visual tokens, over the budget of {budget}",
                               "use long_clip_policy 'stride' or trim the clip")
    fit = (budget - 1 - len(motion) * copies) // per_key
    if fit < 1:
        cap = (budget - 1 - per_key) // copies
        if cap < 4:
            raise ClipTooLongError(source, f"a token budget of {budget} cannot hold one key frame and 4 "
                                           "motion frames", "raise video.max_tokens or use a shorter prompt")
        motion, stride = _strided_motion(n_frames, cap)
        fit = 1
    subset = _uniform_subset(keyframes, fit)
    notes.append(f"{len(keyframes)} key frames over the token budget of {budget}: {len(subset)} kept, "
                 "spread uniformly")
    return subset, motion, stride


def restrict_plan(plan: SamplingPlan, n_available: int) -> SamplingPlan:
    """Keep only indices below ``n_available`` (decoding ended early); motion cut to a multiple of 4
    (padded to 4). For the official rule this equals ``plan_sampling(n_available, ...)``: its indices are a
    prefix of the plan's.
    """
    if n_available < 1:
        raise ValueError(f"n_available must be at least 1, got {n_available}")
    keys = tuple(i for i in plan.keyframe_indices if i < n_available) or (0,)
    motion = tuple(i for i in plan.motion_indices if i < n_available)
    if len(motion) >= 4:
        motion = motion[: len(motion) // 4 * 4]
    else:
        motion = motion + (motion[-1] if motion else 0,) * (4 - len(motion))
    if keys == plan.keyframe_indices and motion == plan.motion_indices:
        return plan
    parts = [p for p in plan.policy.split("+") if p != "official"] + [f"truncated:{n_available}"]
    note = (f"decoding ended after {n_available} frames: {len(keys)} key frames, "
            f"{len(motion)} motion frames kept")
    return SamplingPlan(keys, motion, plan.keyframe_step, plan.motion_stride, "+".join(parts),
                        plan.notes + (note,))
