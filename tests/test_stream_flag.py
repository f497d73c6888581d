"""``--stream N`` (issue 25, 4: "offer a way to choose"): the CLI flag for ``video.stream`` on score, ask,
batch, probe and compare, and the server's request option ``stream``. A two-stream file made with ffmpeg:
``--stream N`` reads the stream other than ffmpeg's default choice, the record's
``input.stream_index`` says which; a wrong index is refused in one line naming the video streams."""

from __future__ import annotations

import json

import pytest
from cli_run import run
from ffmpeg_cli import ffmpeg, needs_ffmpeg

pytestmark = needs_ffmpeg


@pytest.fixture(scope="module")
def two_streams(tmp_path_factory):
    path = tmp_path_factory.mktemp("streams") / "two.mkv"
    inputs = []
    for size in ("64x48", "128x96"):
        inputs += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=8:duration=1"]
    ffmpeg(
        *inputs,
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        path,
    )
    return path


def test_probe_stream_flag_picks_the_other_stream(two_streams, capsys):
    code, out, _ = run(["probe", str(two_streams), "--format", "json"], capsys)
    default = json.loads(out)[0]
    assert code == 0 and default["stream_index"] in (0, 1)
    other = 1 - default["stream_index"]
    code, out, _ = run(["probe", str(two_streams), "--stream", str(other), "--format", "json"], capsys)
    row = json.loads(out)[0]
    assert code == 0 and row["stream_index"] == other and row["width"] == (64, 128)[other]


def test_score_stream_flag_is_recorded(two_streams, tiny_model_dir, capsys):
    base = ["score", str(two_streams), "-m", str(tiny_model_dir), "--format", "json"]
    code, out, _ = run(base, capsys)
    assert code == 0
    other = 1 - json.loads(out)[0]["input"]["stream_index"]
    code, out, _ = run(base + ["--stream", str(other)], capsys)
    record = json.loads(out)[0]
    assert code == 0 and record["input"]["stream_index"] == other
    assert record["input"]["width"] == (64, 128)[other] and record["config"]["video"]["stream"] == other


def test_a_wrong_stream_is_one_line_naming_the_video_streams(two_streams, tiny_model_dir, capsys):
    code, _, err = run(["probe", str(two_streams), "--stream", "2"], capsys)
    assert code == 3
    line = [ln for ln in err.splitlines() if "stream 2" in ln]
    assert len(line) == 1 and "video streams: 0, 1" in line[0] and "--stream" in line[0]


def test_every_command_takes_the_flag(capsys):
    for command in ("score", "ask", "batch", "probe", "compare"):
        code, out, _ = run([command, "--help"], capsys)
        assert code == 0 and "--stream" in out, command


def test_the_server_maps_the_stream_option(tiny_model_dir):
    from vqa2cli.serve.options import OptionResolver

    for task in ("score", "ask"):
        resolver = OptionResolver(task, str(tiny_model_dir), None, {})
        assert resolver.resolve({"stream": 1}).settings.video.stream == 1


def test_batch_stream_flag_is_recorded(two_streams, tiny_model_dir, tmp_path, capsys):
    import shutil

    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(two_streams, folder / "two.mkv")
    indices = []
    for stream in ("0", "1"):
        jsonl = tmp_path / f"s{stream}.jsonl"
        args = ["batch", str(folder), "--jsonl", str(jsonl), "-m", str(tiny_model_dir), "--workers", "0"]
        code, _, err = run(args + ["--stream", stream], capsys)
        assert code == 0, err
        indices.append(json.loads(jsonl.read_text().splitlines()[0])["input"]["stream_index"])
    assert indices == [0, 1]


def test_ask_stream_flag_reaches_the_settings(two_streams, tiny_model_dir, capsys, monkeypatch):
    from vqa2cli.jobs import ask_run

    seen = []
    original = ask_run.run_ask

    def spy(file, asked, source, settings, *args, **kwargs):
        seen.append(settings.video.stream)
        return original(file, asked, source, settings, *args, **kwargs)

    monkeypatch.setattr(ask_run, "run_ask", spy)
    args = ["ask", str(two_streams), "What is wrong?", "-m", str(tiny_model_dir), "--max-new-tokens", "2"]
    code, _, err = run(args + ["--stream", "0", "--format", "json"], capsys)
    assert code == 0 and seen == [0], err
