"""Per-file input checks (issue 11 F): an unusable file among good ones gets its own error record, the others
are scored, exit 3 -- in score, probe and ask, and eval refuses before loading weights when it cannot work.

Tests run as root here, so "permission denied" is simulated by making ``open`` raise PermissionError for one
path inside vqa2cli.video.probe; the other kinds (name too long, symlink loop, FIFO, folder, empty, missing)
are real."""

from __future__ import annotations

import builtins
import json
import os

import pytest
from cli_run import run  # noqa: E402

from vqa2cli.errors import InputError, UnreadableFileError


@pytest.fixture(scope="module")
def good(make_clip):
    return make_clip("pf good.mp4", seconds=1.5, fps=8, width=64, height=48)


def _deny(monkeypatch, denied: str):
    real_open = builtins.open

    def fake_open(file, *args, **kwargs):
        if os.fspath(file) == denied:
            raise PermissionError(13, "Permission denied", denied)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("vqa2cli.video.opening.open", fake_open, raising=False)


def _bad_file(kind: str, tmp_path, good, monkeypatch) -> tuple[str, str]:
    """A path of the given kind and the error code it must get."""
    if kind == "permission":
        path = tmp_path / "locked.mp4"
        path.write_bytes(good.read_bytes())
        _deny(monkeypatch, str(path))
        return str(path), "unreadable"
    if kind == "name_too_long":
        return str(tmp_path / ("x" * 300 + ".mp4")), "unreadable"
    if kind == "symlink_loop":
        (tmp_path / "loop.mp4").symlink_to(tmp_path / "loop.mp4")
        return str(tmp_path / "loop.mp4"), "file_missing"
    if kind == "fifo":
        os.mkfifo(tmp_path / "pipe.mp4")
        return str(tmp_path / "pipe.mp4"), "not_a_file"
    if kind == "folder":
        (tmp_path / "folder.mp4").mkdir()
        return str(tmp_path / "folder.mp4"), "not_a_file"
    if kind == "empty":
        (tmp_path / "empty.mp4").write_bytes(b"")
        return str(tmp_path / "empty.mp4"), "empty_file"
    return str(tmp_path / "missing.mp4"), "file_missing"


KINDS = ["permission", "name_too_long", "symlink_loop", "fifo", "folder", "empty", "missing"]


def test_permission_denied_is_an_input_error_naming_the_file(tmp_path, good, monkeypatch):
    from vqa2cli.video.opening import check_path

    path, _ = _bad_file("permission", tmp_path, good, monkeypatch)
    with pytest.raises(
        UnreadableFileError, match=r"locked\.mp4: cannot read the file: permission denied.*chmod"
    ):
        check_path(path)
    with pytest.raises(UnreadableFileError, match=r"file name too long \(errno 36\)"):
        check_path(tmp_path / ("y" * 300 + ".mp4"))


@pytest.mark.parametrize("kind", KINDS)
def test_probe_reports_each_bad_file_and_still_probes_the_others(kind, tmp_path, good, monkeypatch, capsys):
    bad, code_name = _bad_file(kind, tmp_path, good, monkeypatch)
    code, out, err = run(["probe", str(good), bad, str(good), "--format", "json"], capsys)
    rows = json.loads(out)
    assert code == 3, err
    assert [r["status"] for r in rows] == ["ok", "error", "ok"]
    assert rows[1]["error_code"] == code_name and rows[1]["path"] == bad
    assert "internal error" not in err


@pytest.mark.parametrize("kind", ["permission", "name_too_long", "fifo"])
def test_score_writes_an_error_row_and_scores_the_others(
    kind, tmp_path, good, monkeypatch, tiny_model_dir, capsys
):
    bad, code_name = _bad_file(kind, tmp_path, good, monkeypatch)
    code, out, err = run(["score", bad, str(good), "-m", str(tiny_model_dir), "-f", "jsonl"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 3, err
    assert [r["status"] for r in rows] == ["error", "ok"] and rows[0]["error"]["code"] == code_name
    assert 0.0 <= rows[1]["score"] <= 1.0


def test_ask_with_an_unreadable_file_writes_error_records_before_loading(tmp_path, good, monkeypatch, capsys):
    bad, _ = _bad_file("permission", tmp_path, good, monkeypatch)
    missing_model = str(tmp_path / "no-model-here")  # loading it would be a different error (exit 4)
    os.mkdir(missing_model)
    code, out, err = run(
        ["ask", bad, "Is it sharp?", "--question", "Any noise?", "-m", missing_model, "-f", "jsonl"], capsys
    )
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 3 and err.strip().count("\n") == 0 and "permission denied" in err
    assert [(r["question"], r["status"], r["error"]["code"]) for r in rows] == [
        ("Is it sharp?", "error", "unreadable"),
        ("Any noise?", "error", "unreadable"),
    ]


def _labels(tmp_path, entries):
    path = tmp_path / "labels.csv"
    path.write_text("path,mos\n" + "".join(f"{p},{m}\n" for p, m in entries))
    return path


@pytest.mark.parametrize("case", ["two_videos", "one_video", "unreadable", "equal_mos"])
def test_eval_refuses_before_loading_the_weights(case, tmp_path, good, monkeypatch, capsys):
    copies = []
    for i in range(4):
        copies.append(tmp_path / f"v{i}.mp4")
        copies[-1].write_bytes(good.read_bytes())
    entries = {
        "two_videos": [(copies[0], 1.0), (copies[1], 2.0)],
        "one_video": [(copies[0], 1.0)],
        "unreadable": [(copies[0], 1.0), (copies[1], 2.0), (copies[2], 3.0)],
        "equal_mos": [(c, 3.0) for c in copies],
    }[case]
    if case == "unreadable":
        _deny(monkeypatch, str(copies[2]))
    no_model = tmp_path / "not-a-model"
    no_model.mkdir()  # a folder without config.json: loading it would fail with exit 4
    code, out, err = run(["eval", str(_labels(tmp_path, entries)), "-m", str(no_model)], capsys)
    assert code == 2 and out == "" and "config.json" not in err, err
    assert ("at least 3" in err) if case != "equal_mos" else ("are equal" in err)


def test_preflight_never_raises_os_errors(tmp_path):
    from vqa2cli.pipeline.run import preflight

    paths = [tmp_path / ("z" * 400 + ".mp4"), tmp_path / "nope.mp4"]
    problems = preflight(paths)
    assert len(problems) == 2 and all(isinstance(p, InputError) for p in problems)
