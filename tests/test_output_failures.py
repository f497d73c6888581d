"""Output failures and concurrent writers (issue 11 D "concurrent writers" and E): a locked output refuses a
second writer naming the holder (exit 2); disk full, read-only folders, a closed or broken stdout are one line
naming the output and the OS error, exit 5, with the rows already written kept."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from cli_run import run  # noqa: E402
from clips import make_clip

from vqa2cli.errors import ExitCode, OutputError, UsageError
from vqa2cli.jobs.lock import OutputLock, lock_path

REPO = Path(__file__).resolve().parent.parent


def _env():
    env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
    env.pop("VQA2_DEBUG", None)
    return env


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("of-clips")
    for i in range(4):
        make_clip(folder / f"c{i}.mp4", seconds=1.5, fps=8)
    return folder


def _rows(path):
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --- the lock ------------------------------------------------------------------------------------
def test_second_lock_is_refused_naming_the_holder(tmp_path):
    out = str(tmp_path / "o.csv")
    first = OutputLock(out).acquire()
    with pytest.raises(UsageError) as info:
        OutputLock(out).acquire()
    text = info.value.one_line()
    assert f"{out} is being written by another vqa2 run (pid {os.getpid()} on " in text and "\n" not in text
    assert info.value.exit_code == ExitCode.USAGE
    first.release()
    assert not os.path.exists(lock_path(out))
    OutputLock(out).acquire().release()  # free again


def test_devices_are_not_locked(tmp_path):
    OutputLock(os.devnull).acquire().release()
    assert not os.path.exists(lock_path(os.devnull))


@pytest.mark.parametrize("extra", [[], ["--resume"], ["--overwrite"]])
def test_batch_refuses_a_locked_output_before_touching_it(clips, tiny_model_dir, tmp_path, capsys, extra):
    out = tmp_path / "s.csv"
    if extra:
        out.write_text("untouched")
    lock = OutputLock(str(out)).acquire()
    try:
        code, _, err = run(
            ["batch", str(clips), "--csv", str(out), "-m", str(tiny_model_dir), *extra], capsys
        )
    finally:
        lock.release()
    assert code == 2 and f"pid {os.getpid()}" in err and err.strip().count("\n") == 0, err
    assert (out.read_text() == "untouched") if extra else not out.exists()


def test_eval_refuses_a_locked_scores_csv(clips, tiny_model_dir, tmp_path, capsys):
    labels = tmp_path / "l.csv"
    labels.write_text("path,mos\n" + "".join(f"{clips / f'c{i}.mp4'},{i + 1}\n" for i in range(4)))
    scores = tmp_path / "scores.csv"
    lock = OutputLock(str(scores)).acquire()
    try:
        code, _, err = run(
            ["eval", str(labels), "-m", str(tiny_model_dir), "--scores-csv", str(scores)], capsys
        )
    finally:
        lock.release()
    assert code == 2 and "being written by another vqa2 run" in err


@pytest.mark.e2e  # vqa2 in another process
def test_two_batches_started_together_one_is_refused(clips, tiny_model_dir, tmp_path):
    out = tmp_path / "same.csv"
    cmd = [
        sys.executable,
        "-m",
        "vqa2cli",
        "batch",
        str(clips),
        "--csv",
        str(out),
        "-m",
        str(tiny_model_dir),
        "--workers",
        "1",
    ]
    first = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not os.path.exists(lock_path(str(out))) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    second = subprocess.run(
        cmd + ["--resume"], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120
    )
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 2 and f"pid {first.pid} on" in second.stderr, second.stderr
    assert sorted(r["path"] for r in _rows(out)) == sorted(str(p) for p in clips.iterdir())
    assert not os.path.exists(lock_path(str(out)))


# --- stdout ---------------------------------------------------------------------------------------
def _probe_cmd(clips):
    return [
        sys.executable,
        "-m",
        "vqa2cli",
        "probe",
        *(str(p) for p in sorted(clips.iterdir())),
        "-f",
        "json",
    ]


def _one_line(err: str) -> str:
    assert "Traceback" not in err and "Exception ignored" not in err and "internal error" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("Error")]  # besides "Loading ..."
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.e2e  # vqa2 in another process
def test_stdout_disk_full(clips):
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            _probe_cmd(clips),
            cwd=REPO,
            env=_env(),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 5
    assert "cannot write stdout: No space left on device (ENOSPC)" in _one_line(proc.stderr)


@pytest.mark.e2e  # vqa2 in another process
def test_score_to_a_full_stdout(clips, tiny_model_dir):
    cmd = [
        sys.executable,
        "-m",
        "vqa2cli",
        "score",
        str(clips / "c0.mp4"),
        "-m",
        str(tiny_model_dir),
        "-f",
        "jsonl",
        "-q",
    ]
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            cmd, cwd=REPO, env=_env(), stdout=full, stderr=subprocess.PIPE, text=True, timeout=300
        )
    assert proc.returncode == 5 and "cannot write stdout" in _one_line(proc.stderr)


@pytest.mark.e2e  # vqa2 in another process
def test_stdout_closed(clips):
    script = " ".join(f"'{a}'" for a in _probe_cmd(clips)) + " >&-"
    proc = subprocess.run(
        ["bash", "-c", script], cwd=REPO, env=_env(), stderr=subprocess.PIPE, text=True, timeout=120
    )
    assert proc.returncode == 5 and "cannot write stdout: stdout is closed (EBADF)" in _one_line(proc.stderr)


@pytest.mark.e2e  # vqa2 in another process
def test_stdout_broken_pipe(clips):
    """`vqa2 ... | head`: the reader stopped early; vqa2 exits quietly with 141 (as ffprobe, ended by SIGPIPE),
    never 1 (the gate's code) and no error line."""
    proc = subprocess.Popen(
        _probe_cmd(clips), cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdout.close()  # the reader is gone before vqa2 writes
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert proc.returncode == 141 and err == ""


@pytest.mark.e2e  # vqa2 in another process
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args",
    [
        ["probe", "missing.mp4"],
        ["probe", "--frobnicate"],
        ["score", "missing.mp4"],
        ["ask", "missing.mp4", "q?"],
    ],
)
def test_a_failing_stderr_is_exit_5(args):
    """stderr on a full device: exit 5 (an output could not be written), never 1 (the gate's) nor 120."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "vqa2cli", *args],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=full,
            timeout=120,
        )
    assert proc.returncode == 5


@pytest.mark.e2e  # vqa2 in another process
def test_probe_of_a_missing_file_is_exit_3(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "vqa2cli", "probe", str(tmp_path / "missing.mp4")],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3 and "no such file" in proc.stderr


# --- output files ---------------------------------------------------------------------------------
def test_batch_output_on_a_full_disk(clips, tiny_model_dir, tmp_path, capsys):
    link = tmp_path / "full.csv"
    link.symlink_to("/dev/full")
    code, _, err = run(
        ["batch", str(clips), "--csv", str(link), "-m", str(tiny_model_dir), "--overwrite"], capsys
    )
    assert code == 5 and f"cannot write {link}: No space left on device (ENOSPC)" in _one_line(err)


def test_disk_full_mid_batch_keeps_rows_and_resume_finishes(
    clips, tiny_model_dir, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "s.csv"
    real_fsync = os.fsync

    def fsync(fd):
        if os.path.exists(out) and os.fstat(fd).st_ino == os.stat(out).st_ino and len(_rows(out)) >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    args = ["batch", str(clips), "--csv", str(out), "-m", str(tiny_model_dir), "--workers", "0"]
    code, _, err = run(args, capsys)
    assert code == 5 and f"cannot write {out}: No space left on device (ENOSPC)" in err
    assert "--resume" in err and "internal error" not in err
    kept = _rows(out)
    assert len(kept) >= 2 and all(r["status"] == "ok" for r in kept)
    monkeypatch.setattr(os, "fsync", real_fsync)
    code, _, err = run(args + ["--resume"], capsys)
    assert code == 0, err
    rows = _rows(out)
    assert rows[: len(kept)] == kept
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in clips.iterdir())


def test_read_only_output_folder(clips, tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Simulated (tests run as root): creating anything under ro/ fails with EROFS."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real_open = os.open

    def fake_open(path, flags, *args, **kwargs):
        if os.fspath(path).startswith(str(ro)) and flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
            raise OSError(errno.EROFS, "Read-only file system", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    out = ro / "s.csv"
    code, _, err = run(["batch", str(clips), "--csv", str(out), "-m", str(tiny_model_dir)], capsys)
    assert code == 5 and f"cannot write {out}: Read-only file system (EROFS)" in _one_line(err)


@pytest.mark.skipif(
    os.access("/sys", os.W_OK) and not os.path.ismount("/sys"), reason="/sys is writable here"
)
def test_really_unwritable_folder(clips, tiny_model_dir, capsys):
    out = "/sys/vqa2-test-output.csv"
    code, _, err = run(["batch", str(clips), "--csv", out, "-m", str(tiny_model_dir)], capsys)
    if code == 0:
        os.remove(out)
        pytest.skip("/sys accepted a new file here")
    assert code == 5 and f"cannot write {out}: " in _one_line(err)


def test_eval_scores_csv_on_a_full_disk(tmp_path, monkeypatch):
    from vqa2cli.jobs.evaluate import evaluate
    from vqa2cli.output import render as E  # the scores CSV rows are written by the registry's CSV writer
    from vqa2cli.training.datasets import LabelRecord

    real_row_text = E.csv_row_text

    def full_disk(cells):
        if cells[0] == 1:  # the second row (index 1): the disk fills up
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_row_text(cells)

    monkeypatch.setattr(E, "csv_row_text", full_disk)
    link = tmp_path / "scores.csv"

    class Fake:
        def prepare(self, path, stalling=None):
            return path

        def run(self, prepared):
            return SimpleNamespace(to_dict=lambda: {"score": 0.5, "official_score": 0.6, "level": "fair"})

    records = [LabelRecord(index=i, path=Path(f"v{i}.mp4"), mos=float(i)) for i in range(3)]
    with pytest.raises(OutputError, match=r"scores\.csv: No space left on device \(ENOSPC\)"):
        evaluate(records, Fake(), labels="l", model="m", scores_csv=link, workers=0)
    assert [r["path"] for r in _rows(link)] == ["v0.mp4"]  # the row written before stays


def test_output_error_message_and_code():
    exc = OutputError("out.csv", OSError(errno.ENOSPC, "No space left on device"))
    assert exc.exit_code == 5 and exc.one_line().startswith(
        "cannot write out.csv: No space left on device (ENOSPC)"
    )
    assert json.dumps(exc.one_line())  # plain text
