"""New-user fixes of issue 25: `eval --resume` with every row reused loads no model; `batch --plot-dir` creates
its folder; the plot labels its bands as score ranges and each window with its level word."""

from __future__ import annotations

import csv
from types import SimpleNamespace

import pytest
from cli_run import run
from clips import make_lossless_frames


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    root = tmp_path_factory.mktemp("reuse")
    for i in range(5):
        make_lossless_frames(root / f"c{i}.mkv", 3 * i, 3 * i + 10)
    (root / "labels.csv").write_text("path,mos\n" + "".join(f"c{i}.mkv,{1 + i * 0.7}\n" for i in range(5)))
    return root


def test_eval_resume_with_every_row_reused_loads_no_model(
    labelled, tiny_model_dir, tmp_path, capsys, monkeypatch
):
    scores = tmp_path / "scores.csv"
    args = [
        "eval",
        str(labelled / "labels.csv"),
        "-m",
        str(tiny_model_dir),
        "--device",
        "cpu",
        "--scores-csv",
        str(scores),
        "--workers",
        "0",
        "-f",
        "json",
    ]
    code, first, err = run(args, capsys)
    assert code == 0, err
    from vqa2cli.pipeline import run as pipeline_run

    def refuse(*a, **k):
        raise AssertionError("the model was loaded although every row is reused")

    monkeypatch.setattr(pipeline_run.Scorer, "load", classmethod(refuse))
    code, again, err = run(args + ["--resume"], capsys)
    assert code == 0, err
    assert "no model loaded" in err and '"n_reused": 5' in again.replace(" ", "").replace('":', '": ')
    rows = list(csv.DictReader(scores.open()))
    assert len(rows) == 5  # nothing appended


def test_batch_creates_the_plot_dir(tiny_model_dir, tmp_path, capsys):
    clip = make_lossless_frames(tmp_path / "p.mkv", 0, 24)
    plots = tmp_path / "new" / "plots"
    config = tmp_path / "small.toml"
    config.write_text("[video]\nmotion_size = 64\n")
    code, _, err = run(
        [
            "batch",
            str(clip),
            "--csv",
            str(tmp_path / "s.csv"),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(config),
            "--segments",
            "1s",
            "--plot-dir",
            str(plots),
            "--workers",
            "1",
        ],
        capsys,
    )
    assert code == 0, err
    assert [p.suffix for p in plots.iterdir()] == [".png"]


def test_plot_dir_that_cannot_be_made_exits_5_before_loading(tiny_model_dir, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    clip = make_lossless_frames(tmp_path / "q.mkv", 0, 8)
    from vqa2cli.pipeline import segmented

    monkeypatch.setattr(
        segmented.SegmentingScorer, "load", classmethod(lambda *a, **k: 1 / 0)
    )  # never reached
    code, _, err = run(
        [
            "batch",
            str(clip),
            "--csv",
            str(tmp_path / "s.csv"),
            "-m",
            str(tiny_model_dir),
            "--segments",
            "1s",
            "--plot-dir",
            str(blocker / "plots"),
        ],
        capsys,
    )
    assert code == 5 and "plots" in err, err


def test_bands_are_score_ranges_and_windows_carry_their_level(tmp_path):
    from vqa2cli.config import ScoringSection
    from vqa2cli.output.plot import band_label, plot_timeline

    levels, weights = ScoringSection().levels, ScoringSection().weights
    assert band_label(" fair", levels, weights) == "score ≈ fair (0.5)"
    # probabilities split between high and low: the score is in the fair band, the level is "high"
    seg = {"index": 0, "start_s": 0.0, "end_s": 2.0, "score": 0.5, "level": "high"}
    record = SimpleNamespace(
        path="a.mp4",
        segments=[seg, dict(seg, index=1, start_s=2.0, end_s=4.0)],
        worst=seg,
        score=0.5,
        config={},
    )
    target = plot_timeline(record, tmp_path / "t.svg", levels=levels, weights=weights)
    assert target.stat().st_size > 0
