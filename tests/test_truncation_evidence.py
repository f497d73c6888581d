"""Truncation evidence is about the stream scored and its own timing (issue 25, 2): complete files whose
streams differ in length (audio or subtitles longer or shorter than the video) and Matroska/MP4/TS files with
very sparse frames are not "container damaged"; files really cut short still are. Files made by the ffmpeg CLI;
ffmpeg itself decodes every frame of the complete ones (framemd5) as we do."""

from __future__ import annotations

import pytest
from clips import truncate_copy
from ffmpeg_cli import decoded_frames, ffmpeg, needs_ffmpeg

from vqa2cli.config import VideoSection
from vqa2cli.video.decode import decode_clip
from vqa2cli.video.probe import probe_video

pytestmark = needs_ffmpeg
X264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
STRICT = VideoSection(keyframe_size=32, motion_size=32, strict=True)
AUDIO = {
    "mp4": ("-c:a", "aac"),
    "mov": ("-c:a", "aac"),
    "mkv": ("-c:a", "libopus"),
    "ts": ("-c:a", "aac"),
    "webm": ("-c:a", "libopus"),
}


def video(seconds: float, rate: float = 10) -> tuple[str, ...]:
    return ("-f", "lavfi", "-i", f"testsrc2=size=64x48:rate={rate}:duration={seconds}")


def audio(seconds: float) -> tuple[str, ...]:
    return ("-f", "lavfi", "-i", f"sine=duration={seconds}:sample_rate=16000")


def assert_complete(path):
    info = probe_video(path)
    assert info.container_damaged is None, info.container_damaged
    assert not [w for w in info.warnings if "damaged" in w or "truncated" in w]
    assert info.n_frames == len(decoded_frames(path))
    clip = decode_clip(path, STRICT)  # strict: any damage would be an error
    assert clip.decoded_frames == info.n_frames


@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv", "ts", "webm"])
@pytest.mark.parametrize("video_s, audio_s", [(1, 8), (5, 1)])
def test_streams_of_different_lengths_are_not_truncation(tmp_path, ext, video_s, audio_s):
    path = tmp_path / f"av.{ext}"
    codec = ("-c:v", "libvpx", "-deadline", "realtime") if ext == "webm" else X264
    ffmpeg(*video(video_s), *audio(audio_s), "-map", "0", "-map", "1", *codec, *AUDIO[ext], path)
    assert_complete(path)


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_a_longer_subtitle_stream_is_not_truncation(tmp_path, ext):
    srt = tmp_path / "subs.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n\n2\n00:00:14,000 --> 00:00:15,000\nbye\n")
    path = tmp_path / f"subs.{ext}"
    ffmpeg(
        *video(2),
        "-i",
        srt,
        "-map",
        "0",
        "-map",
        "1",
        *X264,
        "-c:s",
        "srt" if ext == "mkv" else "mov_text",
        path,
    )
    assert_complete(path)


@pytest.mark.parametrize("ext", ["mkv", "mp4", "ts", "webm"])
@pytest.mark.parametrize("recipe", ["slideshow", "sparse-vfr"])
def test_very_sparse_frames_are_not_truncation(tmp_path, ext, recipe):
    path = tmp_path / f"sparse.{ext}"
    codec = ("-c:v", "libvpx", "-deadline", "realtime") if ext == "webm" else X264
    if recipe == "slideshow":  # one frame every 5 s
        ffmpeg(*video(30, rate=0.2), *codec, path)
    else:  # a few frames with long gaps between them (a security camera's motion trigger)
        ffmpeg(*video(40, rate=10), "-vf", r"select='lt(mod(t\,13)\,0.3)'", "-fps_mode", "vfr", *codec, path)
    assert_complete(path)


@pytest.mark.parametrize("ext, fraction", [("mp4", 0.5), ("mov", 0.6), ("mkv", 0.5), ("webm", 0.7)])
def test_files_really_cut_short_are_still_flagged(tmp_path, ext, fraction):
    whole = tmp_path / f"whole.{ext}"
    codec = ("-c:v", "libvpx", "-deadline", "realtime") if ext == "webm" else X264
    ffmpeg(
        *video(8),
        *audio(8),
        "-map",
        "0",
        "-map",
        "1",
        *codec,
        *AUDIO[ext],
        *(("-movflags", "+faststart") if ext in ("mp4", "mov") else ()),
        whole,
    )
    assert probe_video(whole).container_damaged is None
    info = probe_video(truncate_copy(whole, tmp_path / f"cut.{ext}", fraction))
    assert info.container_damaged and "truncated" in info.container_damaged


def test_the_rule_on_the_scored_streams_own_timing():
    from fractions import Fraction
    from types import SimpleNamespace

    from vqa2cli.video.truncation import _short_stream

    def stream(duration):
        return SimpleNamespace(time_base=Fraction(1, 1000), duration=duration, type="video", disposition=0)

    alone = SimpleNamespace(streams=[], duration=30_000_000)
    sparse = [(0, 0), (10_000, 0), (20_000, 0)]  # a frame every 10 s; the last one shown for 10 s more
    assert _short_stream(alone, stream(30_000), sparse) is None
    cut = [(i * 100, 100) for i in range(20)]  # 2 s of a stream that declares 8 s
    assert "2.00 s of the 8.00 s its stream header" in _short_stream(alone, stream(8_000), cut)
    video = stream(None)
    with_audio = SimpleNamespace(
        streams=[video, SimpleNamespace(type="audio", disposition=0)], duration=8_000_000
    )
    assert _short_stream(with_audio, video, cut) is None  # the 8 s may be the audio's
    only = SimpleNamespace(streams=[video], duration=8_000_000)
    assert "the container header" in _short_stream(only, video, cut)
