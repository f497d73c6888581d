"""Sampling arithmetic against a straightforward transcription of the official rule (spec §3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqa2cli.errors import InputError
from vqa2cli.video.sampling import ClipTooLongError, plan_sampling, restrict_plan, visual_tokens


def official(n: int, fps: float) -> tuple[list[int], list[int]]:
    """The official load_video indices, written out as the spec states them (decord, FT loader)."""
    r = round(fps)
    keyframes = [i for i in range(0, n, r)]
    dense = list(range(n))[: n // 4 * 4]
    return keyframes, dense


FPS = st.one_of(
    st.sampled_from([23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0, 2.5, 3.5, 1.0, 0.6]),
    st.floats(min_value=0.5, max_value=240, exclude_min=True),
)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(4, 2000), fps=FPS)
def test_within_limits_equals_official(n, fps):
    plan = plan_sampling(n, fps)
    keyframes, dense = official(n, fps)
    assert list(plan.keyframe_indices) == keyframes
    assert list(plan.motion_indices) == dense
    assert plan.keyframe_step == round(fps) and plan.motion_stride == 1
    assert plan.policy == "official"


@settings(max_examples=300, deadline=None)
@given(
    n=st.integers(1, 200_000),
    fps=FPS,
    max_motion=st.integers(4, 3000),
    budget=st.one_of(st.none(), st.integers(300, 40_000)),
    copies=st.integers(1, 2),
    per_key=st.sampled_from([196, 64]),
)
def test_constraints_hold_for_any_clip(n, fps, max_motion, budget, copies, per_key):
    plan = plan_sampling(
        n,
        fps,
        max_motion_frames=max_motion,
        token_budget=budget,
        tokens_per_keyframe=per_key,
        motion_copies=copies,
    )
    motion, keys = plan.motion_indices, plan.keyframe_indices
    assert len(motion) % 4 == 0 and 4 <= len(motion) <= max(4, max_motion)
    assert list(motion) == sorted(motion) and all(0 <= i < n for i in motion)
    assert keys[0] == 0 and len(set(keys)) == len(keys) and list(keys) == sorted(keys)
    assert set(keys) <= set(range(0, n, max(1, round(fps))))
    if budget is not None:
        assert visual_tokens(len(keys), len(motion), per_key, copies) <= budget
    if plan.motion_stride > 1:
        assert all(b - a == plan.motion_stride for a, b in zip(motion, motion[1:]))
        assert f"stride:{plan.motion_stride}" in plan.policy and plan.notes
    official_keys, official_dense = official(n, fps)
    official_tokens = visual_tokens(len(official_keys), len(official_dense), per_key, copies)
    if n >= 4 and len(official_dense) <= max_motion and (budget is None or official_tokens <= budget):
        assert (list(keys), list(motion), plan.policy) == (official_keys, official_dense, "official")
    else:
        assert plan.policy != "official" and plan.notes


@given(n=st.integers(2004, 100_000), fps=FPS)
def test_stride_is_the_smallest_that_fits_the_table(n, fps):
    plan = plan_sampling(n, fps)
    s = plan.motion_stride
    assert len(range(0, n, s)) // 4 * 4 == len(plan.motion_indices) <= 2000
    assert len(range(0, n, s - 1)) > 2000  # a smaller stride would overflow the 2000-row table


def test_keyframe_budget_keeps_the_largest_count_spread_uniformly():
    n, fps = 30 * 600, 30.0  # 10 min at 30 fps: 600 official key frames, 18000 frames
    plan = plan_sampling(n, fps, token_budget=10_000)
    assert plan.motion_stride == 9 and len(plan.motion_indices) == 2000
    k = len(plan.keyframe_indices)
    assert k == (10_000 - 1 - 2000) // 196 == 40
    assert plan.keyframe_indices[0] == 0 and plan.keyframe_indices[-1] == 599 * 30
    gaps = {b - a for a, b in zip(plan.keyframe_indices, plan.keyframe_indices[1:])}
    assert max(gaps) - min(gaps) <= 30  # uniform up to one key-frame interval
    assert plan.policy == "stride:9+keyframes:uniform-40"


def test_bankers_rounding_of_fps():
    assert plan_sampling(100, 2.5).keyframe_step == 2  # round(2.5) == 2
    assert plan_sampling(100, 3.5).keyframe_step == 4
    assert plan_sampling(100, 29.97).keyframe_step == 30
    assert plan_sampling(100, 0.4).keyframe_step == 1  # r is at least 1


@pytest.mark.parametrize("n", [1, 2, 3])
def test_fewer_than_four_frames_are_padded(n):
    plan = plan_sampling(n, 30.0)
    assert plan.keyframe_indices == (0,)
    assert plan.motion_indices == tuple(range(n)) + (n - 1,) * (4 - n)
    assert plan.policy == "pad:4" and any("padded" in note for note in plan.notes)


def test_sub_second_clip_keeps_frame_zero():
    plan = plan_sampling(10, 30.0)
    assert plan.keyframe_indices == (0,) and plan.motion_indices == tuple(range(8))
    assert plan.policy == "official" and "shorter than one key-frame interval" in plan.notes[0]


def test_error_policy_raises_a_typed_input_error():
    with pytest.raises(ClipTooLongError, match="clip.mp4: 2004 frames exceed the 2000-row motion table"):
        plan_sampling(2004, 30.0, policy="error", source="clip.mp4")
    with pytest.raises(ClipTooLongError, match="over the budget"):
        plan_sampling(1000, 1.0, token_budget=5000, policy="error")
    assert issubclass(ClipTooLongError, InputError)
    plan_sampling(2003, 30.0, policy="error")  # 2000 dense frames still fit


def test_impossible_budget_raises():
    with pytest.raises(ClipTooLongError, match="cannot hold one key frame"):
        plan_sampling(100, 30.0, token_budget=200)


@pytest.mark.parametrize("fps", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_fps_is_rejected(fps):
    with pytest.raises(ValueError, match="avg_fps"):
        plan_sampling(100, fps)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(4, 2000), cut=st.floats(0.0, 1.0), fps=FPS)
def test_restricted_official_plan_is_the_official_plan_of_the_decoded_prefix(n, cut, fps):
    m = max(1, int(n * cut))
    kept = restrict_plan(plan_sampling(n, fps), m)
    direct = plan_sampling(m, fps)
    assert (kept.keyframe_indices, kept.motion_indices) == (direct.keyframe_indices, direct.motion_indices)
    if m < n and max(plan_sampling(n, fps).motion_indices + plan_sampling(n, fps).keyframe_indices) >= m:
        assert f"truncated:{m}" in kept.policy
