"""`score --explain` (docs/explain.md) on the tiny checkpoint, scorer and assistant alike: exactly the selected
windows are asked (assistant forwards counted), the explanation lands on the degraded window, the scorer's
model is gone before the assistant loads, a missing assistant keeps the scores (exit 4), batch resume after
a kill between the phases explains only what is missing."""

from __future__ import annotations

import csv
import gc
import json
import os
import weakref

import pytest
from cli_run import run
from clips import make_lossless_frames

from vqa2cli.pipeline.explain import Selection, plan_spans, select_windows
from vqa2cli.records.results import ScoreRecord


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    config = root / "small.toml"
    config.write_text("[video]\nmotion_size = 64\n[generation]\nmax_new_tokens = 3\n")
    return {"long": make_lossless_frames(root / "long.mkv", 0, 52), "config": config, "root": root}


@pytest.fixture
def spy(monkeypatch):
    """Every assistant ``answer`` call (one forward each): the (start, stop) frames of the clip asked about."""
    from vqa2cli.pipeline.asking import Asker

    calls: list = []
    answer = Asker.answer

    def counted(self, clip, path, question, *args, **kwargs):
        calls.append((str(path), clip.info.n_frames, question))
        return answer(self, clip, path, question, *args, **kwargs)

    monkeypatch.setattr(Asker, "answer", counted)
    return calls


def _record(scores, one_forward=False):
    if one_forward:
        return ScoreRecord(path="a.mp4", score=scores[0])
    segs = [
        {
            "index": i,
            "score": s,
            "start_frame": 8 * i,
            "end_frame": 8 * i + 8,
            "start_s": i,
            "end_s": i + 1,
            "level": "fair",
        }
        for i, s in enumerate(scores)
    ]
    return ScoreRecord(path="a.mp4", score=min(scores), segments=segs)


def test_selection_rules():
    rec = _record([0.6, 0.2, 0.9, 0.3])
    assert select_windows(rec, Selection()) == [1]  # the worst window
    assert select_windows(rec, Selection(fail_segment_under=0.5)) == [1, 3]
    assert select_windows(rec, Selection(fail_segment_under=0.1)) == []  # the file passed
    assert select_windows(rec, Selection(top=3)) == [0, 1, 3]
    assert select_windows(rec, Selection(below=0.65, max_windows=2)) == [1, 3]  # the bound keeps the lowest
    clip = _record([0.4], one_forward=True)
    assert select_windows(clip, Selection()) == [None]
    assert select_windows(clip, Selection(fail_under=0.3)) == []
    assert select_windows(clip, Selection(fail_under=0.5)) == [None]
    assert select_windows(ScoreRecord(path="x", status="error"), Selection()) == []


def test_short_window_is_asked_with_its_neighbour():
    segs = _record([0.5, 0.4, 0.1]).segments
    segs[2]["end_frame"] = 18  # window 2 has 2 frames
    (span,) = plan_spans(segs, [1, 2], min_frames=4)  # merged with window 1, asked once
    assert (span.start, span.stop, span.targets) == (8, 18, [1, 2])
    assert "neighbour, window 1" in span.note


def test_score_explain_asks_only_the_selected_windows(tiny_model_dir, files, tmp_path, spy, capsys):
    seg_csv = tmp_path / "w.csv"
    code, out, err = run(
        [
            "score",
            str(files["long"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--segments",
            "2s",
            "-f",
            "json",
            "--explain",
            "--assistant",
            str(tiny_model_dir),
            "--explain-top",
            "2",
            "--segments-csv",
            str(seg_csv),
        ],
        capsys,
    )
    assert code == 0, err
    (record,) = json.loads(out)
    ranked = sorted(record["segments"], key=lambda s: (s["score"], s["index"]))
    chosen = {s["index"] for s in ranked[:2]}
    assert len(spy) == 2  # one assistant forward per selected window, nothing more
    assert "at most 2 assistant forward(s)" in err
    for s in record["segments"]:
        if s["index"] in chosen:
            e = s["explanation"]
            assert e["question"].startswith("Which distortions") and e["model"] == str(tiny_model_dir)
            assert e["truncated"] is (e["new_tokens"] >= 3)
        else:
            assert "explanation" not in s
    # the re-decoded windows are exactly the scored ones
    frames = sorted(s["end_frame"] - s["start_frame"] for s in record["segments"] if s["index"] in chosen)
    assert sorted(n for _, n, _ in spy) == frames
    from vqa2cli.records.cells import csv_uncell, display_text

    with open(seg_csv, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[-1] == "explanation"
    texts = {s["index"]: s.get("explanation", {}).get("text", "") for s in record["segments"]}
    assert [display_text(csv_uncell(r["explanation"])) for r in rows] == [
        texts[int(r["index"])] for r in rows
    ]


def test_table_prints_the_explanation_under_the_worst_window(tiny_model_dir, files, spy, capsys):
    code, out, err = run(
        [
            "score",
            str(files["long"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--segments",
            "2s",
            "--explain",
            "--assistant",
            str(tiny_model_dir),
        ],
        capsys,
    )
    assert code == 0, err
    lines = out.splitlines()
    worst = next(i for i, line in enumerate(lines) if "worst of 3 windows" in line)
    assert lines[worst + 1].lstrip().startswith("why (")
    assert len(spy) == 1


def test_scorer_released_before_assistant_loads(tiny_model_dir, files, monkeypatch, capsys):
    from vqa2cli.pipeline.asking import Asker
    from vqa2cli.pipeline.run import Scorer

    refs, seen = [], []
    load_scorer, load_asker = Scorer.load.__func__, Asker.load.__func__

    def scorer_load(cls, *a, **kw):
        session = load_scorer(cls, *a, **kw)
        refs.append(weakref.ref(session.model))
        return session

    def asker_load(cls, *a, **kw):
        gc.collect()
        seen.append([r() is None for r in refs])
        return load_asker(cls, *a, **kw)

    monkeypatch.setattr(Scorer, "load", classmethod(scorer_load))
    monkeypatch.setattr(Asker, "load", classmethod(asker_load))
    code, _, err = run(
        [
            "score",
            str(files["long"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--explain",
            "--assistant",
            str(tiny_model_dir),
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    assert seen == [[True]]  # the scorer's model was gone when the assistant loaded


@pytest.mark.parametrize("flag", ["--offline", "HF_HUB_OFFLINE"])
def test_uncached_assistant_offline_is_refused_before_scoring(
    tiny_model_dir, files, capsys, monkeypatch, tmp_path, flag
):
    """Offline (by flag or by HF_HUB_OFFLINE) and not cached: one line up front, exit 4, nothing scored; the
    fix names --assistant (the scorer's --model is not what is missing)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    if flag == "HF_HUB_OFFLINE":
        from huggingface_hub import constants

        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once, at import
    from vqa2cli.jobs import score_run

    scored = []
    real = score_run.LocalScoring.records
    monkeypatch.setattr(score_run.LocalScoring, "records", lambda *a, **k: scored.append(1) or real(*a, **k))
    args = ["score", str(files["long"]), "-m", str(tiny_model_dir), "--config", str(files["config"])]
    code, out, err = run(
        [*args, "--explain", *(["--offline"] if flag == "--offline" else []), "-f", "json"], capsys
    )
    assert code == 4, err
    assert scored == [] and out.strip() in ("", "[]")
    (line,) = [e for e in err.splitlines() if e.startswith("Error")]
    assert f"not cached and {flag} is set" in line and "--assistant" in line and "--model" not in line


def test_a_missing_assistant_folder_names_assistant(tiny_model_dir, files, tmp_path, capsys):
    args = ["score", str(files["long"]), "-m", str(tiny_model_dir), "--explain"]
    code, out, err = run([*args, "--assistant", str(tmp_path / "nofolder")], capsys)
    assert code == 2 and "--assistant" in err and "--model" not in err, err


def test_assistant_failing_after_scoring_keeps_the_scores_exit_4(tiny_model_dir, files, capsys, monkeypatch):
    from vqa2cli.errors import HubError
    from vqa2cli.modeling.hub import OFFLINE_FIX
    from vqa2cli.pipeline.asking import Asker

    def refuse(*args, **kwargs):
        raise HubError("org/assistant@main: download failed: reset", OFFLINE_FIX.format(name="assistant"))

    monkeypatch.setattr(Asker, "load", refuse)
    args = ["score", str(files["long"]), "-m", str(tiny_model_dir), "--config", str(files["config"])]
    code, out, err = run([*args, "--explain", "--assistant", str(tiny_model_dir), "-f", "json"], capsys)
    assert code == 4, err
    (record,) = json.loads(out)
    assert record["score"] is not None and record.get("explanation") is None
    (line,) = [e for e in err.splitlines() if "explain:" in e and "cannot be loaded" in e]
    assert (
        "scores are written" in line and "--assistant /path/to/checkpoint" in line and "--model" not in line
    )


def test_explain_options_need_explain(tiny_model_dir, files, capsys):
    code, _, err = run(["score", str(files["long"]), "-m", str(tiny_model_dir), "--explain-top", "2"], capsys)
    assert code == 2 and "--explain-top only applies with --explain" in err
    args = [
        "score",
        str(files["long"]),
        "-m",
        str(tiny_model_dir),
        "--explain-top",
        "2",
        "--explain-below",
        "0.5",
    ]
    code, _, err = run(args, capsys)
    assert code == 2 and "--explain-top, --explain-below only apply with --explain" in err


def _sharpness_scorer(monkeypatch):
    """A synthetic scorer through the real pipeline: the level logits follow the key frames' sharpness (mean
    absolute horizontal difference), so a blurred window scores lowest."""
    import torch

    from vqa2cli.pipeline.run import Scorer

    def level_logits(self, inputs, timer=None):
        keys = torch.as_tensor(inputs.keyframes).float()
        g = (keys[:, :, 1:] - keys[:, :, :-1]).abs().mean() / 4.0
        return torch.stack([g, g * 0, g * 0, g * 0, -g])

    monkeypatch.setattr(Scorer, "level_logits", level_logits)


@pytest.fixture(scope="module")
def blurred(tmp_path_factory):
    """6 s at 8 fps with seconds 2-4 box-blurred (ffmpeg); skipped without the ffmpeg CLI."""
    import shutil
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("needs the ffmpeg CLI to make the degraded clip")
    out = tmp_path_factory.mktemp("blur") / "blurred.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=128x96:rate=8:duration=6",
            "-vf",
            "boxblur=6:3:enable='between(t,2,3.99)'",
            "-c:v",
            "libx264",
            "-crf",
            "16",
            "-pix_fmt",
            "yuv420p",
            str(out),
        ],
        check=True,
    )
    return out


def test_degraded_section_gets_the_explanation(tiny_model_dir, files, blurred, monkeypatch, spy, capsys):
    _sharpness_scorer(monkeypatch)
    code, out, err = run(
        [
            "score",
            str(blurred),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--segments",
            "2s",
            "--explain",
            "--assistant",
            str(tiny_model_dir),
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    (record,) = json.loads(out)
    assert record["worst"]["index"] == 1 and record["worst"]["start_s"] == 2.0  # the blurred seconds 2-4
    assert [("explanation" in s) for s in record["segments"]] == [False, True, False]
    assert len(spy) == 1


def test_batch_explains_after_scoring_and_resume_explains_only_what_is_missing(
    tiny_model_dir, files, tmp_path, monkeypatch, spy, capsys
):
    from vqa2cli.pipeline.run import Scorer

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(2):
        make_lossless_frames(folder / f"c{i}.mkv", 0, 24 + 8 * i)
    os.rename(os.fsencode(folder / "c1.mkv"), os.fsencode(folder) + b"/c1-\xff.mkv")  # a non-UTF-8 name too
    jsonl, out_csv, tidy = tmp_path / "s.jsonl", tmp_path / "s.csv", tmp_path / "w.csv"
    base = [
        "batch",
        str(folder),
        "--jsonl",
        str(jsonl),
        "--csv",
        str(out_csv),
        "-m",
        str(tiny_model_dir),
        "--config",
        str(files["config"]),
        "--segments",
        "2s",
        "--workers",
        "0",
        "--segments-csv",
        str(tidy),
    ]
    code, _, err = run(base, capsys)  # the state a kill between the two phases leaves: scores, no explanation
    assert code == 0 and spy == [], err
    loads = []
    load = Scorer.load.__func__
    monkeypatch.setattr(
        Scorer, "load", classmethod(lambda cls, *a, **k: loads.append(1) or load(cls, *a, **k))
    )
    code, _, err = run(base + ["--resume", "--explain", "--assistant", str(tiny_model_dir)], capsys)
    assert code == 0, err
    assert loads == [] and len(spy) == 2  # nothing scored again; the worst window of each file asked once
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(rows) == 4 and all(any("explanation" in s for s in r["segments"]) for r in rows[2:])
    with open(out_csv, newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh))[-1]["path"] == rows[-1]["path"]
    from vqa2cli.records.cells import path_from_fields

    with open(tidy, newline="", encoding="utf-8", errors="surrogateescape") as fh:  # names as their bytes
        windows = list(csv.DictReader(fh))
    n_windows = sum(len(r["segments"]) for r in rows[:2])
    assert len(windows) == n_windows + 2  # every window once, then the two explained ones again, explained
    explained = [
        (path_from_fields(r["path"], r["path_bytes"]), s["index"])
        for r in rows[2:]
        for s in r["segments"]
        if "explanation" in s
    ]
    assert [(w["path"], int(w["index"])) for w in windows[n_windows:]] == explained
    code, _, err = run(base + ["--resume", "--explain", "--assistant", str(tiny_model_dir)], capsys)
    assert code == 0 and len(spy) == 2, err  # every selected window explained: the assistant is not loaded
    assert "every selected window is explained" in err


def test_batch_explain_needs_jsonl(tiny_model_dir, files, tmp_path, capsys):
    code, _, err = run(
        [
            "batch",
            str(files["long"]),
            "--csv",
            str(tmp_path / "a.csv"),
            "-m",
            str(tiny_model_dir),
            "--explain",
        ],
        capsys,
    )
    assert code == 2 and "needs --jsonl" in err


def test_plot_writes_the_short_explanation_beside_the_worst_window(tmp_path, monkeypatch):
    from vqa2cli.output import plot

    texts = []
    rec = _record([0.6, 0.2, 0.9])
    rec.worst = {k: rec.segments[1][k] for k in ("index", "start_s", "end_s", "score")} | {"level": "poor"}
    rec.segments[1]["explanation"] = {
        "text": "Heavy blur across the frame. The rest is sharp.",
        "truncated": False,
    }
    real = plot._draw_explanation

    def spy(ax, record, worst):
        real(ax, record, worst)
        texts.extend(t.get_text() for t in ax.texts)

    monkeypatch.setattr(plot, "_draw_explanation", spy)
    plot.plot_timeline(
        rec,
        tmp_path / "p.svg",
        levels=(" high", " good", " fair", " poor", " low"),
        weights=(1, 0.75, 0.5, 0.25, 0),
    )
    assert "why: Heavy blur across the frame" in texts
    assert (
        plot.short_explanation("word " * 40).endswith("…") and len(plot.short_explanation("word " * 40)) <= 61
    )


def test_api_explains_in_place_after_releasing_the_scorer(tiny_model_dir, files, spy):
    import vqa2cli

    scorer = vqa2cli.load_scorer(str(tiny_model_dir), config=str(files["config"])).configure(window_s=2.0)
    records = list(scorer.score_files([str(files["long"])]))
    model = weakref.ref(scorer.model)
    n = vqa2cli.explain(
        records,
        str(tiny_model_dir),
        scorer=scorer,
        top=2,
        config=str(files["config"]),
        question="Is it blurry?",
    )
    gc.collect()
    assert model() is None and n == 2 == len(spy)
    explained = [s["explanation"] for s in records[0].segments if "explanation" in s]
    assert len(explained) == 2 and all(e["question"] == "Is it blurry?" for e in explained)
    assert vqa2cli.explain(records, str(tiny_model_dir), top=2) == 0  # done already: nothing asked again


def test_csv_carries_the_clip_explanation_last(tiny_model_dir, files, monkeypatch, capsys):
    from vqa2cli.pipeline.asking import Asker

    answers = []
    answer = Asker.answer
    monkeypatch.setattr(
        Asker, "answer", lambda self, *a, **k: answers.append(answer(self, *a, **k)) or answers[-1]
    )
    code, out, err = run(
        [
            "score",
            str(files["long"]),
            "-m",
            str(tiny_model_dir),
            "--config",
            str(files["config"]),
            "--explain",
            "--assistant",
            str(tiny_model_dir),
            "-f",
            "csv",
            "--explain-question",
            "Why?",
        ],
        capsys,
    )
    assert code == 0, err
    (row,) = list(csv.DictReader(out.splitlines()))
    assert (
        list(row)[list(row).index("warnings") + 1] == "explanation" and len(answers) == 1
    )  # one forward: the clip, scored in one forward (origin columns appended after it, issue 26)
    assert answers[0].question == "Why?" and row["explanation"] == answers[0].answer


@pytest.mark.e2e
def test_sigkill_between_the_phases_then_resume_explains_each_file_once(
    tiny_model_dir, files, tmp_path, capsys
):
    import signal
    import sys

    from test_batch import _interrupt_after_rows

    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(2):
        make_lossless_frames(folder / f"k{i}.mkv", 0, 24 + 8 * i)
    jsonl = tmp_path / "s.jsonl"
    args = [
        "batch",
        str(folder),
        "--jsonl",
        str(jsonl),
        "-m",
        str(tiny_model_dir),
        "--config",
        str(files["config"]),
        "--segments",
        "2s",
        "--workers",
        "0",
        "--explain",
        "--assistant",
        str(tiny_model_dir),
    ]
    rc, err = _interrupt_after_rows([sys.executable, "-m", "vqa2cli", *args], jsonl, signal.SIGKILL, 2)
    assert rc == -signal.SIGKILL, err  # killed once both files are scored: before or while explaining
    code, _, err = run([*args, "--resume"], capsys)
    assert code == 0, err
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    explained = [r["path"] for r in rows if any("explanation" in s for s in r["segments"])]
    assert len(rows) == 4 and sorted(explained) == sorted(
        {r["path"] for r in rows}
    )  # each file explained once
    assert not any(
        "explanation" in s for r in rows[:2] for s in r["segments"]
    )  # the score rows, never rescored
