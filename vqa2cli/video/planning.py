"""The one place a clip's sampling is planned from the config, for ``score``, ``ask``, ``probe`` and the memory
estimate alike: one forward (:func:`~vqa2cli.video.sampling.plan_sampling`) or windows
(:func:`~vqa2cli.video.segments.plan_windows`), with the same settings either way.

Every ``video.*`` key that moves a frame index is a *sampling setting* (:data:`SAMPLING_KEYS`) and reaches
every planner through :func:`sampling_args`; a window is therefore planned exactly as a clip holding just its
frames (under the ``ugc-scorer-paper`` card, ``motion_frame_step = 8`` applies inside every window as in a
single forward). The other ``video.*`` keys change pixels or the failure policy, never an index
(:data:`PIXEL_KEYS`); tests/test_window_settings.py checks that every key is in one of the two lists, so a
new setting has to be declared here before it can be forgotten by one planner.

When windows are used (:func:`choose_window`): ``--segments`` asks for them; otherwise the ``segments``
long-clip policy (the default) uses them only when one forward would be over the limits (the motion table
``video.max_motion_frames`` or the token budget); ``stride`` and ``error`` never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .sampling import SamplingPlan, plan_sampling, tokens_per_keyframe

# video.* keys that move frame indices (passed to every planner) and the ones that do not
SAMPLING_KEYS = (
    "keyframe_fps",
    "max_motion_frames",
    "motion_frame_step",
    "keyframe_size",
    "max_tokens",
    "long_clip_policy",
    "segment_s",
)
PIXEL_KEYS = (
    "motion_size",
    "motion_norm",
    "strict",
    "decode_threads",
    "resize",
    "stream",
)  # which video stream: chosen once by the probe (video/streams.py), read by every window


def sampling_args(
    video, *, token_budget: int | None, motion_copies: int = 1, source: str = "video"
) -> dict[str, Any]:
    """The keyword arguments of :func:`~vqa2cli.video.sampling.plan_sampling` for ``video`` (a
    :class:`~vqa2cli.config.VideoSection`): the same for one forward, every window and the over-limits test.
    ``token_budget``: visual tokens the prompt leaves (``None``: no limit); ``motion_copies``: 2 for the
    duplicated motion layout; ``source`` names the clip in errors."""
    return dict(
        keyframe_fps=video.keyframe_fps,
        max_motion_frames=video.max_motion_frames,
        token_budget=token_budget,
        tokens_per_keyframe=tokens_per_keyframe(video.keyframe_size),
        motion_copies=motion_copies,
        policy=video.long_clip_policy,
        source=source,
        motion_frame_step=video.motion_frame_step,
    )


def plan_single(info, video, *, token_budget: int | None, motion_copies: int = 1) -> SamplingPlan:
    """One forward over the clip ``info`` (a :class:`~vqa2cli.video.probe.VideoInfo`). Raises
    :class:`~vqa2cli.video.sampling.ClipTooLongError` under ``long_clip_policy = "error"``."""
    return plan_sampling(
        info.n_frames,
        info.avg_fps,
        **sampling_args(video, token_budget=token_budget, motion_copies=motion_copies, source=info.path),
    )


def choose_window(
    info, video, *, token_budget: int | None, motion_copies: int = 1, requested: float | None = None
) -> tuple[float | None, str]:
    """``(window seconds, reason)`` when the clip is scored in windows, ``(None, "")`` for one forward.
    ``requested``: ``--segments`` in seconds (reason ``"requested"``); else the ``segments`` policy's
    ``video.segment_s`` past the limits (reason ``"over-limits"``)."""
    from .segments import exceeds_limits

    if requested is not None:
        return requested, "requested"
    if video.long_clip_policy != "segments":
        return None, ""
    over = exceeds_limits(
        info.n_frames,
        info.avg_fps,
        **sampling_args(video, token_budget=token_budget, motion_copies=motion_copies),
    )
    return (video.segment_s, "over-limits") if over else (None, "")


def plan_clip_windows(
    info, video, window_s: float, *, token_budget: int | None, motion_copies: int = 1, frame_times=None
):
    """The windows of ``info`` (:func:`~vqa2cli.video.segments.plan_windows`) with every sampling setting.
    ``frame_times``: presentation times for a variable-frame-rate clip
    (:func:`~vqa2cli.video.decode.presentation_times`), ``None`` for constant rate."""
    from .segments import plan_windows

    return plan_windows(
        info.n_frames,
        info.avg_fps,
        window_s,
        frame_times=frame_times,
        duration_s=info.duration_s,
        **sampling_args(video, token_budget=token_budget, motion_copies=motion_copies, source=info.path),
    )


@dataclass(frozen=True)
class ClipPlan:
    """What ``score`` will run on a clip: one forward (``plan``) or windows (``windows``, ``window_s``,
    ``reason`` ``"requested"``/``"over-limits"``)."""

    plan: SamplingPlan | None
    windows: tuple | None = None
    window_s: float | None = None
    reason: str = ""


def plan_clip(
    info, video, *, token_budget: int | None, motion_copies: int = 1, requested: float | None = None
) -> ClipPlan:
    """The plan ``score`` runs on ``info``: :func:`choose_window`, then the windows (reading the presentation
    times of a variable-frame-rate clip: one demux pass) or the single plan."""
    window_s, reason = choose_window(
        info, video, token_budget=token_budget, motion_copies=motion_copies, requested=requested
    )
    if window_s is None:
        return ClipPlan(plan_single(info, video, token_budget=token_budget, motion_copies=motion_copies))
    from .decode import presentation_times

    times = presentation_times(info) if info.vfr else None
    windows = plan_clip_windows(
        info, video, window_s, token_budget=token_budget, motion_copies=motion_copies, frame_times=times
    )
    return ClipPlan(None, windows, window_s, reason)
