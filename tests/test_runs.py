"""The runs of `score` and `ask` below the front-ends (vqa2cli/jobs/score_run.py, ask_run.py): what a user of
the run sees that no front-end adds — gate lines that are true as printed and name the files, questions that
are questions, one asking loop for the CLI and the server."""

from __future__ import annotations

import json
import random

import pytest
from cli_run import run

from vqa2cli.errors import UsageError
from vqa2cli.jobs.ask_run import collect_questions
from vqa2cli.jobs.score_run import gate_text


def test_gate_text_is_true_as_printed():
    """`scored 0.515 < 0.51495` was false as printed: whatever the values, the printed numbers compare as the
    real ones do, and the limit is printed as given."""
    rng = random.Random(7)
    cases = [(0.51494999, 0.51495), (0.4999999, 0.5), (0.123, 0.6), (0.0, 1e-9)]
    cases += [
        (lim - rng.random() * 10 ** -rng.randint(1, 12), lim) for lim in (rng.random() for _ in range(500))
    ]
    for score, limit in cases:
        if not score < limit:
            continue
        shown_score, _, shown_limit = gate_text(score, limit).partition(" < ")
        assert float(shown_score) < float(shown_limit), (score, limit)
        assert float(shown_limit) == limit


def test_questions_file_skips_comments_and_blank_lines(tmp_path):
    questions = tmp_path / "q.txt"
    questions.write_text(
        "# what we ask every encode\nIs there stutter?\n\n  # indented comment\nHow sharp?\n",
        encoding="utf-8",
    )
    assert collect_questions("First?", ["Second?"], questions) == [
        "First?",
        "Second?",
        "Is there stutter?",
        "How sharp?",
    ]


def test_a_question_that_is_a_file_is_refused(tmp_path, monkeypatch, capsys):
    """`vqa2 ask a.mp4 b.mp4` would ask the question "b.mp4": refused in one line, exit 2, before any model."""
    monkeypatch.chdir(tmp_path)
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"\0" * 32)
    with pytest.raises(UsageError, match="b.mp4"):
        collect_questions("b.mp4", None, None)
    code, out, err = run(["ask", "a.mp4", "b.mp4"], capsys)
    assert code == 2 and out == "" and "'b.mp4' is a file, not a question" in err
    code, _, err = run(["ask", "a.mp4", "--question", "b.mp4"], capsys)
    assert code == 2


def test_fail_under_names_each_file_below_with_a_true_line(make_clip, tiny_model_dir, capsys):
    clips = [
        make_clip("gate-a.mp4", seconds=1.0, fps=4, width=48, height=32),
        make_clip("gate-b.mp4", seconds=1.0, fps=4, width=32, height=48),
    ]
    args = ["score", *map(str, clips), "-m", str(tiny_model_dir), "-f", "jsonl"]
    code, out, _ = run(args, capsys)
    scores = {json.loads(line)["path"]: json.loads(line)["score"] for line in out.splitlines()}
    limit = max(scores.values()) + 1e-9  # both below, by a hair for the higher one
    code, _, err = run(args + ["--fail-under", repr(limit)], capsys)
    assert code == 1
    for path in scores:
        line = next(line for line in err.splitlines() if line.startswith(f"Error: {path} scored "))
        shown, _, rest = line.removeprefix(f"Error: {path} scored ").partition(" < ")
        assert float(shown) < float(rest.split()[0]) == limit
    assert f"2 of 2 file(s) scored below --fail-under {limit!r}" in err


class _Terminal:
    def __init__(self, tty: bool):
        self.tty, self.lines = tty, []

    def isatty(self):
        return self.tty

    def write(self, text):
        self.lines.append(text)

    def flush(self):
        pass


@pytest.mark.parametrize("tty", [True, False])
def test_window_progress_only_on_a_terminal(tty):
    from vqa2cli.jobs.score_run import WindowProgress
    from vqa2cli.output.console import NORMAL, Console

    stream = _Terminal(tty)
    progress = WindowProgress(Console(NORMAL, stream=stream), lambda path: 180.0)
    for i in range(3):
        progress("long.mp4", i, 10.0 * i, 10.0 * (i + 1))
    text = "".join(stream.lines)
    if not tty:
        assert text == ""
        return
    assert "long.mp4: window 1/18\n" in text and "long.mp4: window 3/18, ETA" in text
