"""Which decoded frames become key frames (SigLIP) and motion frames (SlowFast): pure index arithmetic.

Official rule (spec §3, ``load_video`` in the Q-Future scripts, decoding with decord):

* ``r = round(avg_fps)`` with Python's banker's rounding; key frames are ``range(0, n, r)``: 1 fps, no cap.
* motion (dense) frames are *all* frames cut to a multiple of 4: ``range(n)[: n // 4 * 4]``.

``motion_frame_step`` (``video.motion_frame_step``) chooses the motion rule; the key frames do not change:

* ``1`` (default): all frames, as above: the later evaluation scripts and the training loader.
* ``k > 1``: every ``k``-th frame, cut in the order of the UGC evaluation script published with the weights
  (``INIT:VQA_main/llava/eval/model_score_UGC.py``, spec §3) with ``k = 8``: first to a multiple of ``k``
  frames, then every ``k``-th, then to a multiple of 4: ``range(n)[: n // k * k][0::k]`` cut to
  ``len // 4 * 4``, i.e. ``n // k // 4 * 4`` motion frames at ``0, k, 2k, ...``.

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
  repeating the last frame (``pad:4``). With ``motion_frame_step = k`` the rule yields no motion frame at
  all below ``4k`` frames (32 with ``k = 8``: about a second; under ``k`` frames not even before the cut to
  4); the same policy applies: the rule's frames before the cut to 4 (at least frame 0), the last repeated
  up to 4 (``pad:4``, noted).
* **Long clips** (``policy="stride"``). The motion position table has ``max_motion_frames``
  (2000) rows and the official code crashes beyond it. We take every ``s``-th frame of the rule's frames,
  ``s = ceil(n_rule / max_motion_frames)``, so at most ``max_motion_frames`` motion frames remain (cut to a
  multiple of 4; ``stride:s``; consecutive motion frames are ``s * motion_frame_step`` frames apart). If
  ``token_budget`` is given and ``K * tokens_per_keyframe + 1 + T * motion_copies`` exceeds it (the official
  code silently truncates the sequence at 10000 embeddings), the key frames are subsampled uniformly to the
  largest count that fits, first and last kept (``keyframes:uniform-K``); only if not even one key frame
  fits is the motion stride increased.
* ``policy="segments"`` (the default) scores a clip over the limits window by window
  (:mod:`vqa2cli.video.segments`); a single plan made under it behaves as ``stride``.
* ``policy="error"`` raises :class:`ClipTooLongError` instead of deviating for long clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import CHOICES
from ..errors import InputError

POLICIES = CHOICES[
    ("video", "long_clip_policy")
]  # declared once, with the settings; "segments": windows (video/segments.py); a single
# plan under it is planned as "stride" (a window over the motion table, or `ask` on a long clip)


LONG_CLIP_FIX = (
    "use --long-clip segments or --long-clip stride (config video.long_clip_policy), or trim the clip"
)


class ClipTooLongError(InputError):
    """The clip exceeds the motion table or the token budget and ``long_clip_policy`` is ``error``."""

    code = "too_long"


@dataclass(frozen=True)
class SamplingPlan:
    keyframe_indices: tuple[int, ...]  # indices into the decoded frame sequence (presentation order)
    motion_indices: tuple[int, ...]  # len is a multiple of 4, >= 4 (may repeat the last frame when padded)
    keyframe_step: int  # r = round(avg_fps / keyframe_fps) (banker's), at least 1
    motion_stride: int  # 1 = the rule's frames (official); >1 = long-clip policy: every s-th of them
    policy: str  # "official" or "+"-joined deviations: "pad:4", "stride:3", "keyframes:uniform-40"
    notes: tuple[str, ...]  # human-readable deviations
    motion_frame_step: int = 1  # the motion rule: 1 = all frames (default), 8 = the paper's UGC eval


def tokens_per_keyframe(side_px: int, patch_px: int = 14) -> int:
    """Tokens one key frame becomes: SigLIP's ``side_px // patch_px`` patches per side, bilinearly pooled to
    ceil(side/2) per side (spec §2): 384 px / 14 → 27 → 14² = 196. The one definition: the model config
    (its vision ``image_size``/``patch_size``) and the decoder's budget (``video.keyframe_size``) read it."""
    return math.ceil((side_px // patch_px) / 2) ** 2


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


def rule_frames(n: int, step: int = 1) -> range:
    """The motion rule's frames before the cut to a multiple of 4: ``range(n)[: n // step * step][0::step]``."""
    return range(0, n // step * step, step)


def _strided_motion(n: int, cap: int, step: int = 1) -> tuple[tuple[int, ...], int]:
    """Motion indices for ``n`` frames by the rule ``step`` (>= 4 of its frames), at most ``cap`` (>= 4) of
    them: (indices, stride over the rule's frames)."""
    base, cap4 = rule_frames(n, step), cap // 4 * 4
    if len(base) // 4 * 4 <= cap4:
        return tuple(base[: len(base) // 4 * 4]), 1
    stride = max(1, min(math.ceil(len(base) / cap4), len(base) // 4))  # keeps >= 4 frames when cap4 == 4
    picked = base[::stride]
    return tuple(picked[: len(picked) // 4 * 4]), stride


def _uniform_subset(indices: tuple[int, ...], count: int) -> tuple[int, ...]:
    """``count`` items spread evenly over ``indices``, first and last kept (integer rounding, distinct)."""
    if count >= len(indices):
        return indices
    if count == 1:
        return indices[:1]
    last, span = len(indices) - 1, count - 1
    return tuple(indices[(2 * j * last + span) // (2 * span)] for j in range(count))


def plan_sampling(
    n_frames: int,
    avg_fps: float,
    *,
    keyframe_fps: float = 1.0,
    max_motion_frames: int = 2000,
    token_budget: int | None = None,
    tokens_per_keyframe: int = 196,
    motion_copies: int = 1,
    policy: str = "stride",
    source: str = "video",
    motion_frame_step: int = 1,
) -> SamplingPlan:
    """Plan the key and motion frame indices for a clip of ``n_frames`` decoded frames.

    ``motion_frame_step``: the motion rule (module docstring; 1 = all frames, 8 = the paper's UGC eval).
    ``source`` only names the clip in :class:`ClipTooLongError` messages. Raises ``ValueError`` for
    arguments out of range, :class:`ClipTooLongError` under ``policy="error"``.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    if isinstance(motion_frame_step, bool) or not isinstance(motion_frame_step, int) or motion_frame_step < 1:
        raise ValueError(f"motion_frame_step must be a positive integer, got {motion_frame_step!r}")
    if max_motion_frames < 4:
        raise ValueError(f"max_motion_frames must be at least 4, got {max_motion_frames}")
    if policy not in POLICIES:
        raise ValueError(f"long-clip policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    step = keyframe_step(avg_fps, keyframe_fps)
    keyframes = tuple(range(0, n_frames, step))
    parts: list[str] = []
    notes: list[str] = []
    if n_frames < step:
        notes.append(
            f"clip shorter than one key-frame interval ({n_frames} < {step} frames): "
            "frame 0 is the only key frame"
        )
    k = motion_frame_step
    rule = rule_frames(n_frames, k)
    if len(rule) < 4:
        picked = tuple(rule) or (0,)
        motion, stride = picked + (picked[-1],) * (4 - len(picked)), 1
        parts.append("pad:4")
        notes.append(
            f"only {n_frames} frame(s): motion frames padded to 4 by repeating the last frame"
            if k == 1
            else f"only {n_frames} frame(s): one frame in {k} gives {len(rule)} motion frame(s), none "
            "after the official cut to a multiple of 4; padded to 4 by repeating the last one"
        )
    else:
        if len(rule) // 4 * 4 > max_motion_frames and policy == "error":
            raise ClipTooLongError(
                source, f"{n_frames} frames exceed the {max_motion_frames}-row motion table", LONG_CLIP_FIX
            )
        motion, stride = _strided_motion(n_frames, max_motion_frames, k)
    if token_budget is not None:
        keyframes, motion, stride = _fit_budget(
            keyframes,
            motion,
            stride,
            n_frames,
            token_budget,
            tokens_per_keyframe,
            motion_copies,
            policy,
            source,
            notes,
            k,
        )
    if stride > 1:
        parts.append(f"stride:{stride}")
        notes.append(
            f"{n_frames} frames: one motion frame in every {stride * k} used "
            f"({len(motion)} motion frames; the motion table has {max_motion_frames} rows)"
        )
    if len(keyframes) < len(range(0, n_frames, step)):
        parts.append(f"keyframes:uniform-{len(keyframes)}")
    return SamplingPlan(keyframes, motion, step, stride, "+".join(parts) or "official", tuple(notes), k)


def _fit_budget(keyframes, motion, stride, n_frames, budget, per_key, copies, policy, source, notes, k=1):
    """Shrink the key frames (then, if needed, the motion frames) until the visual tokens fit ``budget``."""
    total = visual_tokens(len(keyframes), len(motion), per_key, copies)
    if total <= budget:
        return keyframes, motion, stride
    if policy == "error":
        raise ClipTooLongError(
            source,
            f"{len(keyframes)} key frames and {len(motion)} motion frames need "
            f"{total} visual tokens, over the budget of {budget}",
            LONG_CLIP_FIX,
        )
    fit = (budget - 1 - len(motion) * copies) // per_key
    if fit < 1:
        cap = (budget - 1 - per_key) // copies
        if cap < 4:
            raise ClipTooLongError(
                source,
                f"a token budget of {budget} cannot hold one key frame and 4 motion frames",
                "raise video.max_tokens or use a shorter prompt",
            )
        motion, stride = _strided_motion(n_frames, cap, k)
        fit = 1
    subset = _uniform_subset(keyframes, fit)
    notes.append(
        f"{len(keyframes)} key frames over the token budget of {budget}: {len(subset)} kept, spread uniformly"
    )
    return subset, motion, stride


def restrict_plan(plan: SamplingPlan, n_available: int) -> SamplingPlan:
    """Keep only indices below ``n_available`` (decoding ended early; motion indices below
    ``n_available // motion_frame_step * motion_frame_step``, the rule's own first cut); motion cut to a
    multiple of 4 (padded to 4). Without long-clip deviations this equals ``plan_sampling(n_available,
    ...)``: its indices are a prefix of the plan's.
    """
    if n_available < 1:
        raise ValueError(f"n_available must be at least 1, got {n_available}")
    keys = tuple(i for i in plan.keyframe_indices if i < n_available) or (0,)
    limit = n_available // plan.motion_frame_step * plan.motion_frame_step
    motion = tuple(i for i in plan.motion_indices if i < limit)
    if len(motion) >= 4:
        motion = motion[: len(motion) // 4 * 4]
    else:
        motion = motion + (motion[-1] if motion else 0,) * (4 - len(motion))
    if keys == plan.keyframe_indices and motion == plan.motion_indices:
        return plan
    parts = [p for p in plan.policy.split("+") if p != "official"] + [f"truncated:{n_available}"]
    note = (
        f"decoding ended after {n_available} frames: {len(keys)} key frames, {len(motion)} motion frames kept"
    )
    return SamplingPlan(
        keys,
        motion,
        plan.keyframe_step,
        plan.motion_stride,
        "+".join(parts),
        plan.notes + (note,),
        plan.motion_frame_step,
    )
