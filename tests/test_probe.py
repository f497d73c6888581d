"""probe_video facts and the `vqa2 probe` command (typer CliRunner, stdout/stderr split, exit codes)."""

from __future__ import annotations

import json

import pytest
import typer
from clips import make_audio_only, random_bytes
from typer.testing import CliRunner

from vqa2cli.cli.probe import KEYS, register
from vqa2cli.errors import (
    CorruptContainerError,
    EmptyFileError,
    FileMissingError,
    NotAFileError,
    NoVideoStreamError,
)
from vqa2cli.video.probe import probe_video


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Root, so that `probe` is a subcommand as under vqa2cli.cli.app."""

    return app


def invoke(app, *args, env=None):
    return CliRunner().invoke(app, ["probe", *map(str, args)], env=env or {"NO_COLOR": "1"})


def test_probe_facts(make_clip):
    info = probe_video(make_clip("facts ü", seconds=1.5, fps=8, width=80, height=60, audio=True))
    assert (info.container, info.codec, info.width, info.height) == ("mp4", "h264", 80, 60)
    assert info.n_frames == 12 and info.avg_fps == 8.0 and info.duration_s == pytest.approx(1.5)
    assert (info.bit_depth, info.pix_fmt, info.rotation) == (8, "yuv420p", 0)
    assert (info.vfr, info.has_audio) == (False, True)


def test_rotated_display_size(make_clip):
    info = probe_video(make_clip("portrait", rotation=-90, width=48, height=64))
    assert (info.width, info.height, info.coded_width, info.coded_height) == (48, 64, 64, 48)
    assert info.rotation == 90


def test_input_errors(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    cases = {
        tmp_path / "missing.mp4": FileMissingError,
        tmp_path: NotAFileError,
        tmp_path / "empty.mp4": EmptyFileError,
        random_bytes(tmp_path / "noise.mkv"): CorruptContainerError,
        make_audio_only(tmp_path / "speech.m4a"): NoVideoStreamError,
    }
    for path, error in cases.items():
        with pytest.raises(error) as info:
            probe_video(path)
        assert str(path) in info.value.one_line() and info.value.fix


def test_mp3_cover_art_is_not_a_video(tmp_path):
    from ffmpeg_cli import require_ffmpeg

    require_ffmpeg("to attach cover art")
    with pytest.raises(NoVideoStreamError, match="cover art"):
        probe_video(make_audio_only(tmp_path / "song.mp3", cover_art=True))


def test_json_lists_every_file_and_exits_3_on_unusable(app, make_clip, tmp_path):
    good = make_clip("good clip é", seconds=3, fps=8)
    missing = tmp_path / "gone.mp4"
    result = invoke(app, good, missing, "--format", "json")
    assert result.exit_code == 3
    rows = json.loads(result.stdout)
    assert [r["status"] for r in rows] == ["ok", "error"] and all(tuple(r) == KEYS for r in rows)
    assert rows[0]["keyframes"] == 3 and rows[0]["motion_frames"] == 24 and rows[0]["policy"] == "official"
    assert rows[1]["error_code"] == "file_missing"
    errors = [line for line in result.stderr.splitlines() if line]
    assert len(errors) == 1 and errors[0].startswith("Error: ") and "gone.mp4" in errors[0]


def test_json_empty_and_table(app, make_clip):
    clip = make_clip("table clip", rotation=90, width=48, height=64)
    result = invoke(app, clip)
    assert result.exit_code == 0 and result.stderr == ""
    assert "\x1b[" not in result.stdout  # no colour outside a terminal
    header, row = result.stdout.splitlines()[:2]
    assert header.split()[:4] == ["FILE", "CONTAINER", "CODEC", "SIZE"]
    assert "48x64 (rot 270)" in row and "table clip" in row


def test_long_clip_policy_flags(app, make_clip):
    clip = make_clip("policy", seconds=3, fps=8)
    rows = json.loads(
        invoke(app, clip, "-f", "json", "--max-motion-frames", "8", "--long-clip", "stride").stdout
    )
    assert (rows[0]["motion_frames"], rows[0]["motion_stride"], rows[0]["policy"]) == (8, 3, "stride:3")
    rows = json.loads(invoke(app, clip, "-f", "json", "--max-motion-frames", "8").stdout)  # as score: windows
    assert (rows[0]["motion_frames"], rows[0]["policy"]) == (8, "segments:1")
    result = invoke(app, clip, "-f", "json", "--max-motion-frames", "8", "--long-clip", "error")
    assert result.exit_code == 3 and json.loads(result.stdout)[0]["error_code"] == "too_long"


def test_help_has_examples(app):
    result = CliRunner().invoke(app, ["probe", "--help"], env={"NO_COLOR": "1", "COLUMNS": "100"})
    assert result.exit_code == 0 and "Examples:" in result.stdout and "--format" in result.stdout


def test_bad_format_is_a_usage_error(app, make_clip):
    from vqa2cli.errors import UsageError

    result = invoke(app, make_clip("fmt"), "--format", "csv")
    assert isinstance(result.exception, UsageError)


@pytest.mark.parametrize("rate", [None, 0])
def test_missing_frame_rate_falls_back_to_frames_over_duration(rate):
    from fractions import Fraction
    from types import SimpleNamespace

    from vqa2cli.video.packet_scan import PacketScan, stream_timing

    average = None if rate is None else Fraction(rate)
    stream = SimpleNamespace(time_base=Fraction(1, 1000), average_rate=average, guessed_rate=None)
    warnings: list[str] = []
    packets = [(i * 40, 40) for i in range(50)]
    scan = PacketScan(count=50, times=packets, sizes=[], fed=[], durations=40 * 50)
    fps, duration, vfr = stream_timing(stream, SimpleNamespace(duration=None), scan, False, warnings)
    assert (fps, duration, vfr) == (pytest.approx(25.0), pytest.approx(2.0), False)
    assert "frames/duration" in warnings[0]


def test_interlaced_source_is_flagged(tmp_path):
    from ffmpeg_cli import ffmpeg

    path = tmp_path / "tff.ts"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=160x120:rate=25",
        "-t",
        "0.5",
        "-c:v",
        "mpeg2video",
        "-flags",
        "+ildct+ilme",
        "-vf",
        "setfield=tff",
        path,
    )
    info = probe_video(path)
    assert info.interlaced and any("interlaced" in w for w in info.warnings)
