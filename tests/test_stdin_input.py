"""`vqa2 score -`: a video piped on stdin scores as the same file read locally; records name it `-`; the size
cap, an empty pipe and `-` twice fail in one line with their exit codes; the temporary copy is removed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cli_run import run

from vqa2cli.errors import InputError, UsageError
from vqa2cli.inputs.materialize import materialized
from vqa2cli.inputs.stdin import STDIN_MAX_GB_ENV, spool

ROOT = Path(__file__).resolve().parent.parent


def _stdin(monkeypatch, data: bytes) -> None:
    """sys.stdin as a pipe would give it: bytes under .buffer, not a terminal."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def _untimed(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k not in ("timing", "path", "input", "origin")}
    out["model"] = {k: v for k, v in record["model"].items() if k != "estimated_memory_gb"}
    return out


def _leftovers() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("vqa2-stdin-")}


def test_spool_stops_at_the_cap():
    out = io.BytesIO()
    assert spool(io.BytesIO(b"x" * 3000), out, 3000) == 3000 and out.getvalue() == b"x" * 3000
    with pytest.raises(InputError, match=r"^-: stdin is larger than the 2e-06 GB cap"):
        spool(io.BytesIO(b"x" * 3000), io.BytesIO(), 2000)


def test_dash_twice_is_a_usage_error_and_no_dash_reads_nothing():
    with pytest.raises(UsageError, match="more than once"):
        with materialized(["-", "a.mp4", "-"], stdin=io.BytesIO(b"")):
            pass
    source = io.BytesIO(b"untouched")
    with materialized(["a.mp4"], stdin=source) as inputs:
        assert inputs.paths == ["a.mp4"] and inputs.origins == {} and source.tell() == 0


def test_temporary_copy_is_removed_and_records_renamed():
    from vqa2cli.records.results import ScoreRecord

    with materialized(["a.mp4", "-"], stdin=io.BytesIO(b"video bytes")) as inputs:
        tmp = inputs.paths[1]
        assert Path(tmp).read_bytes() == b"video bytes" and inputs.origins[tmp].given == "-"
        rec = ScoreRecord(
            path=tmp,
            status="error",
            error=f"{tmp}: empty",
            warnings=[f"{tmp}: vfr"],
            input={"size_bytes": 11, "mtime": 1.0},
        )
        (renamed,) = inputs.renamed([rec])
    assert not Path(tmp).exists()
    assert (renamed.path, renamed.error, renamed.warnings, renamed.input) == (
        "-",
        "-: empty",
        ["-: vfr"],
        {"size_bytes": 11},
    )


def test_score_stdin_equals_the_file(tiny_model_dir, make_clip, capsys, monkeypatch):
    clip = make_clip("piped.mkv", container="mkv")
    args = ["-m", str(tiny_model_dir), "-f", "json", "-q"]
    code, out, err = run(["score", str(clip), *args], capsys)
    assert code == 0, err
    (local,) = json.loads(out)
    before = _leftovers()
    _stdin(monkeypatch, clip.read_bytes())
    code, out, err = run(["score", "-", *args], capsys)
    assert code == 0, err
    (piped,) = json.loads(out)
    assert piped["path"] == "-" and piped["score"] == local["score"] and piped["probs"] == local["probs"]
    assert _untimed(piped) == _untimed(local)  # same frames, same numbers
    assert piped["input"]["size_bytes"] == clip.stat().st_size and "mtime" not in piped["input"]
    assert _leftovers() == before


def test_score_stdin_cap_and_empty_pipe(tiny_model_dir, make_clip, capsys, monkeypatch):
    clip = make_clip("piped.mkv", container="mkv")
    monkeypatch.setenv(STDIN_MAX_GB_ENV, "0.000001")  # 1000 bytes
    _stdin(monkeypatch, clip.read_bytes())
    code, out, err = run(["score", "-", "-m", str(tiny_model_dir)], capsys)
    assert code == 3 and "-: stdin is larger than the 1e-06 GB cap" in err  # its error row, as any input
    assert len(err.strip().splitlines()) == 1
    monkeypatch.delenv(STDIN_MAX_GB_ENV)
    _stdin(monkeypatch, b"")
    code, out, err = run(["score", "-", "-m", str(tiny_model_dir), "-f", "json"], capsys)
    (record,) = json.loads(out)
    assert code == 3 and record["path"] == "-" and record["error"]["code"] == "empty_file"
    assert record["error"]["message"].startswith("-: ") and "vqa2-stdin-" not in err + out


@pytest.mark.e2e
def test_a_real_pipe_from_another_process(tiny_model_dir, make_clip, capsys):
    """`cat clip.mkv | vqa2 score -` in a fresh process: the bytes come through an OS pipe; the numbers equal
    the file scored in this process."""
    clip = make_clip("piped.mkv", container="mkv")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    args = ["score", "-m", str(tiny_model_dir), "-f", "jsonl", "-q"]
    piped = subprocess.run(
        [sys.executable, "-m", "vqa2cli", *args, "-"],
        input=clip.read_bytes(),
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr.decode()[-2000:]
    code, out, err = run([*args, str(clip)], capsys)
    assert code == 0, err
    a, b = json.loads(piped.stdout), json.loads(out)
    assert a["path"] == "-" and a["score"] == b["score"] and a["sampling"] == b["sampling"]


def test_stdin_with_an_unreachable_server_is_not_read(capsys, monkeypatch):
    """`-` with --server is read and uploaded by the client (tests/test_net_commands.py); a server that
    cannot be reached stops the run (exit 4) before the pipe is read."""
    _stdin(monkeypatch, b"not read")
    code, out, err = run(["score", "-", "--server", "http://127.0.0.1:9"], capsys)
    assert code == 4 and out == "" and "127.0.0.1:9" in err
    assert sys.stdin.buffer.read() == b"not read"
