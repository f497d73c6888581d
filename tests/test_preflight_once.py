"""`vqa2 score` and `vqa2 ask` check and probe each input once: the command's preflight is handed to
``Scorer.score_files`` instead of being run again there, and the probe made for the memory preflight is
reused by the decode while the file is unchanged. Counted by wrapping the probe functions."""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from cli_run import run

from vqa2cli.pipeline.run import CheckedInputs
from vqa2cli.video import decode, opening, probe


@pytest.fixture
def counted(monkeypatch):
    """Counters of ``check_path`` (the cheap preflight check, also the first step of a probe) and
    ``probe_video`` calls, per path."""
    checks, probes = Counter(), Counter()
    real_check, real_probe = opening.check_path, probe.probe_video

    def check_path(path):
        checks[str(path)] += 1
        return real_check(path)

    def probe_video(path, **kwargs):
        probes[str(path)] += 1
        return real_probe(path, **kwargs)

    monkeypatch.setattr(opening, "check_path", check_path)
    monkeypatch.setattr(probe, "probe_video", probe_video)
    monkeypatch.setattr(decode, "probe_video", probe_video)
    return checks, probes


def clips(make_clip, folder: Path, n: int) -> list[str]:
    source = make_clip("once.mp4", seconds=2.0, fps=8, width=64, height=48)
    paths = []
    for i in range(n):
        paths.append(str(folder / f"v{i}.mp4"))
        shutil.copy(source, paths[-1])
    return paths


@pytest.mark.usefixtures("reuse_tiny_scorer")
@pytest.mark.parametrize("extra", [[], ["--segments", "1s"]])
def test_score_checks_and_probes_each_file_once(tiny_model_dir, make_clip, tmp_path, capsys, counted, extra):
    checks, probes = counted
    good = clips(make_clip, tmp_path, 3)
    missing, empty = str(tmp_path / "missing.mp4"), str(tmp_path / "empty.mp4")
    Path(empty).write_bytes(b"")
    paths = [good[0], missing, good[1], empty, good[2]]
    code, out, err = run(["score", *paths, "-m", str(tiny_model_dir), "-f", "jsonl", *extra], capsys)
    assert code == 3, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["path"] for r in records] == paths
    assert [r["status"] for r in records] == ["ok", "error", "ok", "error", "ok"]
    for path in good:
        assert probes[path] == 1, (path, probes)  # the memory preflight's probe, reused by the decode
        assert checks[path] == 1 + probes[path]  # one preflight check, plus the probe's own
    assert checks[missing] == checks[empty] == 1 and probes[missing] == probes[empty] == 0


def test_a_file_changed_after_the_preflight_is_probed_again(make_clip, tmp_path, counted):
    _, probes = counted
    path = clips(make_clip, tmp_path, 1)[0]
    checked = CheckedInputs.check([path])
    assert checked.info(path) is not None and probes[path] == 1
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))  # rewritten since: the probe is stale
    assert checked.info(path) is None


def test_beyond_the_probe_limit_each_file_is_probed_when_decoded(make_clip, tmp_path, counted):
    checks, probes = counted
    paths = clips(make_clip, tmp_path, 3)
    checked = CheckedInputs.check(paths, limit=1)
    assert [checked.info(p) is not None for p in paths] == [True, False, False]
    assert all(checks[p] == 1 + probes[p] for p in paths) and sum(probes.values()) == 1


@pytest.mark.parametrize("extra", [[], ["--segments", "1s"]])
def test_ask_checks_and_probes_the_file_once(tiny_model_dir, make_clip, tmp_path, capsys, counted, extra):
    checks, probes = counted
    path = clips(make_clip, tmp_path, 1)[0]
    code, out, err = run(
        [
            "ask",
            path,
            "Is it sharp?",
            "-m",
            str(tiny_model_dir),
            "-f",
            "jsonl",
            "--max-new-tokens",
            "4",
            *extra,
        ],
        capsys,
    )
    assert code == 0, err
    assert all(json.loads(line)["path"] == path for line in out.splitlines())
    assert probes[path] == 1 and checks[path] == 2  # one preflight check, one probe (reused by the decode)
    missing = str(tmp_path / "gone.mp4")
    code, _, err = run(["ask", missing, "Is it sharp?", "-m", str(tiny_model_dir)], capsys)
    assert code == 3 and checks[missing] == 1 and probes[missing] == 0
