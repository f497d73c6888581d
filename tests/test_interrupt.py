"""Ctrl-C (SIGINT) in a real `python -m vqa2cli` process, for score, ask, batch, eval and probe: exit 130 and
exactly one line on stderr, ``interrupted: N of M files done; <what is kept>``, N matching what was kept."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # other processes, each loading the tiny model

ROOT = Path(__file__).resolve().parents[1]
LINE = re.compile(r"^interrupted: (\d+) of (\d+) files done; (.+)$")
TERM_LINE = re.compile(r"^terminated \(SIGTERM\): (\d+) of (\d+) files done; (.+)$")
FILES = 10


@pytest.fixture(scope="module")
def clips(make_clip, tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("sigint")
    clip = make_clip("sigint.mp4", seconds=3.0, fps=8, width=64, height=48)
    paths = [folder / f"c{i}.mp4" for i in range(FILES)]
    for path in paths:
        shutil.copy(clip, path)
    return paths


def start(args: list) -> subprocess.Popen:
    env = dict(
        os.environ,
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    )
    env.pop("VQA2_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "vqa2cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def interrupt_when(
    proc: subprocess.Popen, ready, timeout: float = 180.0, sig=signal.SIGINT, code: int = 130
) -> tuple[str, str]:
    """``sig`` as soon as ``ready()`` is true; (stdout, stderr) of the process, which must exit ``code``."""
    deadline = time.monotonic() + timeout
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the command ended before it could be interrupted"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    return out, err


def the_line(err: str, word: str = "interrupted") -> tuple[int, int, str]:
    lines = [ln for ln in err.splitlines() if word in ln.lower()]
    assert len(lines) == 1 and "Traceback" not in err, err
    match = (LINE if word == "interrupted" else TERM_LINE).match(lines[0])
    assert match, lines[0]
    return int(match.group(1)), int(match.group(2)), match.group(3)


def has_open(proc: subprocess.Popen, folder: Path) -> bool:
    """Whether ``proc`` has a file of ``folder`` open (Linux /proc): it has started reading the inputs."""
    try:
        fds = os.listdir(f"/proc/{proc.pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{proc.pid}/fd/{fd}").startswith(str(folder)):
                return True
        except OSError:
            continue
    return False


def test_score(clips, tiny_model_dir):
    """SIGINT after the first result: the JSONL printed so far is complete (every line parses), in order."""
    proc = start(["score", *clips, "-m", tiny_model_dir, "-f", "jsonl"])
    first = []
    out, err = interrupt_when(proc, lambda: first.append(proc.stdout.readline()) or True)
    printed = [ln for ln in (first + out.splitlines()) if ln.strip()]
    done, total, kept = the_line(err)
    assert total == FILES and done == len(printed) >= 1 and "printed" in kept
    rows = [json.loads(line) for line in printed]  # every printed line is complete JSON
    assert len(rows) < FILES and [r["path"] for r in rows] == [str(c) for c in clips[: len(rows)]]


def test_probe(clips, tmp_path):
    many = []
    for i in range(600):  # enough files that probing them takes a while
        many.append(tmp_path / f"p{i}.mp4")
        os.symlink(clips[i % FILES], many[-1])
    proc = start(["probe", *many])
    out, err = interrupt_when(proc, lambda: has_open(proc, clips[0].parent))
    done, total, kept = the_line(err)
    assert total == len(many) and 0 <= done < total and out == "" and "nothing printed" in kept


def test_batch_ctrl_c_then_sigterm_then_resume(clips, tiny_model_dir, tmp_path, capsys):
    """Ctrl-C: exit 130, the one ``interrupted:`` line. Resumed, then SIGTERM (kill / Slurm / Kubernetes):
    the current row is finished, one ``terminated`` line, exit 143. Resumed again (in this process): the
    locks left no trouble, each file exactly once."""
    from cli_run import run

    out_csv = tmp_path / "rows.csv"
    args = ["batch", clips[0].parent, "--csv", out_csv, "-m", tiny_model_dir, "--workers", "1"]
    proc = start(args)
    _, err = interrupt_when(proc, lambda: out_csv.exists() and out_csv.read_text().count("\n") >= 2)
    done, total, kept = the_line(err)
    rows = list(csv.DictReader(out_csv.open()))
    assert total == FILES and done == len(rows) >= 1 and "--resume" in kept and str(out_csv) in kept
    assert f"batch: {done} ok, 0 failed" in err  # the summary line, counting the same rows

    proc = start(args + ["--resume"])
    _, err = interrupt_when(
        proc,
        lambda: out_csv.read_text().count("\n") >= len(rows) + 2,
        sig=signal.SIGTERM,
        code=143,
    )
    done, total, kept = the_line(err, "terminated")
    more = list(csv.DictReader(out_csv.open()))
    assert total == FILES - len(rows) and done == len(more) - len(rows) >= 1 and "--resume" in kept
    assert len(more) < FILES, "the resumed run finished before SIGTERM: give it more files"

    code, _, err = run([*map(str, args), "--resume"], capsys)
    assert code == 0, err
    paths = [r["path"] for r in csv.DictReader(out_csv.open())]
    assert len(paths) == len(set(paths)) == FILES  # the lock left no trouble, each file exactly once


def test_eval(clips, tiny_model_dir, tmp_path):
    """Each clip labelled 4 times (40 videos): the run is still going when the signal lands, even when this
    process is slow to see the first row on a busy machine (10 rows could all be written by then)."""
    labels = tmp_path / "labels.csv"
    labelled = clips * 4
    labels.write_text("path,mos\n" + "".join(f"{c},{1 + i % 4}\n" for i, c in enumerate(labelled)))
    scores = tmp_path / "scores.csv"
    proc = start(["eval", labels, "-m", tiny_model_dir, "--scores-csv", scores, "--workers", "0"])
    _, err = interrupt_when(proc, lambda: scores.exists() and scores.read_text().count("\n") >= 2)
    done, total, kept = the_line(err)
    rows = list(csv.DictReader(scores.open()))
    assert total == len(labelled) and done == len(rows) >= 1 and "--resume" in kept


def test_ask(clips, tiny_model_dir):
    questions = [arg for i in range(40) for arg in ("--question", f"Question {i}: is there blur?")]
    proc = start(["ask", clips[0], *questions, "-m", tiny_model_dir, "--max-new-tokens", "64"])
    out, err = interrupt_when(proc, lambda: proc.stdout.read(3) == "Q: ")
    done, total, kept = the_line(err)
    assert (done, total) == (0, 1) and "answers printed" in kept
