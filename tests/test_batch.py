"""`vqa2 batch` end to end on the tiny random checkpoint: a mixed folder tree, SIGKILL + --resume,
shards, overwrite refusal, multi-process (torchrun) merge."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_run import run  # noqa: E402
from clips import make_audio_only, make_clip, random_bytes, truncate_copy

from vqa2cli.records.results import SCORE_COLUMNS

REPO = Path(__file__).resolve().parent.parent


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [] or list(rows[0]) == list(SCORE_COLUMNS)
    return rows


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """good clips (3 containers, nested), broken files, non-video files, hidden files."""
    root = tmp_path_factory.mktemp("tree")
    good = [
        make_clip(root / "a.mp4", seconds=2, fps=8),
        make_clip(root / "nested" / "deeper" / "B.MKV", seconds=1.5, fps=10, container="mkv"),
        make_clip(root / "nested" / "c.webm", seconds=1, fps=8, container="webm", codec="libvpx"),
    ]
    broken = {
        "rand.mp4": lambda p: random_bytes(p),
        "nested/trunc.mp4": lambda p: truncate_copy(good[0], p, 0.3),
        "empty.mov": lambda p: p.write_bytes(b""),
        "nested/voice.mp4": lambda p: make_audio_only(p),
    }
    for name, build in broken.items():
        build(root / name)
    for name in ("notes.txt", "nested/cover.png", "nested/song.m4a", ".DS_Store", "nested/.hidden.mp4"):
        (root / name).write_bytes(b"not a video at all")
    os.link(good[0], root / "nested" / "no_extension")  # sniffed as MP4 by its magic bytes
    return {
        "root": root,
        "good": [str(p) for p in good] + [str(root / "nested" / "no_extension")],
        "broken": [str(root / n) for n in broken],
        "n_ignored": 5,
    }


def test_mixed_tree_one_row_per_video_errors_continue(tiny_model_dir, tree, tmp_path, capsys):
    out_csv, out_jsonl = tmp_path / "s.csv", tmp_path / "s.jsonl"
    code, out, err = run(
        [
            "batch",
            str(tree["root"]),
            "--csv",
            str(out_csv),
            "--jsonl",
            str(out_jsonl),
            "-m",
            str(tiny_model_dir),
            "--workers",
            "2",
            "--summary",
            "--fail-under",
            "1.0",
        ],
        capsys,
    )
    assert code == 3, err  # failed files win over the --fail-under gate
    rows = read_csv(out_csv)
    records = [json.loads(line) for line in out_jsonl.read_text().splitlines()]
    expected = sorted(tree["good"] + tree["broken"])
    assert [r["path"] for r in rows] == expected == [r["path"] for r in records]
    status = {r["path"]: r["status"] for r in rows}
    assert {p for p, s in status.items() if s == "ok"} == set(tree["good"])
    by_path = {r["path"]: r for r in rows}
    for path in tree["broken"]:
        assert by_path[path]["error_code"] and "\n" not in by_path[path]["error"]
        assert by_path[path]["size_bytes"] == str(os.path.getsize(path))
    assert by_path[tree["broken"][2]]["error_code"] == "empty_file"
    assert by_path[tree["broken"][3]]["error_code"] == "no_video_stream"
    for r in rows:
        if r["status"] == "ok":
            assert 0.0 <= float(r["score"]) <= 1.0 and r["mtime"] and r["model"]
    summary = json.loads(out)  # stdout: only the --summary JSON
    assert (summary["ok"], summary["failed"], summary["skipped_not_video"]) == (4, 4, tree["n_ignored"])
    assert "4 ok, 4 failed" in err and f"{tree['n_ignored']} not video" in err and "files/s" in err

    base = [
        "batch",
        str(tree["root"]),
        "--csv",
        str(out_csv),
        "--jsonl",
        str(out_jsonl),
        "-m",
        str(tiny_model_dir),
    ]
    code, _, err = run(base + ["--resume"], capsys)  # error rows count as done: nothing to score
    assert code == 3 and "0 ok, 0 failed" in err and "8 already done, 4 of them errors" in err
    assert read_csv(out_csv) == rows
    code, _, err = run(base + ["--resume", "--retry-errors"], capsys)
    assert code == 3 and "0 ok, 4 failed" in err and "4 already done" in err
    again = read_csv(out_csv)
    assert again[: len(rows)] == rows and sorted(r["path"] for r in again[len(rows) :]) == sorted(
        tree["broken"]
    )


def _interrupt_after_rows(cmd, out_csv, sig, lines, timeout=120.0):
    """Start ``cmd``, send ``sig`` as soon as ``out_csv`` holds ``lines`` complete lines."""
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out_csv.exists() and out_csv.read_text().count("\n") >= lines:
                break
            time.sleep(0.02)
        proc.send_signal(sig)
    finally:
        _, err = proc.communicate()
    return proc.returncode, err.decode()


@pytest.mark.e2e
def test_sigkill_ctrl_c_then_resume_gives_exactly_one_row_per_file(tiny_model_dir, tmp_path, capsys):
    folder = tmp_path / "clips"
    for i in range(8):
        make_clip(folder / f"clip{i}.mp4", seconds=2, fps=8 + i)
    out_csv = tmp_path / "scores.csv"
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
        "--workers",
        "1",
    ]
    rc, err = _interrupt_after_rows(cmd, out_csv, signal.SIGKILL, 2)  # header + one finished row
    assert rc == -signal.SIGKILL, err
    before = read_csv(out_csv)
    assert 1 <= len(before) < 8, "the run finished before it could be killed: make the clips longer"
    with open(out_csv, "a", encoding="utf-8") as fh:  # a row torn by the crash (power loss mid-write)
        fh.write(str(folder / "clip7.mp4") + ",ok,0.5")
    snapshot = out_csv.read_bytes()

    code, _, err = run(cmd[3:], capsys)  # same command again, without --resume
    assert code == 2 and str(out_csv) in err and "--resume" in err and "--overwrite" in err
    assert out_csv.read_bytes() == snapshot  # refused: not touched

    rc, err = _interrupt_after_rows(cmd + ["--resume"], out_csv, signal.SIGINT, len(before) + 2)  # Ctrl-C
    assert rc == 130 and "interrupted" in err and "--resume" in err and "torn last line" in err, err
    middle = read_csv(out_csv)
    assert middle[: len(before)] == before and len(before) < len(middle) < 8

    code, _, err = run(cmd[3:] + ["--resume", "--fail-under", "0"], capsys)
    assert code == 0, err
    after = read_csv(out_csv)
    assert sorted(r["path"] for r in after) == sorted(str(p) for p in folder.iterdir())
    assert after[: len(middle)] == middle  # finished rows kept as they were, the rest appended
    assert f"{len(middle)} already done" in err

    code, _, err = run(cmd[3:] + ["--resume", "--fail-under", "1.0"], capsys)
    assert code == 1 and "0 ok, 0 failed" in err  # the gate also covers rows from earlier runs
    assert read_csv(out_csv) == after


def test_shards_cover_every_file_once(tiny_model_dir, tmp_path, capsys):
    folder = tmp_path / "mix"
    make_clip(folder / "ok.mp4", seconds=1, fps=8)
    for i in range(9):  # error rows are rows too, and need no decode time
        random_bytes(folder / f"junk{i}.avi", size=500, seed=i)
    seen = []
    for k in (1, 2, 3):
        out = tmp_path / f"part{k}.jsonl"
        code, _, err = run(
            ["batch", str(folder), "--jsonl", str(out), "-m", str(tiny_model_dir), "--shard", f"{k}/3", "-q"],
            capsys,
        )
        assert code in (0, 3), err
        seen += [json.loads(line)["path"] for line in out.read_text().splitlines()]
    assert sorted(seen) == sorted(str(p) for p in folder.iterdir())
    code, _, err = run(["batch", str(folder), "--jsonl", str(tmp_path / "x.jsonl"), "--shard", "0/3"], capsys)
    assert code == 2 and "--shard" in err


def test_usage_errors(tmp_path, capsys):
    code, _, err = run(["batch", str(tmp_path)], capsys)
    assert code == 2 and "--csv" in err and "--jsonl" in err
    code, _, err = run(["batch", str(tmp_path), "--csv", "a.csv", "--retry-errors"], capsys)
    assert code == 2 and "--resume" in err
    code, _, err = run(["batch", str(tmp_path), "--jsonl", str(tmp_path / "no" / "a.jsonl")], capsys)
    assert (
        code == 5 and "does not exist" in err and not (tmp_path / "no").exists()
    )  # an output that cannot be written


@pytest.mark.e2e
@pytest.mark.skipif(
    shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
    reason="torchrun not installed",
)
def test_torchrun_two_processes_merge_into_one_output(tiny_model_dir, tree, tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    out_csv = tmp_path / "all.csv"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            torchrun,
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "vqa2cli",
            "batch",
            str(tree["root"]),
            "--csv",
            str(out_csv),
            "-m",
            str(tiny_model_dir),
            "--workers",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert "batch: 4 ok, 4 failed" in proc.stderr, proc.stderr
    rows = read_csv(out_csv)
    assert [r["path"] for r in rows] == sorted(tree["good"] + tree["broken"])
    # parts and markers cleaned up; the resolved settings are recorded beside the output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.csv", "all.csv.vqa2.json"]


def test_prepare_is_thread_safe_as_the_workers_need(tiny_model_dir, tree):
    """Workers call Scorer.prepare concurrently (decode + tokenizer): same inputs as one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from vqa2cli.cli.options import resolve_settings
    from vqa2cli.pipeline.run import Scorer

    settings, ref = resolve_settings("score", str(tiny_model_dir), None, runtime__device="cpu")
    scorer = Scorer.load(settings, ref)
    paths = tree["good"][:3] * 4
    alone = {p: scorer.prepare(p) for p in set(paths)}
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(scorer.prepare, paths))
    for path, got in zip(paths, together):
        assert list(got.inputs.input_ids) == list(alone[path].inputs.input_ids)
        assert np.array_equal(got.clip.keyframes, alone[path].clip.keyframes)
        assert np.array_equal(got.clip.motion_frames, alone[path].clip.motion_frames)
