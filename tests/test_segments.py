"""Window plans (video/segments.py): tiling, the official rule inside each window, short tails, VFR."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqa2cli.errors import UsageError
from vqa2cli.video.sampling import plan_sampling
from vqa2cli.video.segments import exceeds_limits, format_time, parse_duration, plan_windows, window_frames


def _check_tiling(windows, n):
    assert windows[0].start == 0 and windows[-1].stop == n
    for a, b in zip(windows, windows[1:]):
        assert a.stop == b.start  # no frame lost, none counted twice
        assert a.end_s == b.start_s
    assert [w.index for w in windows] == list(range(len(windows)))
    assert sum(w.n_frames for w in windows) == n


def test_window_length_is_whole_keyframe_steps():
    assert window_frames(30, 10) == 300
    assert window_frames(29.97, 10) == 300  # r = 30, k = round(9.99) = 10
    assert window_frames(25, 5) == 125
    assert window_frames(24, 0.2) == 24  # at least one step
    assert window_frames(59.94, 10) % 60 == 0


def test_each_window_is_the_official_rule_on_its_frames():
    n, fps = 1000, 30.0
    windows = plan_windows(n, fps, 10)
    assert [(w.start, w.stop) for w in windows] == [(0, 300), (300, 600), (600, 900), (900, 1000)]
    for w in windows:
        alone = plan_sampling(w.n_frames, fps)
        assert w.plan.keyframe_indices == tuple(i + w.start for i in alone.keyframe_indices)
        assert w.plan.motion_indices == tuple(i + w.start for i in alone.motion_indices)
        assert w.plan.policy == alone.policy == "official"
    # the key frames of all windows are exactly the clip's official 1 fps indices
    keys = [i for w in windows for i in w.plan.keyframe_indices]
    assert keys == list(plan_sampling(n, fps, max_motion_frames=10**6).keyframe_indices)
    assert windows[1].start_s == 10.0 and windows[-1].end_s == pytest.approx(1000 / 30)


def test_short_tail_under_one_keyframe_step_joins_the_previous_window():
    windows = plan_windows(300 + 29, 30.0, 10)  # 29 frames left < r = 30
    assert [(w.start, w.stop) for w in windows] == [(0, 329)]
    windows = plan_windows(600 + 30, 30.0, 10)  # exactly one step left: its own window
    assert [(w.start, w.stop) for w in windows] == [(0, 300), (300, 600), (600, 630)]
    assert windows[-1].plan.keyframe_indices == (600,)


def test_clip_shorter_than_one_window_is_the_whole_clip():
    for n in (1, 3, 29, 31, 299):
        (only,) = plan_windows(n, 30.0, 10)
        assert (only.start, only.stop) == (0, n)
        assert only.plan == plan_sampling(n, 30.0)


def test_exactly_one_window_equals_single_forward():
    (only,) = plan_windows(300, 30.0, 10)
    assert only.plan == plan_sampling(300, 30.0)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 20000), fps=st.floats(1.0, 120.0), window_s=st.floats(0.5, 60.0))
def test_windows_tile_any_clip(n, fps, window_s):
    windows = plan_windows(n, fps, window_s)
    _check_tiling(windows, n)
    step = windows[0].plan.keyframe_step
    for w in windows:
        assert w.start % step == 0
        assert (
            all(w.start <= i < w.stop for i in w.plan.keyframe_indices + w.plan.motion_indices)
            or w.n_frames < 4
        )
        assert len(w.plan.motion_indices) <= 2000
    if len(windows) > 1:
        assert windows[-1].n_frames >= step


def _vfr_times(n, base_fps):
    """Alternating 0.5x and 1.5x frame durations (as tests/clips.py writes VFR clips)."""
    times, t = [], 0.0
    for i in range(n):
        times.append(t)
        t += (0.5 if i % 2 == 0 else 1.5) / base_fps
    return times


def test_vfr_windows_follow_presentation_time():
    n, fps = 1000, 30.0
    times = [i / fps for i in range(200)] + [200 / fps + (i + 1) / 10.0 for i in range(800)]  # 30 then 10 fps
    windows = plan_windows(n, fps, 10, frame_times=times)
    _check_tiling(windows, n)
    # every cut is the first frame shown at or after w x 10 s (within one frame: 0.1 s at 10 fps), not
    # snapped to a multiple of round(avg_fps) frames, which moved cuts by up to 1.5 s here
    for w in windows[1:]:
        assert 0 <= w.start_s - 10.0 * w.index < 0.1 + 1e-9
        assert times[w.start - 1] < 10.0 * w.index
    assert windows[1].start < 300  # frame 300 is shown at ~16.7 s


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 5000), fps=st.floats(5.0, 60.0), window_s=st.floats(1.0, 30.0))
def test_vfr_windows_tile(n, fps, window_s):
    windows = plan_windows(n, fps, window_s, frame_times=_vfr_times(n, fps))
    _check_tiling(windows, n)


def test_exceeds_limits():
    assert not exceeds_limits(2000, 30.0)
    assert exceeds_limits(2004, 30.0)
    assert exceeds_limits(1500, 30.0, token_budget=5000)  # 50 key frames x 196 tokens
    assert not exceeds_limits(300, 30.0, token_budget=5000)


def test_window_over_the_motion_table_is_strided_within_itself():
    (w0, w1) = plan_windows(4800, 240.0, 10)
    assert w0.n_frames == 2400 and w0.plan.motion_stride == 2 and w0.plan.policy == "stride:2"


def test_parse_duration():
    assert parse_duration("10s") == 10.0
    assert parse_duration("2.5") == 2.5
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("auto") is None
    assert parse_duration("10h") == 36000.0  # issue 14 faults: hours are a duration media engineers type
    for bad in ("", "0s", "ten", "-3s"):
        with pytest.raises(UsageError):
            parse_duration(bad)


def test_format_time():
    assert format_time(70) == "00:01:10"
    assert format_time(3725.3) == "01:02:05.3"
    assert format_time(9.96) == "00:00:10"
