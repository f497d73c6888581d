"""A stdout/stderr that cannot encode our characters (a Windows redirect is cp1252, ``PYTHONIOENCODING=ascii``)
and a broken stderr never lose the results (docs/output.md, "Encodings and a broken stderr")."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from clips import make_clip

from vqa2cli.output.encoding import degrade, utf8_stream
from vqa2cli.output.render import json_text

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("enc-clips")
    make_clip(folder / "a.mp4", seconds=2, fps=8)
    make_clip(folder / "café中.mp4", seconds=2, fps=8)
    return folder


def _vqa2(args, encoding=None, **kwargs):
    env = dict(os.environ, NO_COLOR="1", OMP_NUM_THREADS="1")
    env.pop("VQA2_DEBUG", None)
    if encoding:
        env["PYTHONIOENCODING"] = encoding
    return subprocess.run([sys.executable, "-m", "vqa2cli", *args], cwd=REPO, env=env, timeout=300, **kwargs)


def _narrow(args, encoding, monkeypatch) -> tuple[int, bytes, bytes]:
    """(exit code, stdout bytes, stderr bytes) of ``vqa2 ARGS`` run in this process with stdout and stderr
    in ``encoding``, strict as ``PYTHONIOENCODING=ascii`` makes them (a Windows redirect is cp1252)."""
    from vqa2cli.cli.app import main

    raw_out, raw_err = io.BytesIO(), io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw_out, encoding=encoding, write_through=True))
    monkeypatch.setattr(sys, "stderr", io.TextIOWrapper(raw_err, encoding=encoding, write_through=True))
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, raw_out.getvalue(), raw_err.getvalue()


def test_degrade_spells_symbols_and_escapes_the_rest():
    assert degrade("0.5 ± 0.1 Δ café 中", "ascii") == "0.5 +- 0.1 d caf\\xe9 \\u4e2d"
    assert degrade("0.5 ± 0.1 Δ café", "cp1252") == "0.5 ± 0.1 d café"  # cp1252 has ± and é
    assert degrade("plain", "ascii") == "plain"


def test_json_is_ascii_escaped_on_a_stream_that_is_not_utf8():
    latin = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    utf8 = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    assert json_text({"p": "café"}, latin) == '{"p": "caf\\u00e9"}'
    assert json_text({"p": "café"}, utf8) == '{"p": "café"}'
    assert json_text({"p": "café"}, io.StringIO()) == '{"p": "café"}'


def test_csv_goes_to_the_byte_buffer_as_utf8():
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    out = utf8_stream(stream)
    out.write("café中\n")
    out.flush()
    assert raw.getvalue() == "café中\n".encode()


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_score_table_on_a_narrow_stdout(clips, tiny_model_dir, encoding, monkeypatch):
    name = str(clips / "café中.mp4")
    code, out, err = _narrow(
        ["score", name, "-m", str(tiny_model_dir), "--segments", "1s"], encoding, monkeypatch
    )
    assert code == 0, err
    text = out.decode(encoding)
    assert ("+-" if encoding == "ascii" else "±") in text  # the spread column
    assert "\\u4e2d" in text  # the name, degraded in the table


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_stderr_lines_degrade(tmp_path, encoding, monkeypatch):
    code, _, err = _narrow(["probe", str(tmp_path / "gone中Δ±.mp4")], encoding, monkeypatch)
    assert code == 3 and b"gone\\u4e2dd" in err and b"no such file" in err, err


@pytest.mark.parametrize("encoding", ["ascii", "cp1252"])
def test_compare_table_on_a_narrow_stdout(clips, tiny_model_dir, encoding, monkeypatch):
    args = ["compare", str(clips / "a.mp4"), str(clips / "café中.mp4"), "-m", str(tiny_model_dir)]
    code, out, err = _narrow([*args, "--segments", "1s"], encoding, monkeypatch)
    assert code == 0, err
    assert ": d " in out.decode(encoding)  # Δ spelled d


@pytest.mark.parametrize(("encoding", "fmt"), [("cp1252", "json"), ("ascii", "jsonl"), ("cp1252", "csv")])
def test_machine_formats_stay_lossless(clips, tiny_model_dir, encoding, fmt, monkeypatch):
    clip = str(clips / "café中.mp4")
    code, out, err = _narrow(["score", clip, "-m", str(tiny_model_dir), "-f", fmt], encoding, monkeypatch)
    assert code == 0, err
    text = out.decode("utf-8")  # JSON is ASCII there, CSV UTF-8: both read as UTF-8
    if fmt == "json":
        assert json.loads(text)[0]["path"] == clip and text.isascii()
    elif fmt == "jsonl":
        assert json.loads(text.splitlines()[0])["path"] == clip and text.isascii()
    else:
        assert list(csv.DictReader(io.StringIO(text)))[0]["path"] == clip


@pytest.mark.e2e  # vqa2 in another process
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_a_cp1252_stdout_in_another_process(clips, tiny_model_dir, fmt):
    """The real interpreter's streams (PYTHONIOENCODING), as a Windows redirect has them."""
    args = ["compare", str(clips / "a.mp4"), str(clips / "café中.mp4"), "-m", str(tiny_model_dir), "-f", fmt]
    proc = _vqa2([*args, "--segments", "1s"], "cp1252", capture_output=True)
    assert proc.returncode == 0, proc.stderr
    if fmt == "json":
        assert json.loads(proc.stdout.decode("utf-8"))["files"]
    else:
        assert ": d " in proc.stdout.decode("cp1252")


@pytest.mark.e2e  # vqa2 in another process
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stderr_keeps_the_results(clips, tiny_model_dir, tmp_path):
    """Diagnostics are best-effort: the record still reaches stdout; exit 5 says a diagnostic was lost."""
    out = tmp_path / "o.jsonl"
    with open("/dev/full", "w") as full, open(out, "w") as fh:
        proc = _vqa2(
            ["score", str(clips / "a.mp4"), "-m", str(tiny_model_dir), "-f", "jsonl"], stdout=fh, stderr=full
        )
    assert proc.returncode == 5
    assert json.loads(out.read_text())["status"] == "ok"


@pytest.mark.e2e  # vqa2 in another process
def test_a_closed_stderr_keeps_the_results(clips, tiny_model_dir, tmp_path):
    out = tmp_path / "o.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "vqa2cli",
        "score",
        str(clips / "a.mp4"),
        "-m",
        str(tiny_model_dir),
        "-f",
        "jsonl",
    ]
    script = " ".join(f"'{a}'" for a in cmd) + f" 2>&- > '{out}'"
    env = dict(os.environ, NO_COLOR="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, timeout=300)
    assert proc.returncode == 5  # "Loading ..." could not be said
    assert json.loads(out.read_text())["status"] == "ok"
    quiet = subprocess.run(
        ["bash", "-c", script.replace("-f' 'jsonl'", "-f' 'jsonl' '-q'")], cwd=REPO, env=env
    )
    assert quiet.returncode == 0 and json.loads(out.read_text())["status"] == "ok"  # nothing was lost


class _FullStream(io.TextIOBase):
    """A stderr on a full disk: every write fails with ENOSPC."""

    encoding = "utf-8"

    def write(self, text):
        raise OSError(28, "No space left on device")


def test_batch_rows_are_written_when_stderr_fails(clips, tiny_model_dir, tmp_path, monkeypatch, capsys):
    from vqa2cli.cli import app

    monkeypatch.setattr(app, "_silence_stdout", lambda fd=1: None)  # keep pytest's own fd 2
    monkeypatch.setattr(sys, "stderr", _FullStream())
    out = tmp_path / "rows.csv"
    with pytest.raises(SystemExit) as exc:
        app.main(["batch", str(clips), "--csv", str(out), "-m", str(tiny_model_dir)])
    assert exc.value.code == 5  # a diagnostic was lost, said by the exit code
    with open(out, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(Path(r["path"]).name for r in rows) == ["a.mp4", "café中.mp4"]
    assert all(r["status"] == "ok" for r in rows)
