"""Faults a newcomer found in the window options (issue 14), fixed by kind: durations as media engineers type
them (and one line naming the forms for anything else), windows shorter than one key-frame step refused,
--pool on a clip scored without windows said on stderr, and score's window outputs never overwritten
without --overwrite (the rule of batch's outputs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from clips import make_lossless_frames
from test_batch import run

from vqa2cli.config import VideoSection
from vqa2cli.errors import UsageError
from vqa2cli.jobs.windows import plot_name
from vqa2cli.video.segments import parse_duration, window_seconds


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("90", 90.0),
        ("2.5", 2.5),
        ("10s", 10.0),
        ("10S", 10.0),
        ("1.5m", 90.0),
        ("2h", 7200.0),
        ("1m30s", 90.0),
        ("1h2m3.5s", 3723.5),
        ("1h30m", 5400.0),
        ("1500ms", 1.5),
        ("1m 30s", 90.0),
        ("01:30", 90.0),
        ("00:01:30.5", 90.5),
        ("1:00:00", 3600.0),
        ("0:00:10.000", 10.0),
        (" 10s ", 10.0),
    ],
)
def test_durations_media_engineers_type(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "ten",
        "10 seconds",
        "1h1h",
        "30m1h",
        "-5",
        "1e3",
        "inf",
        "nan",
        "01:60",
        "1:2:3:4",
        "",
        "s",
        "m30",
        "10sec",
        "5min",
    ],
)
def test_nonsense_is_refused_naming_the_accepted_forms(text):
    with pytest.raises(UsageError) as err:
        parse_duration(text)
    line = err.value.one_line()
    assert "\n" not in line and all(form in line for form in ("1m30s", "2h", "MM:SS", "90", "auto"))


@pytest.mark.parametrize("text", ["0", "0s", "00:00:00"])
def test_zero_is_refused(text):
    with pytest.raises(UsageError, match="positive"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text, fps, ok",
    [
        ("0.01s", 1.0, False),
        ("500ms", 1.0, False),
        ("0.99", 1.0, False),
        ("1s", 1.0, True),
        ("0.5", 2.0, True),
        ("0.4", 2.0, False),
        ("auto", 1.0, True),
    ],
)
def test_a_window_shorter_than_one_keyframe_step_is_refused_not_rounded(text, fps, ok):
    video = VideoSection(keyframe_fps=fps)
    if ok:
        assert window_seconds(text, video) == (parse_duration(text) or video.segment_s)
    else:
        with pytest.raises(UsageError, match="shorter than one key-frame step"):
            window_seconds(text, video)


@pytest.mark.parametrize(
    "command",
    [["score", "clip.mp4"], ["batch", "clip.mp4", "--csv", "out.csv"], ["ask", "clip.mp4", "Is it sharp?"]],
)
@pytest.mark.parametrize(
    "segments, words", [("0.01s", "shorter than one key-frame step"), ("1m30x", "MM:SS")]
)
def test_every_command_refuses_bad_windows_with_exit_2(
    command, segments, words, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"")
    code, out, err = run([*command, "--segments", segments], capsys)
    assert code == 2 and words in err, err
    assert err.strip().count("\n") == 0 and not (tmp_path / "out.csv").exists()


def test_a_configured_window_shorter_than_one_keyframe_step_is_refused(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[video]\nsegment_s = 0.25\n")
    code, _, err = run(
        ["score", str(tmp_path / "x.mp4"), "--config", str(config), "--segments", "auto"], capsys
    )
    assert code == 2 and "video.segment_s = 0.25" in err and "key-frame step" in err, err
    code, _, err = run(
        ["score", str(tmp_path / "x.mp4"), "--config", str(config)], capsys
    )  # long-clip windows
    assert code == 2 and "video.segment_s = 0.25" in err, err


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    config = root / "small.toml"
    config.write_text("[video]\nmotion_size = 64\n")
    return {"clip": make_lossless_frames(root / "short.mkv", 0, 24), "config": config}


def test_pool_on_a_clip_scored_without_windows_is_said(tiny_model_dir, short, capsys):
    args = [
        "score",
        str(short["clip"]),
        "-m",
        str(tiny_model_dir),
        "--config",
        str(short["config"]),
        "-f",
        "json",
    ]
    code, _, err = run(args + ["--pool", "min"], capsys)
    assert code == 0, err
    assert f"{short['clip']}: --pool min not applied" in err and "--segments" in err
    code, _, err = run(args + ["--pool", "min", "--segments", "1s"], capsys)
    assert code == 0 and "not applied" not in err, err


@pytest.mark.parametrize("flag, name", [("--segments-csv", "w.csv"), ("--plot", "t.png")])
def test_score_refuses_an_existing_window_output_without_overwrite(short, tmp_path, flag, name, capsys):
    target = tmp_path / name
    target.write_text("keep me\n")
    code, _, err = run(["score", str(short["clip"]), flag, str(target)], capsys)
    assert code == 2 and f"{target} already exists" in err and "--overwrite" in err, err
    assert target.read_text() == "keep me\n"


def test_score_overwrite_replaces_the_window_outputs(tiny_model_dir, short, tmp_path, capsys):
    seg_csv, plot = tmp_path / "w.csv", tmp_path / "t.png"
    for path in (seg_csv, plot):
        path.write_text("old\n")
    code, _, err = run(
        [
            "score",
            str(short["clip"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(short["config"]),
            "--segments",
            "1s",
            "--segments-csv",
            str(seg_csv),
            "--plot",
            str(plot),
            "--overwrite",
        ],
        capsys,
    )
    assert code == 0, err
    assert seg_csv.read_text().startswith("path,index,start_s") and plot.read_bytes()[:4] == b"\x89PNG"


def test_batch_refuses_a_picture_already_in_the_plot_dir(short, tmp_path, capsys):
    plots = tmp_path / "plots"
    plots.mkdir()
    old = Path(plot_name(str(plots), str(short["clip"])))
    old.write_text("keep me\n")
    code, _, err = run(
        ["batch", str(short["clip"]), "--csv", str(tmp_path / "s.csv"), "--plot-dir", str(plots)], capsys
    )
    assert code == 2 and f"{old} already exists" in err and "--overwrite" in err, err
    assert old.read_text() == "keep me\n" and not (tmp_path / "s.csv").exists()


def test_score_writes_window_outputs_to_a_device_without_overwrite(tiny_model_dir, short, capsys):
    """Only regular files are protected: /dev/stdout is not "an existing file" to refuse."""
    code, out, err = run(
        [
            "score",
            str(short["clip"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(short["config"]),
            "--segments",
            "1s",
            "--segments-csv",
            "/dev/stdout",
            "-f",
            "json",
            "-q",
        ],
        capsys,
    )
    assert code == 0 and "already exists" not in err, err


def test_a_window_rounded_to_whole_keyframe_steps_is_said(tiny_model_dir, short, capsys):
    """3 s at 8 fps: --segments 1.5s gives windows of 2 key-frame steps (2 s); the record and stderr say so."""
    import json

    args = [
        "score",
        str(short["clip"]),
        "-m",
        str(tiny_model_dir),
        "--config",
        str(short["config"]),
        "-f",
        "json",
    ]
    code, out, err = run(args + ["--segments", "1.5s"], capsys)
    assert code == 0, err
    record = json.loads(out)[0]
    note = "windows of 2 s (16 frames: whole key-frame steps of 8 frames at 8 fps, 1 key frame/s), not the 1.5 s asked"
    assert note in record["warnings"] and note in record["sampling"]["notes"] and note in err
    code, out, err = run(args + ["--segments", "1s"], capsys)
    assert (
        code == 0
        and "not the 1 s asked" not in err
        and not any("asked" in w for w in json.loads(out)[0]["warnings"])
    )
