"""Window-by-window scoring on the tiny random checkpoint (pipeline/segmented.py): a window scored as a
segment gives the same indices and probabilities as a file holding just its frames; the default single
forward is unchanged; the `segments` long-clip policy takes over only past the limits."""

from __future__ import annotations

import pytest
from clips import make_lossless_frames


@pytest.fixture(scope="module")
def scorer_for(tiny_model_dir):
    from vqa2cli.cli.options import resolve_settings
    from vqa2cli.pipeline.segmented import SegmentingScorer

    made = {}

    def make(**video):
        video = {"motion_size": 64, **video}  # small SlowFast input keeps the tests fast on a CPU
        key = tuple(sorted(video.items()))
        if key not in made:
            settings, ref = resolve_settings(
                "score",
                str(tiny_model_dir),
                None,
                runtime__device="cpu",
                **{f"video__{k}": v for k, v in video.items()},
            )
            made[key] = SegmentingScorer.load(settings, ref).configure()
        return made[key]

    return make


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_lossless_frames(tmp_path_factory.mktemp("segscore") / "long.mkv", 0, 52)


def test_window_scores_equal_the_same_frames_scored_as_a_clip(scorer_for, long_clip, tmp_path):
    scorer = scorer_for().configure(window_s=2.0)
    record = scorer.score(long_clip)
    assert [(s["start_frame"], s["end_frame"]) for s in record.segments] == [(0, 16), (16, 32), (32, 52)]
    plain = scorer_for().configure()
    for seg in record.segments:
        alone = plain.score(
            make_lossless_frames(tmp_path / f"w{seg['index']}.mkv", seg["start_frame"], seg["end_frame"])
        )
        assert alone.segments is None and alone.sampling["policy"] == "official"
        offset = [i + seg["start_frame"] for i in alone.sampling["keyframe_indices"]]
        assert seg["keyframes"] == len(offset) and seg["motion_frames"] == alone.sampling["motion_frames"]
        assert seg["score"] == pytest.approx(alone.score, abs=1e-6)
        for level, p in alone.probs.items():
            assert seg["probs"][level] == pytest.approx(p, abs=1e-6)
    assert record.worst["score"] == min(s["score"] for s in record.segments)
    assert record.score == pytest.approx(record.pooled["weighted_mean"])
    assert record.sampling["policy"] == "segments:3" and record.sampling["segments_reason"] == "requested"


def test_default_single_forward_unchanged(scorer_for, make_clip):
    from vqa2cli.pipeline.run import Scorer

    clip = make_clip("segdefault.mp4", seconds=2.0, fps=8)
    ours = scorer_for()
    base = Scorer(ours.settings, ours.loaded)
    a, b = ours.score(clip), base.score(clip)
    assert a.segments is None and a.pooled is None and a.worst is None
    assert a.score == b.score and a.probs == b.probs and a.sampling == b.sampling


def test_one_window_clip_equals_single_forward(scorer_for, make_clip):
    clip = make_clip("segone.mp4", seconds=2.0, fps=8)
    single = scorer_for().configure().score(clip)
    windowed = scorer_for().configure(window_s=10.0).score(clip)
    (seg,) = windowed.segments
    assert seg["score"] == pytest.approx(single.score, abs=1e-6) and windowed.score == pytest.approx(
        single.score
    )


def test_segments_policy_takes_over_past_the_limits(scorer_for, long_clip):
    rec = scorer_for(max_motion_frames=16, segment_s=2.0).score(long_clip)
    assert rec.sampling["segments_reason"] == "over-limits" and len(rec.segments) == 3
    assert rec.segments[-1]["policy"] == "stride:2"  # the merged 20-frame window is over the 16-row table
    assert "long_clip_policy segments" in rec.warnings[0]
    strided = scorer_for(max_motion_frames=16, long_clip_policy="stride").score(long_clip)
    assert strided.segments is None and strided.sampling["policy"].startswith("stride:")
