"""``score --explain`` decodes the selected windows by seeking (vqa2cli/video/seek.py): the frames given to
the model equal the full-pass decode of each window bit for bit, for CFR and VFR, MP4 and Matroska, B-frames
and a GOP longer than the window; unusable seeks fall back to the full pass and say why."""

from __future__ import annotations

import numpy as np
import pytest

from vqa2cli.config import VideoSection
from vqa2cli.video.decode import decode_windows
from vqa2cli.video.seek import SeekStream

SMALL = VideoSection(keyframe_size=32, motion_size=32)

CASES = {
    "cfr-mp4": dict(seconds=6, fps=8, gop=8),
    "cfr-mkv-bframes": dict(seconds=6, fps=8, container="mkv", preset="medium", gop=12),
    "vfr-mp4": dict(seconds=6, fps=8, vfr=True, gop=10),
    "vfr-mkv": dict(seconds=6, fps=8, vfr=True, container="mkv", gop=10),
    "long-gop-mp4-bframes": dict(seconds=6, fps=8, preset="medium", gop=40),
}


def _full(path):
    """Every window of ``path`` (1 s windows) with its full-pass arrays."""
    stream = decode_windows(path, SMALL, 1.0)
    pairs = [(w, c.keyframes.copy(), c.motion_frames.copy(), c.keyframe_times) for w, c in stream]
    return stream.info, pairs


@pytest.mark.parametrize("name", sorted(CASES))
def test_seeked_windows_equal_the_full_pass(make_clip, name):
    ext = CASES[name].get("container", "mp4")
    path = make_clip(f"seek-{name}.{ext}", **CASES[name])
    info, pairs = _full(path)
    assert len(pairs) >= 5
    chosen = [pairs[1], pairs[2], pairs[4]]  # a run of adjacent windows and a later one
    seeker = SeekStream(info, [p[0] for p in chosen], SMALL, SMALL.resize)
    got = list(seeker)
    assert seeker.fallback is None
    assert [w for w, _ in got] == [p[0] for p in chosen]
    for (_, clip), (window, keys, motion, times) in zip(got, chosen, strict=True):
        assert np.array_equal(clip.keyframes, keys), window.index
        assert np.array_equal(clip.motion_frames, motion), window.index
        assert clip.keyframe_times == pytest.approx(times, abs=1e-6)
    assert seeker.frames_decoded < info.n_frames or "long-gop" in name


def test_a_late_window_decodes_fewer_frames_than_the_full_pass(make_clip):
    path = make_clip("seek-late.mp4", seconds=6, fps=8, gop=8)
    info, pairs = _full(path)
    last = pairs[-1][0]
    seeker = SeekStream(info, [last], SMALL, SMALL.resize)
    ((_, clip),) = list(seeker)
    assert np.array_equal(clip.keyframes, pairs[-1][1])
    assert seeker.frames_decoded <= last.n_frames + 8  # the window and at most one GOP before it
    assert seeker.frames_decoded < last.stop  # what the full pass would decode


def test_a_damaged_file_falls_back_to_the_full_pass(make_clip):
    path = make_clip("seek-clean.mp4", seconds=4, fps=8, gop=8)
    info, pairs = _full(path)
    seeker = SeekStream(info, [pairs[2][0]], SMALL, SMALL.resize, clean=False)
    ((_, clip),) = list(seeker)
    assert "damaged" in seeker.fallback
    assert np.array_equal(clip.motion_frames, pairs[2][2])
    assert seeker.frames_decoded == pairs[2][0].stop


def test_the_cost_line_counts_the_frames_decoded_again():
    from types import SimpleNamespace

    from vqa2cli.jobs.explain import _decode_cost

    segments = [{"index": i, "start_frame": 8 * i, "end_frame": 8 * i + 8} for i in range(4)]
    record = SimpleNamespace(segments=segments)
    assert "16 frame(s) decoded again" in _decode_cost([(record, [1, 3])])
    assert _decode_cost([(SimpleNamespace(segments=None), [None])]) == ""


FFMPEG_CASES = {  # name: (extension, x264 params, fallback expected)
    "open-gop-mkv": ("mkv", "open-gop=1:keyint=15", False),
    "transport-stream": ("ts", "keyint=15", None),  # MPEG-TS seeks by bytes: either way the same frames
    "raw-h264": ("h264", "keyint=15", True),
}


@pytest.mark.parametrize("name", sorted(FFMPEG_CASES))
def test_seek_or_fall_back_gives_the_full_pass_frames(tmp_path, name):
    from ffmpeg_cli import ffmpeg

    ext, params, fallback = FFMPEG_CASES[name]
    path = tmp_path / f"seek.{ext}"
    source = ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=6")
    ffmpeg(
        *source, "-c:v", "libx264", "-preset", "medium", "-x264-params", params, "-pix_fmt", "yuv420p", path
    )
    info, pairs = _full(path)
    chosen = [pairs[1], pairs[2], pairs[4]]
    seeker = SeekStream(info, [p[0] for p in chosen], SMALL, SMALL.resize)
    got = list(seeker)
    if fallback is not None:
        assert (seeker.fallback is not None) == fallback, seeker.fallback
    for (_, clip), (_, keys, motion, _) in zip(got, chosen, strict=True):
        assert np.array_equal(clip.keyframes, keys) and np.array_equal(clip.motion_frames, motion)


def test_a_run_of_adjacent_windows_is_decoded_once(make_clip):
    path = make_clip("seek-run.mp4", seconds=6, fps=8, gop=24)  # a GOP of three windows
    info, pairs = _full(path)
    run_ = [p[0] for p in pairs[1:4]]
    seeker = SeekStream(info, run_, SMALL, SMALL.resize)
    got = list(seeker)
    assert seeker.fallback is None and len(got) == 3
    # one seek, to the key frame at 0 before window 1, then on: no frame decoded twice
    assert seeker.frames_decoded == run_[-1].stop
    for (_, clip), (_, keys, motion, _) in zip(got, pairs[1:4], strict=True):
        assert np.array_equal(clip.keyframes, keys) and np.array_equal(clip.motion_frames, motion)


class _FakeAsker:
    """What :func:`~vqa2cli.pipeline.explain.explain_record` uses of an Asker; ``clips``: what was asked."""

    def __init__(self):
        from types import SimpleNamespace

        from vqa2cli.config import Settings

        self.settings = Settings(video=SMALL)
        self.model_info = SimpleNamespace(name="fake", repo=None, revision=None)
        self.clips: list = []

    def visual_limits(self, question=None):
        return None, 1

    def answer(self, clip, path, question, reuse_prefix=False):
        from types import SimpleNamespace

        self.clips.append(clip)
        return SimpleNamespace(answer="blur", generation={"new_tokens": 1})


@pytest.mark.parametrize(("ext", "falls_back"), [("mkv", False), ("h264", True)])
def test_explain_says_when_it_decoded_from_the_start(tmp_path, ext, falls_back):
    from ffmpeg_cli import ffmpeg

    from vqa2cli.pipeline.explain import explain_record
    from vqa2cli.records.results import ScoreRecord

    path = tmp_path / f"clip.{ext}"
    source = ("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=8:duration=4")
    ffmpeg(*source, "-c:v", "libx264", "-preset", "ultrafast", "-g", "8", "-pix_fmt", "yuv420p", path)
    info, pairs = _full(path)
    segments = [
        {
            "index": w.index,
            "score": 0.5,
            "start_frame": w.start,
            "end_frame": w.stop,
            "start_s": w.start_s,
            "end_s": w.end_s,
            "level": "fair",
        }
        for w, *_ in pairs
    ]
    record = ScoreRecord(path=str(path), score=0.5, segments=segments)
    asker = _FakeAsker()
    assert explain_record(asker, record, [2], question="what?", info=info) == 1
    note = segments[2]["explanation"].get("note") or ""
    assert ("decoded from the start of the file" in note) == falls_back
    assert falls_back is False or "raw stream" in note
    assert np.array_equal(asker.clips[0].motion_frames, pairs[2][2])
