"""decode_clip on generated clips: indices (read back from each frame's marker band), shapes, orientation,
resize accuracy against the official PIL path, partial-decode policy, typed errors."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from clips import display_frame, marker_index, random_bytes, truncate_copy
from ffmpeg_cli import ffmpeg_exe, needs_ffmpeg

from vqa2cli.config import VideoSection
from vqa2cli.errors import CorruptContainerError, DecodeFailedError, InputError
from vqa2cli.video.decode import decode_clip, tokens_per_keyframe
from vqa2cli.video.resize import FrameResizer
from vqa2cli.video.sampling import ClipTooLongError, plan_sampling

SMALL = VideoSection(keyframe_size=64, motion_size=32)


def av_has(*codecs: str) -> bool:
    import av

    return all(c in av.codecs_available for c in codecs)


def markers(frames: np.ndarray) -> list[int]:
    """Frame index read from the bottom band of each (display-oriented) frame."""
    band = frames[:, int(frames.shape[1] * 0.8) :, :, :].mean(axis=(1, 2, 3))
    return [marker_index(v) for v in band]


def assert_upright(frames: np.ndarray) -> None:
    """The white block is in the top-left corner of every frame, and only there."""
    q = frames.shape[1] // 8
    assert frames[:, :q, :q].mean() > 235
    assert frames[:, :q, -q:].mean() < 200 and frames[:, -q:, :q].mean() < 235


CASES = {
    "h264-mp4": dict(),
    "h264-bframes": dict(preset="medium"),
    "h264-mkv-audio": dict(container="mkv", audio=True),
    "vp9-webm": dict(container="webm", codec="libvpx-vp9"),
    "vp8-webm-audio": dict(container="webm", codec="libvpx", audio=True),
    "prores-mov-10bit-422": dict(container="mov", codec="prores_ks", pix_fmt="yuv422p10le"),
    "hevc-mp4-10bit": dict(codec="libx265", pix_fmt="yuv420p10le"),
    "mpeg2-ts": dict(container="ts", codec="mpeg2video"),
    "mpeg4-avi": dict(container="avi", codec="mpeg4"),
    "gif": dict(container="gif"),
    "h264-444": dict(pix_fmt="yuv444p"),
    "ffv1-odd-size": dict(container="mkv", codec="ffv1", pix_fmt="yuv444p", width=33, height=17),
    "audio-first": dict(audio_first=True),
    "av1-mkv": dict(container="mkv", codec="libsvtav1"),
}
NEEDS = {
    "vp9-webm": ("libvpx-vp9",),
    "vp8-webm-audio": ("libvpx", "libopus"),
    "prores-mov-10bit-422": ("prores_ks",),
    "hevc-mp4-10bit": ("libx265",),
    "av1-mkv": ("libsvtav1",),
    "gif": ("gif",),
    "ffv1-odd-size": ("ffv1",),
}


@pytest.mark.parametrize("name", list(CASES))
def test_codecs_and_containers_give_official_indices(make_clip, name):
    if not av_has(*NEEDS.get(name, ())):
        pytest.skip(f"this PyAV build lacks {NEEDS[name]}")
    clip = decode_clip(make_clip(f"{name} clip", **CASES[name]), SMALL)
    n = clip.info.n_frames
    assert n == 16
    plan = plan_sampling(n, clip.info.avg_fps)
    assert clip.plan == plan and plan.policy == "official"
    assert clip.keyframes.shape == (2, 64, 64, 3) and clip.motion_frames.shape == (16, 32, 32, 3)
    assert clip.keyframes.dtype == np.uint8 and clip.motion_frames.dtype == np.uint8
    assert markers(clip.keyframes) == [0, 8]
    assert markers(clip.motion_frames) == list(range(16))
    assert_upright(clip.keyframes)
    assert clip.keyframe_times == pytest.approx((0.0, 1.0), abs=0.02)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_applied(make_clip, rotation):
    path = make_clip(f"rot{rotation}", rotation=rotation, width=48, height=64, seconds=1)
    clip = decode_clip(path, SMALL)
    assert (clip.info.width, clip.info.height) == (48, 64)  # portrait stays portrait
    assert clip.info.rotation == (-rotation) % 360
    assert_upright(clip.keyframes)
    assert_upright(clip.motion_frames)


@needs_ffmpeg
def test_orientation_matches_ffmpeg_autorotate(make_clip):
    path = make_clip("rot-ffmpeg", rotation=90, width=48, height=64, frames=1)
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(path),
            "-vf",
            "scale=64:64:flags=bicubic",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    theirs = np.frombuffer(raw, np.uint8).reshape(-1, 64, 64, 3)[0].astype(int)
    ours = decode_clip(path, SMALL).keyframes[0].astype(int)
    assert np.abs(ours - theirs).mean() < 6  # same orientation; a wrong turn differs by ~60 levels


def test_vfr_is_detected_and_times_follow_pts(make_clip):
    clip = decode_clip(make_clip("vfr", vfr=True, seconds=2), SMALL)
    assert clip.info.vfr and any("variable frame rate" in w for w in clip.warnings)
    assert markers(clip.motion_frames) == list(range(16))
    # frame durations alternate 1/16 s and 3/16 s: frame 8 is shown at exactly 1.0 s
    assert clip.keyframe_times == pytest.approx((0.0, 1.0), abs=0.002)


def test_constant_rate_clip_is_not_vfr(make_clip):
    assert not decode_clip(make_clip("cfr"), SMALL).info.vfr


@pytest.mark.parametrize("frames", [1, 2, 3, 5])
def test_tiny_clips_work(make_clip, frames):
    clip = decode_clip(make_clip(f"tiny{frames}", frames=frames, fps=30), SMALL)
    assert clip.keyframes.shape[0] == 1 and markers(clip.keyframes) == [0]
    expected = list(range(min(frames, 4))) + [frames - 1] * (4 - frames) if frames < 4 else [0, 1, 2, 3]
    assert markers(clip.motion_frames) == expected
    assert clip.plan.notes  # short clip deviations are recorded


def test_ten_bit_source_is_converted_not_truncated(make_clip):
    if not av_has("libx265"):
        pytest.skip("needs libx265")
    deep = decode_clip(make_clip("deep", codec="libx265", pix_fmt="yuv420p10le", seconds=1), SMALL)
    assert deep.info.bit_depth == 10 and deep.info.pix_fmt == "yuv420p10le"
    expected = np.stack([display_frame(i, 64, 48) for i in deep.plan.keyframe_indices])
    # the marker band and white block keep their levels (truncating bits would wrap or darken them)
    assert abs(deep.keyframes[:, 56:, :, 0].mean() - expected[:, 40:, :, 0].mean()) < 4
    assert deep.keyframes[:, :8, :8].mean() > 240


@pytest.mark.parametrize("method", ["torch", "sws"])
def test_fast_resize_within_one_level_of_pil(make_clip, method):
    """A recorded fast path may differ from the official PIL bicubic by at most 1 grey level on average;
    ``torch`` implements PIL's own resampler, so unrotated it must agree to a tenth of a level."""
    import av

    sources = {
        "rgb-big": dict(width=320, height=180),
        "padded-rows": dict(width=318, height=178),
        "rot": dict(rotation=90, width=48, height=64),
        "gif": dict(container="gif", width=100, height=60),
        "deep": dict(codec="libx265", pix_fmt="yuv420p10le", width=160, height=96),
    }
    for name, kwargs in sources.items():
        if kwargs.get("codec") and not av_has(kwargs["codec"]):
            continue
        path = make_clip(f"resize-{name}", frames=4, **kwargs)
        clip = decode_clip(path, VideoSection(keyframe_size=64, motion_size=64, resize=method))
        assert clip.resize == method
        rotation = clip.info.rotation
        with av.open(str(path)) as container:
            frames = list(container.decode(video=0))
        for size in (384, 224, 64):
            pil = FrameResizer([size], rotation, "pil")
            fast = FrameResizer([size], rotation, method)
            diffs = [np.abs(pil(f)[size].astype(int) - fast(f)[size].astype(int)) for f in frames]
            means = [d.mean() for d in diffs]
            assert max(means) <= 1.0, (name, size, means)
            if method == "torch" and not rotation:  # measured 0.000-0.071 on these clips
                assert max(means) <= 0.1, (name, size, means)
    assert decode_clip(path, VideoSection(keyframe_size=64, motion_size=64)).resize == "torch"  # the default


def test_pil_path_is_the_official_resize(make_clip):
    from PIL import Image

    path = make_clip("pil-exact", frames=4, width=96, height=64)
    clip = decode_clip(path, VideoSection(keyframe_size=40, motion_size=40, resize="pil"))
    assert clip.resize == "pil"
    import av

    with av.open(str(path)) as container:
        first = next(container.decode(video=0))
    official = np.asarray(first.to_image().resize((40, 40), Image.BICUBIC))
    assert np.array_equal(clip.keyframes[0], official)


def test_long_clip_stride_policy(make_clip):
    video = VideoSection(keyframe_size=32, motion_size=32, max_motion_frames=8)
    clip = decode_clip(make_clip("long", seconds=3, fps=8), video)  # 24 frames > 8-row table
    assert clip.plan.motion_stride == 3 and clip.plan.policy == "stride:3"
    assert markers(clip.motion_frames) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert markers(clip.keyframes) == [0, 8, 16]
    with pytest.raises(ClipTooLongError, match="long.mp4: 24 frames exceed the 8-row motion table"):
        decode_clip(
            make_clip("long", seconds=3, fps=8), VideoSection(max_motion_frames=8, long_clip_policy="error")
        )


def test_token_budget_subsamples_keyframes(make_clip):
    video = VideoSection(keyframe_size=32, motion_size=32)
    per_key = tokens_per_keyframe(32)
    clip = decode_clip(make_clip("budget", seconds=3, fps=8), video, token_budget=2 * per_key + 1 + 24)
    assert markers(clip.keyframes) == [0, 16] and "keyframes:uniform-2" in clip.plan.policy
    assert tokens_per_keyframe(384) == 196 and tokens_per_keyframe(224) == 64


def test_truncated_stream_keeps_decoded_frames_with_warning(make_clip, tmp_path):
    full = make_clip("cut-full", container="ts", seconds=3, fps=8)
    cut = truncate_copy(full, tmp_path / "cut.ts", 0.6)
    clip = decode_clip(cut, SMALL)
    n = clip.info.n_frames
    assert 8 <= n < 24
    assert markers(clip.motion_frames) == list(range(len(clip.motion_frames)))
    assert len(clip.motion_frames) % 4 == 0 and len(clip.motion_frames) >= 4


def test_mid_stream_failure_policy(make_clip, tmp_path):
    """Index written first, data cut: keep the decoded frames if >= one key interval (warn), else raise."""
    full = make_clip("cut-fast", seconds=3, fps=8, faststart=True)
    clip = decode_clip(truncate_copy(full, tmp_path / "cut60.mp4", 0.6), SMALL)
    assert "truncated:" in clip.plan.policy
    assert any("frames decodable" in w for w in clip.warnings)
    assert len(clip.motion_frames) % 4 == 0 and len(clip.motion_frames) >= 4
    assert markers(clip.motion_frames) == list(range(len(clip.motion_frames)))
    assert markers(clip.keyframes) == [0, 8][: len(clip.keyframes)]
    with pytest.raises(DecodeFailedError, match="cut30.mp4: .*(frames decodable|no decodable)"):
        decode_clip(truncate_copy(full, tmp_path / "cut30.mp4", 0.3), SMALL)


def test_stream_cut_before_a_key_frame(make_clip, tmp_path):
    """A TS capture starting mid-GOP: the decoder drops the leading frames; the rest is kept in order."""
    data = make_clip("mid-gop", container="ts", seconds=3, fps=8, gop=8).read_bytes()  # 24 distinct markers
    start = len(data) * 3 // 10 // 188 * 188  # whole TS packets
    cut = tmp_path / "mid gop.ts"
    cut.write_bytes(data[start:])
    clip = decode_clip(cut, SMALL)
    assert clip.plan.policy.startswith("truncated:") and any("decodable" in w for w in clip.warnings)
    seen = markers(clip.motion_frames)
    assert len(seen) >= 8 and seen[0] % 8 == 0 and seen == list(range(seen[0], seen[0] + len(seen)))
    assert markers(clip.keyframes) == [seen[0] + 8 * k for k in range(len(clip.keyframes))]


def test_random_bytes_raise_corrupt_container(tmp_path):
    with pytest.raises(CorruptContainerError, match="noise.mp4: not a readable video container"):
        decode_clip(random_bytes(tmp_path / "noise.mp4"), SMALL)


def test_errors_are_input_errors_with_a_fix(tmp_path):
    with pytest.raises(InputError) as info:
        decode_clip(tmp_path / "missing file ü.mp4", SMALL)
    assert info.value.fix and "missing file ü.mp4" in info.value.one_line()
