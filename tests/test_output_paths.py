"""Every output the scoring commands write (--plot, --segments-csv, batch's --csv/--jsonl) that cannot be
written is exit 5 with one line naming it, before the weights load: a missing folder, a folder given as the
file, a disk that is full while writing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_run import run  # noqa: E402


@pytest.mark.parametrize("flag,name", [("--plot", "p.png"), ("--segments-csv", "w.csv")])
@pytest.mark.parametrize("where", ["missing-folder", "a-folder"])
def test_unwritable_window_outputs_exit_5_before_loading(
    flag, name, where, tiny_model_dir, tmp_path, make_clip, capsys
):
    clip = make_clip("outpaths", seconds=1, fps=8)
    target = tmp_path / "no" / name if where == "missing-folder" else tmp_path / name
    if where == "a-folder":
        target.mkdir()
    code, out, err = run(
        ["score", str(clip), "-m", str(tiny_model_dir), "--device", "cpu", flag, str(target)], capsys
    )
    lines = [line for line in err.splitlines() if line.startswith("Error")]
    assert code == 5 and len(lines) == 1 and str(target) in lines[0], err
    assert out == "" and "Loading" not in err  # refused before the weights load


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_segments_csv_on_a_full_disk_is_exit_5(tiny_model_dir, make_clip, tmp_path, capsys):
    clip = make_clip("outpaths-full", seconds=2, fps=8)
    link = tmp_path / "w.csv"
    link.symlink_to("/dev/full")
    code, _, err = run(
        [
            "score",
            str(clip),
            "-m",
            str(tiny_model_dir),
            "--device",
            "cpu",
            "--segments",
            "1s",
            "--segments-csv",
            str(link),
            "-q",
        ],
        capsys,
    )
    assert code == 5 and "No space left on device" in err and "internal error" not in err, err


def test_batch_output_in_a_missing_folder_is_exit_5(tmp_path, capsys):
    code, _, err = run(["batch", str(tmp_path), "--csv", str(tmp_path / "no" / "s.csv")], capsys)
    assert code == 5 and "does not exist" in err and not (tmp_path / "no").exists()


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("flag", ["--csv", "--jsonl"])
def test_batch_refuses_row_files_that_are_not_regular_files(kind, flag, tmp_path, capsys):
    """A device or FIFO cannot be appended, fsync'd and read back by --resume: one line, exit 2, before any
    work (no model resolved, no settings record written beside it); a FIFO even with --overwrite (a device is
    written with --overwrite: tests/test_output_failures.py uses /dev/full)."""
    target = tmp_path / "pipe" if kind == "fifo" else Path("/dev/null")
    if kind == "fifo":
        os.mkfifo(target)
    for extra in [[], ["--resume"]] + ([["--overwrite"]] if kind == "fifo" else []):
        code, _, err = run(
            ["batch", str(tmp_path), flag, str(target), "-m", str(tmp_path / "no-such-model"), *extra], capsys
        )
        assert code == 2, err
        assert f"{flag} {target}:" in err and "not a regular file" in err and "vqa2 score --format" in err
        assert not Path(str(target) + ".vqa2.json").exists() and "no-such-model" not in err
