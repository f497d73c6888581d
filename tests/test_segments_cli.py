"""`score`/`batch` window options end to end on the tiny checkpoint: JSON schema, tidy CSV, gates and their
messages, plots (size, not blank), usage errors, and a segmented batch killed with SIGKILL then resumed."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import sys

import pytest
from clips import make_lossless_frames
from test_batch import _interrupt_after_rows, run

from vqa2cli.jobs.windows import plot_name
from vqa2cli.pipeline.pooling import STATISTICS

SEGMENT_KEYS = {
    "index",
    "start_s",
    "end_s",
    "start_frame",
    "end_frame",
    "score",
    "official_score",
    "level",
    "probs",
    "keyframes",
    "motion_frames",
    "policy",
    "decode_s",
    "infer_s",
    "spread",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("segcli")
    config = root / "small.toml"
    config.write_text("[video]\nmotion_size = 64\n")  # a small SlowFast input keeps the CPU tests fast
    return {"long": make_lossless_frames(root / "long.mkv", 0, 52), "config": config, "root": root}


def _read(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_score_segments_json_csv_plot_and_gate(tiny_model_dir, files, tmp_path, capsys):
    plot, seg_csv = tmp_path / "t.png", tmp_path / "w.csv"
    code, out, err = run(
        [
            "score",
            str(files["long"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--segments",
            "2s",
            "-f",
            "json",
            "--segments-csv",
            str(seg_csv),
            "--plot",
            str(plot),
            "--fail-segment-under",
            "1.0",
        ],
        capsys,
    )
    assert code == 1, err
    (record,) = json.loads(out)
    assert [set(s) for s in record["segments"]] == [SEGMENT_KEYS] * 3
    assert set(record["pooled"]) == set(STATISTICS)
    assert record["score"] == record["pooled"]["weighted_mean"]
    low = min(record["segments"], key=lambda s: s["score"])
    assert record["worst"] == {k: low[k] for k in ("index", "start_s", "end_s", "score", "level")}
    # every window below 1.0 is named with its time range
    assert f"{files['long']} 00:00:00–00:00:02 scored" in err and "00:00:04–00:00:06.5 scored" in err
    assert re.search(r"scored \d\.\d{3} < 1\n", err)  # the score to 3 decimals, the limit as given
    rows = _read(seg_csv)
    assert list(rows[0])[:7] == ["path", "index", "start_s", "end_s", "score", "official_score", "level"]
    assert [float(r["score"]) for r in rows] == [s["score"] for s in record["segments"]]
    assert [r["p_high"] for r in rows] == [str(s["probs"]["high"]) for s in record["segments"]]
    import numpy as np
    from PIL import Image

    with Image.open(plot) as img:
        assert img.size == (1200, 600)
        pixels = np.asarray(img.convert("L"), dtype=np.float32)
    assert pixels.std() > 20 and (pixels < 100).mean() > 0.005  # drawn, not a blank canvas


def test_gates_pass_pool_choice_and_svg(tiny_model_dir, files, tmp_path, capsys):
    svg = tmp_path / "t.svg"
    code, out, err = run(
        [
            "score",
            str(files["long"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--segments",
            "2s",
            "--pool",
            "min",
            "-f",
            "jsonl",
            "--plot",
            str(svg),
            "--fail-segment-under",
            "0",
            "--fail-under",
            "0",
        ],
        capsys,
    )
    assert code == 0, err
    record = json.loads(out)
    assert record["score"] == record["pooled"]["min"] == record["worst"]["score"]
    text = svg.read_text()
    assert "<svg" in text and text.count("<path") > 10
    code, out, err = run(
        [
            "score",
            str(files["long"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--segments",
            "2s",
            "--fail-under",
            "1.0",
        ],
        capsys,
    )
    assert code == 1 and "below --fail-under" in err  # the pooled score is gated
    assert "worst of 3 windows: 00:00:02–00:00:04" in out or "worst of 3 windows" in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--segments", "ten"], "window duration"),
        (["--plot", "x.gif"], ".png or .svg"),
        (["--fail-segment-under", "2"], "between 0 and 1"),
        (["--pool", "median"], "scoring.pool"),
    ],
)
def test_usage_errors(files, args, words, capsys):
    code, _, err = run(["score", str(files["long"]), *args], capsys)
    assert code == 2 and words in err, err


def test_plot_needs_one_file(files, capsys):
    code, _, err = run(["score", str(files["long"]), str(files["long"]), "--plot", "a.png"], capsys)
    assert code == 2 and "--plot-dir" in err


@pytest.mark.e2e  # SIGKILL of a batch in another process
def test_segmented_batch_sigkill_then_resume_one_row_per_window(tiny_model_dir, files, tmp_path, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(2):
        make_lossless_frames(folder / f"c{i}.mkv", 8 * i, 8 * i + 52)
    out_csv, seg_csv, plots = tmp_path / "scores.csv", tmp_path / "windows.csv", tmp_path / "plots"
    plots.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "vqa2cli",
        "batch",
        str(folder),
        "--csv",
        str(out_csv),
        "-m",
        str(tiny_model_dir),
        "--config",
        str(files["config"]),
        "--workers",
        "1",
        "--segments",
        "2s",
        "--segments-csv",
        str(seg_csv),
    ]
    rc, err = _interrupt_after_rows(
        cmd, seg_csv, signal.SIGKILL, 3
    )  # header + 2 of the first file's 3 windows
    assert rc == -signal.SIGKILL, err
    before = _read(seg_csv)
    assert 2 <= len(before) < 6, "the run finished before it could be killed"
    with open(seg_csv, "a", encoding="utf-8") as fh:
        fh.write(str(folder / "c0.mkv") + ",2,4.0")  # a row torn by the crash
    code, _, err = run(cmd[3:] + ["--resume", "--plot-dir", str(plots)], capsys)
    assert code == 0, err
    rows = _read(seg_csv)
    keys = [(r["path"], r["index"]) for r in rows]
    assert sorted(keys) == sorted((str(folder / f"c{i}.mkv"), str(w)) for i in range(2) for w in range(3))
    assert rows[: len(before)] == before
    assert len(_read(out_csv)) == 2
    assert sorted(p.name for p in plots.iterdir()) == sorted(
        os.path.basename(plot_name(str(plots), str(folder / f"c{i}.mkv"))) for i in range(2)
    )


def test_ask_per_window_with_time_ranges(tiny_model_dir, files, capsys):
    from vqa2cli.cli.options import resolve_settings
    from vqa2cli.pipeline.asking import Asker

    args = [
        "ask",
        str(files["long"]),
        "Is there stutter?",
        "-q",
        "-m",
        str(tiny_model_dir),
        "--config",
        str(files["config"]),
        "--max-new-tokens",
        "2",
        "--segments",
        "2s",
    ]
    code, out, err = run(args + ["-f", "jsonl"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["segment"] for r in records] == [
        {"index": 0, "start_s": 0.0, "end_s": 2.0},
        {"index": 1, "start_s": 2.0, "end_s": 4.0},
        {"index": 2, "start_s": 4.0, "end_s": 6.5},
    ]
    assert [r["sampling"]["keyframe_indices"] for r in records] == [[0, 8], [16, 24], [32, 40, 48]]
    # the same per-clip answering path: window 1's answer equals asking about a file of just its frames
    settings, ref = resolve_settings(
        "ask", str(tiny_model_dir), files["config"], generation__max_new_tokens=2
    )
    asker = Asker.load(settings, ref)
    alone = make_lossless_frames(files["root"] / "w1.mkv", 16, 32)
    answer = asker.answer(asker.decode(alone, question="Is there stutter?"), alone, "Is there stutter?")
    assert answer.answer == records[1]["answer"]
    code, table, _ = run(args, capsys)
    assert code == 0 and table.startswith("[00:00:00–00:00:02]\nQ: Is there stutter?\nA: ")
    assert "[00:00:04–00:00:06.5]" in table


def test_batch_refuses_an_existing_segments_csv_without_resume(files, tmp_path, capsys):
    seg_csv = tmp_path / "w.csv"
    seg_csv.write_text("path,index\n")
    code, _, err = run(
        ["batch", str(files["long"]), "--csv", str(tmp_path / "s.csv"), "--segments-csv", str(seg_csv)],
        capsys,
    )
    assert code == 2 and str(seg_csv) in err and "--resume" in err
    assert seg_csv.read_text() == "path,index\n"
