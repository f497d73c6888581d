"""`--resume` refuses every option that changes the numbers (the window used included), refuses every CSV
whose header is not exactly this version's columns (an older layout included: `batch --csv`, `eval
--scores-csv`, `--segments-csv`), and each command's refusals name only options that command has."""

from __future__ import annotations

import json

import pytest
from cli_run import run

from vqa2cli.jobs.provenance import sidecar_path
from vqa2cli.records.results import SCORE_COLUMNS

# Every option of `batch` that changes the scores, each with a value other than the first run's default.
CHANGES = [
    ["--segments", "1s"],
    ["--segments", "20s"],
    ["--segments", "auto"],
    ["--segments-csv", "{tmp}/w.csv"],
    ["--fail-segment-under", "0.1"],
    ["--plot-dir", "{tmp}"],
    ["--pool", "min"],
    ["--dtype", "fp16"],
    ["--prompt", "ugc_head"],
    ["--max-motion-frames", "8"],
    ["--strict"],
    ["--long-clip", "stride"],
    ["--quant", "8bit"],
    ["-m", "{tmp}/other-model"],
]


def _batch(tmp_path, model, *extra):
    (tmp_path / "empty").mkdir(exist_ok=True)  # no video: nothing is loaded, the settings are still checked
    return [
        "batch",
        str(tmp_path / "empty"),
        "--csv",
        str(tmp_path / "s.csv"),
        "-m",
        str(model),
        "--device",
        "cpu",
        *extra,
    ]


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: " ".join(c).replace("{tmp}/", ""))
def test_batch_resume_refuses_every_option_that_changes_scores(change, tiny_model_dir, tmp_path, capsys):
    code, _, err = run(_batch(tmp_path, tiny_model_dir), capsys)
    assert code == 0, err
    flags = [c.replace("{tmp}", str(tmp_path)) for c in change]
    if flags[0] == "-m":  # another model: the tiny checkpoint under another folder
        import shutil

        shutil.copytree(tiny_model_dir, flags[1])
        args = _batch(tmp_path, flags[1], "--resume")
    else:
        args = _batch(tmp_path, tiny_model_dir, "--resume", *flags)
    code, _, err = run(args, capsys)
    assert code == 2 and "was written with other settings" in err, err
    assert len(err.strip().splitlines()) == 1 and "--overwrite" in err, err
    code, _, err = run(_batch(tmp_path, tiny_model_dir, "--resume"), capsys)  # the same flags resume
    assert code == 0, err


def test_window_used_is_recorded(tiny_model_dir, tmp_path, capsys):
    code, _, err = run(_batch(tmp_path, tiny_model_dir, "--segments", "20s"), capsys)
    assert code == 0, err
    recorded = json.loads(open(sidecar_path(str(tmp_path / "s.csv"))).read())["config"]
    assert recorded["run"]["segments_s"] == 20.0


def test_settings_record_without_window_key_resumes_whole_clip_runs(tiny_model_dir, tmp_path, capsys):
    code, _, err = run(_batch(tmp_path, tiny_model_dir), capsys)
    assert code == 0, err
    path = sidecar_path(str(tmp_path / "s.csv"))
    data = json.loads(open(path).read())
    del data["config"]["run"]  # written before the window was recorded: whole clips then
    open(path, "w").write(json.dumps(data))
    assert run(_batch(tmp_path, tiny_model_dir, "--resume"), capsys)[0] == 0
    data["config"].pop("run", None)
    open(path, "w").write(json.dumps(data))
    code, _, err = run(_batch(tmp_path, tiny_model_dir, "--resume", "--segments", "5s"), capsys)
    assert code == 2 and "run.segments_s" in err, err


# --- a CSV in any other layout than this version's (an older one: today's columns minus the last few) --------
def _rows(path):
    import csv

    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _assert_refused(code, err, path, fix):
    assert code == 2 and "not a vqa2 CSV to resume" in err and str(path) in err and fix in err, err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("drop", [1, 3])
def test_batch_refuses_a_csv_in_an_older_layout(drop, make_clip, tiny_model_dir, tmp_path, capsys):
    older = ",".join(SCORE_COLUMNS[:-drop]) + "\n"  # today's columns minus the last few
    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(make_clip("rs-a", seconds=1, fps=8).read_bytes())
    out = tmp_path / "s.csv"
    out.write_text(older)
    code, _, err = run(
        ["batch", str(folder), "--csv", str(out), "-m", str(tiny_model_dir), "--device", "cpu", "--resume"],
        capsys,
    )
    _assert_refused(code, err, out, "--overwrite")
    assert out.read_text() == older  # nothing appended


def test_batch_refuses_a_segments_csv_in_an_older_layout(make_clip, tiny_model_dir, tmp_path, capsys):
    from vqa2cli.records.windows import window_columns

    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(make_clip("rs-w", seconds=1, fps=8).read_bytes())
    args = [
        "batch",
        str(folder),
        "--csv",
        str(tmp_path / "s.csv"),
        "-m",
        str(tiny_model_dir),
        "--device",
        "cpu",
        "--segments",
        "1s",
        "--segments-csv",
        str(tmp_path / "w.csv"),
    ]
    code, _, err = run(args, capsys)
    assert code == 0, err
    seg = tmp_path / "w.csv"
    header = _rows(seg)[0]
    assert header == list(window_columns())
    older = ",".join(header[:-2]) + "\n"
    seg.write_text(older)
    code, _, err = run(args + ["--resume"], capsys)
    _assert_refused(code, err, seg, "--overwrite")
    assert seg.read_text() == older


@pytest.mark.parametrize("header", [",".join(SCORE_COLUMNS[1:]), "path,status,score,extra", "a,b"])
def test_batch_refuses_a_foreign_header_in_one_line(header, tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "s.csv"
    out.write_text(header + "\n")
    code, _, err = run(_batch(tmp_path, tiny_model_dir, "--resume"), capsys)
    assert code == 2 and "not a vqa2 CSV to resume" in err and len(err.strip().splitlines()) == 1, err
    assert out.read_text() == header + "\n"


# --- `vqa2 eval`: the same rules, hints naming only eval's options ------------------------------------
@pytest.fixture
def labels(make_clip, tmp_path):
    clips = [
        make_clip("rs-e1", seconds=1, fps=8),
        make_clip("rs-e2", seconds=1, fps=8, pattern="static"),
        make_clip("rs-e3", seconds=1, fps=6),
    ]
    path = tmp_path / "labels.csv"
    path.write_text("path,mos\n" + "".join(f"{c},{m}\n" for c, m in zip(clips, (2.0, 4.0, 1.0))))
    return path


def _eval(labels, model, scores, *extra):
    from test_eval import _invoke

    return _invoke(
        [
            "eval",
            str(labels),
            "--model",
            str(model),
            "--device",
            "cpu",
            "--scores-csv",
            str(scores),
            "--format",
            "json",
            "--quiet",
            *extra,
        ]
    )


def _eval_options() -> set[str]:
    import re

    from test_eval import _invoke

    _, out, _ = _invoke(["eval", "--help"])
    return set(re.findall(r"--[a-z][a-z-]+", out))


def _assert_eval_hint(err: str):
    named = set(__import__("re").findall(r"--[a-z][a-z-]+", err))
    assert named <= _eval_options(), (named - _eval_options(), err)


def test_eval_refuses_an_older_layout_and_other_headers(labels, tiny_model_dir, tmp_path):
    from vqa2cli.records.reports import EVAL_COLUMNS

    older = tmp_path / "older.csv"
    older.write_text(",".join(EVAL_COLUMNS[:-2]) + "\n")  # today's columns minus the last two
    code, _, err = _eval(labels, tiny_model_dir, older, "--resume")
    _assert_refused(code, err, older, "delete it")
    _assert_eval_hint(err)
    assert older.read_text() == ",".join(EVAL_COLUMNS[:-2]) + "\n"

    scores = tmp_path / "scores.csv"
    code, out, err = _eval(labels, tiny_model_dir, scores)
    assert code == 0, err
    code, out, err = _eval(labels, tiny_model_dir, scores, "--resume")
    assert code == 0 and json.loads(out)["n_reused"] == 3, err

    foreign = tmp_path / "foreign.csv"
    foreign.write_text("path,mos,score,whatever\n")
    code, _, err = _eval(labels, tiny_model_dir, foreign, "--resume")
    assert code == 2 and err.count("not a vqa2 CSV to resume") == 1 and len(err.strip().splitlines()) == 1, (
        err
    )
    _assert_eval_hint(err)

    code, _, err = _eval(labels, tiny_model_dir, scores)  # exists, no --resume
    assert code == 2, err
    _assert_eval_hint(err)
    code, _, err = _eval(labels, tiny_model_dir, scores, "--resume", "--dtype", "fp16")  # other settings
    assert code == 2 and "other settings" in err, err
    _assert_eval_hint(err)
    scores.write_text(scores.read_text() + "x,y\n")  # a row with too few columns
    code, _, err = _eval(labels, tiny_model_dir, scores, "--resume")
    assert code == 2 and "columns" in err, err
    _assert_eval_hint(err)


def test_merged_rank_parts_append_to_the_final_csv(tmp_path):
    """torchrun --resume: the ranks' part files merge into the final CSV after its rows, under one header."""
    from vqa2cli.jobs import resume as R

    final = tmp_path / "o.csv"
    final.write_text(R.CSV_HEADER + ",".join(["old", "ok"] + [""] * (len(SCORE_COLUMNS) - 2)) + "\n")
    part = tmp_path / "o.csv.rank0"
    part.write_text(R.CSV_HEADER + ",".join(["new", "ok"] + ["1"] * (len(SCORE_COLUMNS) - 2)) + "\n")
    assert R.merge_parts(R.OutputSpec(str(final), "csv"), [str(part)], overwrite=False) == 1
    rows = _rows(final)
    assert rows[0] == list(SCORE_COLUMNS) and [r[0] for r in rows[1:]] == ["old", "new"]
    assert [p for p, _ in R.read_rows(R.OutputSpec(str(final), "csv"))] == ["old", "new"]
