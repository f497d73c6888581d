"""`batch --plot-dir`: each input's picture name is a pure function of the file's own path (fault: it was
`NAME.png`, with a hash only for the second file of a stem in the same run, so shards, resumes and added
files wrote one file's timeline over another's), and `batch --summary` lists the window outputs."""

from __future__ import annotations

import json
import os

import pytest
from cli_run import run
from clips import make_lossless_frames

from vqa2cli.errors import UsageError
from vqa2cli.jobs.discover import path_hash
from vqa2cli.jobs.windows import PLOT_STEM_BYTES, SegmentPlan, check_plot_dir, plot_name


def test_same_stem_in_several_folders_never_shares_a_name(tmp_path):
    paths = [str(tmp_path / "col" / d / "a.mp4") for d in "pqr"]
    names = [plot_name("plots", p) for p in paths]
    assert len(set(names)) == 3
    assert all(os.path.basename(n).startswith("a-") and n.endswith(".png") for n in names)
    # the name does not depend on which other files are in the run, their order, or the working folder
    assert [plot_name("plots", p) for p in reversed(paths)] == names[::-1]
    assert plot_name("plots", paths[2]) == names[2]
    rel = os.path.relpath(paths[1])
    assert plot_name("plots", rel) == names[1]


@pytest.mark.parametrize("stem", ["caf\udce9-latin1", "é" * 300, "x" * 400, "", ".hidden"])
def test_odd_and_long_names_stay_valid_file_names(tmp_path, stem):
    path = str(tmp_path / "in" / f"{stem}.mp4")
    name = plot_name(str(tmp_path), path)
    base = os.fsencode(os.path.basename(name))
    assert len(base) <= 255 and b"/" not in base and base.endswith(b".png")
    assert len(os.fsencode(os.path.basename(name)[:-13])) <= PLOT_STEM_BYTES
    with open(name, "wb") as fh:  # the file system takes it
        fh.write(b"x")
    assert os.path.exists(name)
    longer = str(tmp_path / "in" / f"{stem}y.mp4")
    assert plot_name(str(tmp_path), longer) != name  # cut stems still differ by their paths' hashes


def test_pre_check_refuses_the_files_own_picture_only(tmp_path):
    plots = tmp_path / "plots"
    plots.mkdir()
    mine, other = str(tmp_path / "p" / "a.mp4"), str(tmp_path / "q" / "a.mp4")
    plan = SegmentPlan(plot_dir=str(plots))
    open(plot_name(str(plots), other), "w").close()
    check_plot_dir(plan, [mine], resume=False, overwrite=False)  # another file's picture is not in the way
    with pytest.raises(UsageError, match="already exists"):
        check_plot_dir(plan, [mine, other], resume=False, overwrite=False)


def test_shards_and_resume_after_adding_a_file_keep_one_picture_per_file(tiny_model_dir, tmp_path, capsys):
    col, plots, config = tmp_path / "col", tmp_path / "plots", tmp_path / "small.toml"
    plots.mkdir()
    config.write_text("[video]\nmotion_size = 64\n")
    assert [path_hash(f"{d}/a.mkv") % 2 for d in "pqrt"] == [1, 0, 0, 1]  # both shards have a file
    for i, d in enumerate("pqr"):
        (col / d).mkdir(parents=True)
        make_lossless_frames(col / d / "a.mkv", 4 * i, 4 * i + 24)
    base = [
        "batch",
        str(col),
        "-m",
        str(tiny_model_dir),
        "--config",
        str(config),
        "--workers",
        "0",
        "--segments",
        "1s",
        "--plot-dir",
        str(plots),
        "--segments-csv",
        str(tmp_path / "w.csv"),
    ]
    code, out, err = run(base + ["--csv", str(tmp_path / "s.csv"), "--shard", "1/2", "--summary"], capsys)
    assert code == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["ok"] == 2 and summary["outputs"] == [
        str(tmp_path / "s.csv"),
        str(tmp_path / "w.csv"),
        str(plots),
    ]
    first = {p.name: p.read_bytes() for p in plots.iterdir()}
    code, _, err = run(base + ["--csv", str(tmp_path / "s.csv"), "--shard", "2/2", "--resume"], capsys)
    assert code == 0, err
    make_lossless_frames((col / "t").mkdir() or col / "t" / "a.mkv", 30, 54)  # added between run and resume
    code, _, err = run(base + ["--csv", str(tmp_path / "s.csv"), "--shard", "2/2", "--resume"], capsys)
    assert code == 0, err
    expected = {os.path.basename(plot_name(str(plots), str(col / d / "a.mkv"))) for d in "pqrt"}
    assert {p.name for p in plots.iterdir()} == expected
    assert all((plots / n).read_bytes() == b for n, b in first.items())  # shard 1's pictures untouched
