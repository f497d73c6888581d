"""Streaming window decode (video/decode.py ``decode_windows``): a window decoded from a long clip equals the
same frames decoded from a file holding only them (lossless intra coding, so the pixels are identical)."""

from __future__ import annotations

import numpy as np
import pytest

from vqa2cli.config import VideoSection
from vqa2cli.video.decode import decode_clip, decode_windows

VIDEO = VideoSection(keyframe_size=32, motion_size=24)


def write_frames(path, first: int, stop: int, fps: int = 8, vfr: bool = False):
    from clips import make_lossless_frames

    return make_lossless_frames(path, first, stop, fps=fps, vfr=vfr)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_frames(tmp_path_factory.mktemp("seg") / "long.mkv", 0, 52)


def test_window_decodes_like_a_clip_of_its_frames(long_clip, tmp_path):
    stream = decode_windows(long_clip, VIDEO, 2.0)
    spans = [(w.start, w.stop) for w in stream.windows]
    assert spans == [(0, 16), (16, 32), (32, 52)]  # 4-frame tail (< r = 8) merged into the last window
    seen = 0
    for window, clip in stream:
        alone = decode_clip(write_frames(tmp_path / f"w{window.index}.mkv", window.start, window.stop), VIDEO)
        assert clip.plan.keyframe_indices == tuple(i + window.start for i in alone.plan.keyframe_indices)
        assert clip.plan.motion_indices == tuple(i + window.start for i in alone.plan.motion_indices)
        assert clip.plan.policy == alone.plan.policy == "official"
        np.testing.assert_array_equal(clip.keyframes, alone.keyframes)
        np.testing.assert_array_equal(clip.motion_frames, alone.motion_frames)
        assert clip.info.n_frames == alone.info.n_frames
        assert clip.info.duration_s == pytest.approx(alone.info.duration_s)
        assert clip.keyframe_times[0] == pytest.approx(window.start / 8)
        seen += 1
    assert seen == 3 and not stream.warnings


def test_one_window_clip_equals_decode_clip(long_clip, tmp_path):
    short = write_frames(tmp_path / "short.mkv", 0, 12)
    stream = decode_windows(short, VIDEO, 10.0)
    ((window, clip),) = list(stream)
    whole = decode_clip(short, VIDEO)
    assert (window.start, window.stop) == (0, 12)
    assert clip.plan == whole.plan
    np.testing.assert_array_equal(clip.keyframes, whole.keyframes)
    np.testing.assert_array_equal(clip.motion_frames, whole.motion_frames)


def test_vfr_windows_by_presentation_time(tmp_path):
    clip = write_frames(tmp_path / "vfr.mkv", 0, 64, vfr=True)  # alternating 62 / 188 ms frames: ~8 fps
    stream = decode_windows(clip, VIDEO, 2.0)
    assert stream.info.vfr
    windows = stream.windows
    assert windows[0].start == 0 and windows[-1].stop == 64
    assert all(a.stop == b.start for a, b in zip(windows, windows[1:]))
    for w in windows[1:]:
        assert w.start % 8 == 0 and abs(w.start_s - 2.0 * w.index) <= 0.5 + 1e-6
    got = [(w.index, c.keyframes.shape[0]) for w, c in stream]
    assert [i for i, _ in got] == [w.index for w in windows]


def test_decoding_that_ends_early_keeps_the_windows_it_reached(long_clip, tmp_path):
    """The header promises 52 frames but the data holds 30 (a cut download): window 1 is kept restricted to
    the frames decoded (``truncated:30``), window 2 is reported as not scored."""
    from dataclasses import replace

    from clips import truncate_copy

    from vqa2cli.video.probe import probe_video

    cut = truncate_copy(long_clip, tmp_path / "cut.mkv", 0.6)
    probed = probe_video(cut)
    info = replace(probed, n_frames=52, duration_s=52 / probed.avg_fps)  # the header's frames and duration
    stream = decode_windows(cut, VIDEO, 2.0, info=info)
    pairs = list(stream)
    assert [(w.index, c.plan.policy) for w, c in pairs] == [(0, "official"), (1, "truncated:30")]
    assert pairs[1][1].plan.motion_indices == tuple(range(16, 28))
    assert pairs[1][1].keyframes.shape[0] == 2
    assert any("windows 2-2 not scored" in w for w in stream.warnings)
