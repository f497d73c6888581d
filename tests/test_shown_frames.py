"""What probe and decode report is what a player shows: ffprobe's view of the shown frames (issue 11 A).

Files are made at test time with the ffmpeg CLI (skipped without it); the expected values come from
``ffprobe -count_frames`` on the same file, never from vqa2 itself: edit lists (MP4/MOV trimmed by stream
copy), raw elementary streams, resolution changes mid-stream, VFR.
"""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from ffmpeg_cli import decoded_frames, ffmpeg, frame_sizes, needs_ffmpeg_for, stream_info

from vqa2cli.config import VideoSection
from vqa2cli.video.decode import decode_clip, decode_windows
from vqa2cli.video.probe import probe_video

pytestmark = needs_ffmpeg_for("to make and measure the files")
SMALL = VideoSection(keyframe_size=32, motion_size=32)


def source(path: Path, *, size="64x48", rate="30", seconds=4, codec="libx264", extra=()) -> Path:
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={size}:rate={rate}",
        "-t",
        seconds,
        "-c:v",
        codec,
        "-pix_fmt",
        "yuv420p",
        *extra,
        path,
    )
    return path


def ffprobe(path: Path) -> dict:
    """ffmpeg's view (``ffprobe -count_frames`` without ffprobe): frames decoded (``nb_read_frames``), the stored
    size and the duration (the container's, 2 decimals) of the first video stream."""
    info = stream_info(path)
    return {**info, "nb_read_frames": len(decoded_frames(path))}


# --- edit lists ---------------------------------------------------------------------------------
def test_issue_reproduction_trimmed_mp4_shows_75_frames(tmp_path):
    base = source(tmp_path / "base.mp4", size="320x240", extra=("-g", "30"))
    cut = tmp_path / "cut.mp4"
    ffmpeg("-ss", "1.5", "-i", base, "-c", "copy", cut)
    info = probe_video(cut)
    assert (info.n_frames, info.duration_s, info.discarded_frames) == (75, pytest.approx(2.5), 15)
    clip = decode_clip(cut, SMALL)
    assert clip.decoded_frames == 75 and clip.damaged_frames == 0
    assert not [w for w in clip.warnings if "decodable" in w or "damaged" in w]
    assert any("edit list" in w and "decord" in w and "90" in w for w in clip.warnings)  # the official count
    assert clip.plan.keyframe_indices == (0, 30, 60)  # 1 fps over the 75 shown frames


@pytest.mark.parametrize(
    "codec, container, start, length, extra",
    [
        ("libx264", "mp4", "0.7", None, ("-g", "25", "-bf", "2")),
        ("libx264", "mov", "2.1", "1.3", ("-g", "12")),
        ("libx265", "mov", "1.3", None, ("-x265-params", "log-level=error:keyint=25", "-tag:v", "hvc1")),
        ("mpeg4", "mp4", "1.1", None, ("-g", "30", "-bf", "1", "-q:v", "4")),
    ],
)
def test_edit_list_variants_match_ffprobe(tmp_path, codec, container, start, length, extra):
    base = source(tmp_path / f"base.{container}", rate="25", codec=codec, extra=extra)
    cut = tmp_path / f"cut.{container}"
    ffmpeg("-ss", start, "-i", base, *(("-t", length) if length else ()), "-c", "copy", cut)
    want = ffprobe(cut)
    info = probe_video(cut)
    assert info.n_frames == int(want["nb_read_frames"])
    assert (info.width, info.height) == (want["width"], want["height"])
    assert info.duration_s == pytest.approx(float(want["duration"]), abs=1 / 25)
    clip = decode_clip(cut, SMALL)
    assert clip.decoded_frames == info.n_frames and clip.damaged_frames == 0
    assert not [w for w in clip.warnings if "decodable" in w]


def test_files_without_edit_list_keep_the_packet_count(make_clip):
    info = probe_video(make_clip("plain-bframes.mp4", seconds=2, fps=10, preset="medium"))
    assert (info.n_frames, info.discarded_frames) == (20, 0)
    assert not [w for w in info.warnings if "edit list" in w]


# --- raw elementary streams ---------------------------------------------------------------------
RAW = [  # (file name, ffmpeg codec args, rate given to the encoder)
    ("clip.h264", ("-c:v", "libx264"), "30"),
    ("clip.264", ("-c:v", "libx264"), "25"),
    ("clip.hevc", ("-c:v", "libx265", "-x265-params", "log-level=error"), "24000/1001"),
    ("clip.265", ("-c:v", "libx265", "-x265-params", "log-level=error"), "50"),
    ("clip.m2v", ("-c:v", "mpeg2video", "-f", "mpeg2video"), "24"),
    ("clip.mpv", ("-c:v", "mpeg2video", "-f", "mpeg2video"), "30000/1001"),
    ("clip.cmp", ("-c:v", "mpeg4", "-f", "m4v"), "30"),
    ("clip.ivf", ("-c:v", "libvpx-vp9", "-deadline", "realtime"), "24"),
    ("clip.y4m", (), "15"),
]


@pytest.mark.parametrize("name, args, rate", RAW, ids=[r[0] for r in RAW])
def test_raw_streams_use_the_streams_own_rate(tmp_path, name, args, rate):
    path = tmp_path / name
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=64x48:rate={rate}", "-t", "2", *args, "-pix_fmt", "yuv420p", path
    )
    want = ffprobe(path)
    info = probe_video(path)
    fps = float(Fraction(rate))
    assert info.avg_fps == pytest.approx(fps, rel=1e-6)
    assert info.n_frames == int(want["nb_read_frames"])
    assert (info.width, info.height) == (want["width"], want["height"])
    assert info.duration_s == pytest.approx(info.n_frames / fps, abs=1.01 / fps)
    assert not [w for w in info.warnings if "assum" in w]
    clip = decode_clip(path, SMALL)
    assert clip.decoded_frames == info.n_frames and clip.keyframe_times[1] == pytest.approx(1.0, abs=1 / fps)


@pytest.mark.parametrize(
    "name, args",
    [
        ("notiming.hevc", ("-c:v", "libx265", "-x265-params", "log-level=error:vui-timing-info=0")),
        ("clip.obu", ("-c:v", "libaom-av1", "-cpu-used", "8", "-f", "obu")),
    ],
)
def test_raw_stream_without_a_rate_warns_that_it_is_assumed(tmp_path, name, args):
    path = tmp_path / name
    try:
        ffmpeg(
            "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30", "-t", "1", *args, "-pix_fmt", "yuv420p", path
        )
    except subprocess.CalledProcessError:
        pytest.skip(f"this ffmpeg cannot write {name}")
    info = probe_video(path)
    assert info.n_frames == int(ffprobe(path)["nb_read_frames"]) == 30
    assert info.avg_fps == 25.0 and info.duration_s == pytest.approx(30 / 25)
    assert any("assuming 25 fps" in w for w in info.warnings)


# --- resolution changes -------------------------------------------------------------------------
def test_resolution_changes_are_reported(tmp_path):
    a = source(tmp_path / "a.ts", size="64x48", rate="30", seconds=2, extra=("-f", "mpegts"))
    b = source(tmp_path / "b.ts", size="96x54", rate="30", seconds=1, extra=("-f", "mpegts"))
    c = source(tmp_path / "c.ts", size="48x64", rate="30", seconds=1, extra=("-f", "mpegts"))
    joined = tmp_path / "r.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes() + c.read_bytes() + a.read_bytes())
    sizes = frame_sizes(joined)  # ffprobe: every shown frame's size
    expected = tuple((i, *size) for i, size in enumerate(sizes) if i and size != sizes[i - 1])
    assert len(expected) == 3
    info = probe_video(joined)
    assert info.n_frames == len(sizes) and (info.width, info.height) == sizes[0]
    assert info.resolution_changes == expected
    assert info.duration_s == pytest.approx(len(sizes) / 30, abs=0.05)  # timestamps restart: not 2 s
    clip = decode_clip(joined, SMALL)
    assert clip.resolution_changes == expected and clip.decoded_frames == len(sizes)
    assert any("resolution changes" in w and "96x54 at frame 60" in w for w in clip.warnings)
    assert list(clip.keyframe_times) == [float(i) for i in range(len(clip.keyframe_times))]
    stream = decode_windows(joined, SMALL, 1.0)  # scored window by window: the same facts for the record
    assert len(list(stream)) == len(stream.windows) > 1
    assert stream.resolution_changes == expected and stream.decoded_frames == len(sizes)
    assert any("resolution changes" in w and "96x54 at frame 60" in w for w in stream.warnings)


def test_constant_size_reports_no_change(make_clip):
    clip = decode_clip(make_clip("steady.mkv", seconds=2, fps=8, container="mkv"), SMALL)
    assert clip.resolution_changes == () and clip.info.resolution_changes == ()
    assert not [w for w in clip.warnings if "resolution" in w]


# --- VFR ----------------------------------------------------------------------------------------
def test_vfr_frame_count_matches_ffprobe(make_clip):
    path = make_clip("vfr-shown.mp4", seconds=3, fps=10, vfr=True)
    info = probe_video(path)
    assert info.vfr and info.n_frames == int(ffprobe(path)["nb_read_frames"])
    assert decode_clip(path, SMALL).decoded_frames == info.n_frames


def test_probe_json_reports_changes_and_discarded_frames(tmp_path):
    from typer.testing import CliRunner

    from vqa2cli.cli.app import app

    a = source(tmp_path / "a.ts", size="64x48", seconds=1, extra=("-f", "mpegts"))
    b = source(tmp_path / "b.ts", size="80x60", seconds=1, extra=("-f", "mpegts"))
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    base = source(tmp_path / "base.mp4", size="64x48", seconds=3, extra=("-g", "30"))
    cut = tmp_path / "cut.mp4"
    ffmpeg("-ss", "1.5", "-i", base, "-c", "copy", cut)
    result = CliRunner().invoke(
        app, ["probe", str(joined), str(cut), "--format", "json"], env={"NO_COLOR": "1"}
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert rows[0]["resolution_changes"] == [{"frame": 30, "width": 80, "height": 60}]
    assert (rows[1]["n_frames"], rows[1]["discarded_frames"]) == (int(ffprobe(cut)["nb_read_frames"]), 15)
    assert rows[1]["duration_s"] == pytest.approx(1.5)
