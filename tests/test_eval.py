"""`vqa2 eval` end to end with the tiny fixture model: metrics, per-video CSV, resume, failures, data errors."""

from __future__ import annotations

import csv
import json
import math
from types import SimpleNamespace

import pytest

from vqa2cli.errors import Vqa2Error


def _invoke(args):
    import typer
    from typer.testing import CliRunner

    from vqa2cli.cli import eval as eval_cmd

    app = typer.Typer()
    app.callback()(lambda: None)
    eval_cmd.register(app)
    result = CliRunner().invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, (Vqa2Error, SystemExit)):
        raise result.exception
    code = result.exception.exit_code if isinstance(result.exception, Vqa2Error) else result.exit_code
    message = result.exception.one_line() if isinstance(result.exception, Vqa2Error) else ""
    return code, result.stdout, result.stderr + message


def _pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return cov / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


@pytest.fixture(scope="module")
def labelled(make_clip, tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    clips = [
        make_clip("ev-a", seconds=1, fps=8),
        make_clip("ev-b", seconds=1, fps=8, pattern="static"),
        make_clip("ev-c", seconds=1, fps=8, width=48, height=64),
        make_clip("ev-d", seconds=1.5, fps=6),
    ]
    for clip in clips:
        (root / clip.name).write_bytes(clip.read_bytes())
    (root / "labels.csv").write_text(
        "path,mos\n" + "".join(f"{c.name},{m}\n" for c, m in zip(clips, (2.0, 3.5, 1.0, 4.5)))
    )
    (root / "labels.json").write_text(
        json.dumps(
            [
                {"img_path": clips[0].name, "mos": 2.0},
                {"video_path": clips[1].name, "gt_score": "3.5"},
                {"img_path": clips[2].name, "mos": 1.0},
                {"img_path": clips[3].name, "mos": 4.5},
            ]
        )
    )
    return root


def test_eval_metrics_csv_and_resume(labelled, tiny_model_dir, tmp_path):
    scores = tmp_path / "scores.csv"
    args = [
        "eval",
        str(labelled / "labels.csv"),
        "--model",
        str(tiny_model_dir),
        "--device",
        "cpu",
        "--scores-csv",
        str(scores),
        "--format",
        "json",
        "--quiet",
    ]
    code, out, err = _invoke(args)
    assert code == 0, err
    result = json.loads(out)
    rows = list(csv.DictReader(scores.open()))
    assert [r["status"] for r in rows] == ["ok"] * 4 and result["n"] == 4 and result["n_reused"] == 0
    pred = [float(r["score"]) for r in rows]
    mos = [float(r["mos"]) for r in rows]
    assert mos == [2.0, 3.5, 1.0, 4.5]
    assert result["plcc"] == pytest.approx(_pearson(pred, mos), abs=1e-5)  # CSV scores are rounded to 1e-6
    assert -1.0 <= result["srcc"] <= 1.0 and -1.0 <= result["krcc"] <= 1.0
    assert (
        result["plcc_logistic"] is None and "at least 5" in result["notes"][0]
    )  # 4 videos: no 4-parameter fit

    lines = scores.read_text().splitlines(keepends=True)
    scores.write_text("".join(lines[:3]) + lines[3][:10])  # as if killed while writing the third row
    again, out2, _ = _invoke(args[:-3] + ["--scores-csv", str(scores), "--resume", "--format", "json"])
    second = json.loads(out2)
    assert again == 0 and second["n_reused"] == 2 and second["n"] == 4
    assert second["plcc"] == pytest.approx(result["plcc"], abs=1e-5)
    assert [r["path"] for r in csv.DictReader(scores.open())] == [r["path"] for r in rows]

    code, _, err = _invoke(args)  # the CSV exists and no --resume: refuse to overwrite
    assert code == 2 and "pass --resume" in err


def test_eval_official_json_and_table(labelled, tiny_model_dir):
    code, out, err = _invoke(
        ["eval", str(labelled / "labels.json"), "--model", str(tiny_model_dir), "--device", "cpu", "--quiet"]
    )
    assert code == 0, err
    lines = dict(line.split(None, 1) for line in out.strip().splitlines())
    assert set(lines) == {"labels", "model", "SRCC", "PLCC", "PLCC-logistic", "KRCC", "n"}
    assert lines["n"] == "4" and lines["PLCC-logistic"] == "n/a"


def test_eval_failures_are_listed_and_left_out(labelled, tiny_model_dir, tmp_path):
    bad = labelled / "broken.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 200)
    labels = tmp_path / "with-bad.csv"
    labels.write_text((labelled / "labels.csv").read_text() + f"{bad},3.0\n")
    scores = tmp_path / "s.csv"
    code, out, err = _invoke(
        [
            "eval",
            str(labels),
            "--model",
            str(tiny_model_dir),
            "--device",
            "cpu",
            "--media-root",
            str(labelled),
            "--scores-csv",
            str(scores),
            "--format",
            "json",
        ]
    )
    result = json.loads(out)
    assert code == 3 and result["n"] == 4 and result["n_failed"] == 1 and "broken.mp4" in err
    assert [r["status"] for r in csv.DictReader(scores.open())] == ["ok"] * 4 + ["error"]


def test_eval_passes_each_videos_stalling_into_its_prompt(labelled, tiny_model_dir, tmp_path):
    """The per-video stalling labels reach the streaming prompt (style per --stalling-style)."""
    from vqa2cli.jobs.evaluate import evaluate
    from vqa2cli.pipeline.prompts import Stalling
    from vqa2cli.training.datasets import read_labels

    labels = tmp_path / "stream.csv"
    names = [p.name for p in sorted(labelled.glob("ev-*"))]
    labels.write_text(
        "path,mos,stalling\n"
        + "".join(
            f"{labelled / n},{m},{s}\n" for n, m, s in zip(names, (1, 2, 3, 4), ("none", "0110", "", "1000"))
        )
    )

    class Recorder:  # stands in for Scorer: records what each video was prepared with
        def __init__(self):
            self.seen = {}

        def prepare(self, path, stalling=None):
            self.seen[path] = stalling
            return path

        def run(self, prepared):
            score = 0.1 * len(self.seen)
            return SimpleNamespace(to_dict=lambda: {"score": score, "official_score": score, "level": "fair"})

    recorder = Recorder()
    evaluate(read_labels(labels), recorder, labels=str(labels), model="m", workers=0, stalling_style="stats")
    assert [recorder.seen[str(labelled / n)] for n in names] == [
        Stalling("", "stats"),
        Stalling("0110", "stats"),
        None,
        Stalling("1000", "stats"),
    ]

    # end to end: refused before loading for a UGC prompt, scored with --prompt streaming
    base = [
        "eval",
        str(labels),
        "--model",
        str(tiny_model_dir),
        "--device",
        "cpu",
        "--format",
        "json",
        "--quiet",
    ]
    code, _, err = _invoke(base)
    assert code == 2 and "stalling labels needs the 'streaming' prompt" in err
    scores = tmp_path / "stream-scores.csv"
    code, out, err = _invoke(base + ["--prompt", "streaming", "--scores-csv", str(scores)])
    assert code == 0, err
    assert json.loads(out)["n"] == 4
    # the style changes the prompts, so a resumed run must not mix in the other one
    code, _, err = _invoke(
        base + ["--prompt", "streaming", "--scores-csv", str(scores), "--resume", "--stalling-style", "stats"]
    )
    assert code == 2 and "run.stalling_style" in err


def test_eval_data_errors_before_loading(labelled, tmp_path):
    labels = tmp_path / "l.csv"
    labels.write_text("path,mos\nnowhere.mp4,3\n")
    code, _, err = _invoke(["eval", str(labels), "--model", str(tmp_path / "no-model")])
    assert code == 2 and "line 2: media file not found" in err
    code, _, err = _invoke(["eval", str(labelled / "labels.csv"), "--format", "csv"])
    assert code == 2 and "--format" in err


class _FakeScorer:
    """Stands in for Scorer in ``evaluate``: a score per path, or a chosen failure per path."""

    def __init__(self, fail=None, interrupt=()):
        self.fail, self.interrupt, self.scored = fail or {}, set(interrupt), []

    def prepare(self, path, stalling=None):
        if path in self.fail:
            raise self.fail[path]
        return path

    def run(self, path):
        if path in self.interrupt:
            raise KeyboardInterrupt
        self.scored.append(path)
        value = 0.1 * len(self.scored)  # distinct scores, so the correlations are defined
        return SimpleNamespace(to_dict=lambda: {"score": value, "official_score": value, "level": "fair"})


def _labels_of(labelled, tmp_path):
    from vqa2cli.training.datasets import read_labels

    folder = tmp_path / "media"
    folder.mkdir()
    names = sorted(p.name for p in labelled.glob("ev-*"))
    for name in names:
        (folder / name).write_bytes((labelled / name).read_bytes())
    labels = tmp_path / "l.csv"
    labels.write_text("path,mos\n" + "".join(f"{folder / n},{m}\n" for n, m in zip(names, (1, 2, 3, 4))))
    return read_labels(labels), labels


def test_eval_resume_never_rewrites_earlier_rows(labelled, tmp_path):
    """A crash during a resumed eval keeps every row of the earlier run (append-only, as batch)."""
    from vqa2cli.errors import DecodeFailedError
    from vqa2cli.jobs.evaluate import evaluate

    records, labels = _labels_of(labelled, tmp_path)
    first = str(records[0].path)
    scores = tmp_path / "scores.csv"
    broken = DecodeFailedError(first, "damaged", "re-export it")
    evaluate(
        records,
        _FakeScorer(fail={first: broken}),
        labels=str(labels),
        model="m",
        scores_csv=scores,
        workers=0,
    )
    before = scores.read_bytes()
    assert [r["status"] for r in csv.DictReader(scores.open())] == ["error", "ok", "ok", "ok"]

    with pytest.raises(KeyboardInterrupt):  # resumed: the error row is scored again, and Ctrl-C hits there
        evaluate(
            records,
            _FakeScorer(interrupt={first}),
            labels=str(labels),
            model="m",
            scores_csv=scores,
            resume=True,
            workers=0,
        )
    assert scores.read_bytes() == before  # nothing rewritten, nothing lost

    again = _FakeScorer()
    result = evaluate(
        records, again, labels=str(labels), model="m", scores_csv=scores, resume=True, workers=0
    )
    assert again.scored == [first] and result.n_reused == 3 and result.metrics.n == 4
    after = scores.read_bytes()
    assert after.startswith(before)  # appended after the earlier rows
    rows = list(csv.DictReader(scores.open()))
    assert [(r["path"], r["status"]) for r in rows[-1:]] == [(first, "ok")]


def test_eval_resume_matches_path_size_and_mtime(labelled, tmp_path):
    """A video changed since the earlier run (same path, new mtime or size) is scored again, as in batch."""
    import os

    from vqa2cli.jobs.evaluate import evaluate

    records, labels = _labels_of(labelled, tmp_path)
    scores = tmp_path / "scores.csv"
    evaluate(records, _FakeScorer(), labels=str(labels), model="m", scores_csv=scores, workers=0)
    touched, grown = records[1].path, records[2].path
    st = os.stat(touched)
    os.utime(touched, (st.st_atime, st.st_mtime + 5))
    with open(grown, "ab") as fh:
        fh.write(b"\0")
    again = _FakeScorer()
    result = evaluate(
        records, again, labels=str(labels), model="m", scores_csv=scores, resume=True, workers=0
    )
    assert sorted(again.scored) == sorted([str(touched), str(grown)]) and result.n_reused == 2
