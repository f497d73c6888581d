"""The paper's UGC evaluation rule for motion frames (``video.motion_frame_step = 8``; issue 10) against a
straightforward transcription of the official script, and the motion-token counts it gives real clips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqa2cli.config import Settings, merge_layers
from vqa2cli.errors import ConfigError
from vqa2cli.registry import get_card, resolve_reference
from vqa2cli.video.sampling import plan_sampling, restrict_plan


def paper_rule(n: int) -> list[int]:
    """INIT:VQA_main/llava/eval/model_score_UGC.py, written out: every 8th frame, then a multiple of 4."""
    frames = list(range(n))
    dense = frames[: n // 8 * 8][0::8]
    return dense[: len(dense) // 4 * 4]


def every_kth(n: int, k: int) -> list[int]:
    frames = list(range(n))
    dense = frames[: n // k * k][0::k]
    return dense[: len(dense) // 4 * 4]


FPS = st.one_of(
    st.sampled_from([23.976, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0]),
    st.floats(min_value=0.5, max_value=240, exclude_min=True),
)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(32, 16_031), fps=FPS)
def test_paper_rule_equals_the_official_script(n, fps):
    plan = plan_sampling(n, fps, motion_frame_step=8)
    assert list(plan.motion_indices) == paper_rule(n)
    assert list(plan.keyframe_indices) == list(range(0, n, round(fps)))  # key frames do not change
    assert (plan.policy, plan.motion_stride, plan.motion_frame_step) == ("official", 1, 8)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 40_000), k=st.integers(1, 16), max_motion=st.integers(4, 3000))
def test_any_step_keeps_the_motion_contract(n, k, max_motion):
    plan = plan_sampling(n, 30.0, motion_frame_step=k, max_motion_frames=max_motion)
    motion, want = plan.motion_indices, every_kth(n, k)
    assert len(motion) % 4 == 0 and 4 <= len(motion) <= max(4, max_motion)
    assert all(i % k == 0 and 0 <= i < n for i in motion) and list(motion) == sorted(motion)
    if 4 <= len(want) <= max_motion:
        assert list(motion) == want and plan.policy == "official"
    elif not want:  # the official rule yields none: the short-clip policy pads the rule's frames
        picked = list(range(0, n // k * k, k)) or [0]
        assert list(motion) == picked + [picked[-1]] * (4 - len(picked))
        assert plan.policy == "pad:4" and any("padded to 4" in note for note in plan.notes)
    else:  # over the table: every s-th of the rule's frames
        s = plan.motion_stride
        assert s > 1 and all(b - a == s * k for a, b in zip(motion, motion[1:]))
        assert f"stride:{s}" in plan.policy


@pytest.mark.parametrize("n", [1, 5, 7, 8, 15, 16, 31])
def test_clips_under_32_frames_use_the_short_clip_policy(n):
    """Under 32 frames the every-8th rule leaves 0-3 frames and the cut to 4 none (8 frames: just frame 0)."""
    assert paper_rule(n) == []
    plan = plan_sampling(n, 30.0, motion_frame_step=8)
    picked = list(range(0, n // 8 * 8, 8)) or [0]
    assert list(plan.motion_indices) == picked + [picked[-1]] * (4 - len(picked))
    assert plan.policy == "pad:4" and "one frame in 8 gives" in plan.notes[-1]


def test_step_one_is_the_default_rule():
    for n in (3, 90, 301, 5000):
        assert plan_sampling(n, 30.0, motion_frame_step=1) == plan_sampling(n, 30.0)
    assert plan_sampling(301, 30.0).motion_frame_step == 1


@settings(max_examples=100, deadline=None)
@given(n=st.integers(32, 8000), cut=st.floats(0.0, 1.0))
def test_restricted_paper_plan_is_the_paper_plan_of_the_decoded_prefix(n, cut):
    m = max(1, int(n * cut))
    kept = restrict_plan(plan_sampling(n, 25.0, motion_frame_step=8), m)
    direct = plan_sampling(m, 25.0, motion_frame_step=8)
    assert (kept.keyframe_indices, kept.motion_indices, kept.motion_frame_step) == (
        direct.keyframe_indices,
        direct.motion_indices,
        8,
    )


def test_budget_and_error_policy_count_the_rule_frames():
    """10 min at 30 fps: 2250 rule frames overflow the 2000-row table -> every 2nd of them (every 16th frame);
    then the key frames are thinned to fit 10000 tokens beside the 1124 motion tokens."""
    plan = plan_sampling(30 * 600, 30.0, motion_frame_step=8, token_budget=10_000)
    assert plan.motion_indices == tuple(range(0, 18000, 16))[:1124] and plan.motion_stride == 2
    assert len(plan.keyframe_indices) == (10_000 - 1 - 1124) // 196 == 45
    assert plan.policy == "stride:2+keyframes:uniform-45" and "one motion frame in every 16" in plan.notes[-1]
    assert plan_sampling(16_031, 30.0, motion_frame_step=8, policy="error").motion_frame_step == 8
    with pytest.raises(Exception, match="exceed the 2000-row motion table"):
        plan_sampling(16_032, 30.0, motion_frame_step=8, policy="error")


@pytest.mark.parametrize("bad", [0, -8, 2.5, True])
def test_invalid_steps_are_refused(bad):
    with pytest.raises(ValueError, match="motion_frame_step"):
        plan_sampling(100, 30.0, motion_frame_step=bad)


def test_config_key_is_checked():
    assert Settings().video.motion_frame_step == 1
    assert merge_layers({"video": {"motion_frame_step": 8}}).video.motion_frame_step == 8
    with pytest.raises(ConfigError, match=r"video.motion_frame_step' must be in \[1, 1000\]"):
        merge_layers({"video": {"motion_frame_step": 0}})
    with pytest.raises(ConfigError, match="must be int"):
        merge_layers({"video": {"motion_frame_step": "8"}})


def test_paper_card_sets_the_prompt_and_the_rule_together():
    paper = merge_layers(get_card("ugc-scorer-paper").layer)
    base = merge_layers(get_card("ugc-scorer").layer)
    assert (paper.model.prompt, paper.video.motion_frame_step, paper.video.resize) == ("ugc_init", 8, "pil")
    assert base.video.motion_frame_step == 1 and paper.model.repo == base.model.repo
    ref = resolve_reference(base.model.repo, "score")  # a repo id keeps selecting the base card
    assert ref.card.name == "ugc-scorer"
    assert resolve_reference("ugc-scorer-paper", "score").card.name == "ugc-scorer-paper"


# (seconds, fps): (frames, motion tokens with all frames, motion tokens with every 8th frame)
COUNTS = {
    (1, 25.0): (25, 24, 4),
    (1, 29.97): (30, 28, 4),
    (1, 30.0): (30, 28, 4),  # every 8th: 3 frames, padded
    (3, 25.0): (75, 72, 8),
    (3, 29.97): (90, 88, 8),
    (3, 30.0): (90, 88, 8),
    (10, 25.0): (250, 248, 28),
    (10, 29.97): (300, 300, 36),
    (10, 30.0): (300, 300, 36),
}


@pytest.fixture(scope="module")
def tokenizer_and_config(tiny_model_dir):
    from vqa2cli.modeling.loading import load_tokenizer, read_config

    config = read_config(tiny_model_dir, "eager")
    return load_tokenizer(tiny_model_dir, config), config


@pytest.mark.parametrize(("seconds", "fps"), list(COUNTS))
def test_motion_tokens_of_1_3_10_second_clips(make_clip, tokenizer_and_config, seconds, fps):
    from vqa2cli.pipeline.inputs import build_inputs
    from vqa2cli.pipeline.run import sampling_section
    from vqa2cli.video.decode import decode_clip

    tokenizer, config = tokenizer_and_config
    path = make_clip(f"rule-{seconds}s-{fps}.mp4", seconds=seconds, fps=fps, width=32, height=24)
    frames, all_frames, every_8th = COUNTS[(seconds, fps)]
    for step, want in ((1, all_frames), (8, every_8th)):
        s = Settings().replace(video={"motion_frame_step": step, "motion_size": 32})
        clip = decode_clip(str(path), s.video)
        assert clip.info.n_frames == frames
        inputs = build_inputs(tokenizer, config, s, clip)
        assert inputs.n_motion_tokens == want == inputs.input_ids.count(config.motion_token_id)
        assert clip.motion_frames.shape[0] == want
        section = sampling_section(clip, inputs, s)  # what every record carries
        assert (section["motion_frame_step"], section["motion_frames"]) == (step, want)
        json.dumps(section)
    assert every_8th == (max(4, len(paper_rule(frames))))
