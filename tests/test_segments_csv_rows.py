"""`--segments-csv` rows are records written by the row-file writer (issue 20 step 2): a file named like
``=1+2\\rb.mp4`` gets the formula escape and a CR that cannot split the row, and ``--resume`` reads the rows
back through the same index as the score rows. The property test walks every CSV the tool writes."""

from __future__ import annotations

import csv
import io

import pytest

from vqa2cli.config import Settings
from vqa2cli.jobs import resume as R
from vqa2cli.output.console import NORMAL, Console
from vqa2cli.output.render import make_writer
from vqa2cli.records.cells import FORMULA_START, csv_uncell
from vqa2cli.records.reports import EvalRow
from vqa2cli.records.results import AnswerRecord, ScoreRecord, error_score_record
from vqa2cli.records.windows import WindowRow

HOSTILE = [
    "=1+2\rb.mp4",
    "+1.mp4",
    "@SUM(1).mp4",
    "-2.mp4",
    "\tx.mp4",
    "\rx.mp4",
    "'q.mp4",
    "a\rb.mp4",
    "a\nb.mp4",
    "a\r\nb.mp4",
    'a,"\nb.mp4',
    "a\u2028b.mp4",
    "plain.mp4",
]
ENTRY = {
    "index": 0,
    "start_s": 0.0,
    "end_s": 10.0,
    "score": 0.5,
    "official_score": 0.6,
    "level": "fair",
    "probs": {"high": 0.1, "good": 0.2, "fair": 0.4, "poor": 0.2, "low": 0.1},
    "keyframes": 10,
    "motion_frames": 40,
}


class _Label:
    index, mos = 0, 3.5

    def __init__(self, path):
        self.path = path


def _rows_of_every_csv(name: str) -> dict[str, list]:
    """One record per CSV the tool writes (score rows, answers, eval's scores, --segments-csv), named ``name``."""
    return {
        "score": [
            ScoreRecord(path=name, score=0.5, level="fair", input={"size_bytes": 1, "mtime": 2.0}),
            error_score_record(name, "corrupt_container", f"{name}: not a video container"),
        ],
        "answer": [AnswerRecord(path=name, question=f"{name}?", answer=f"={name}")],
        "eval_row": [EvalRow.of(_Label(name), score=0.5, level="fair")],
        "window_row": [WindowRow.of(name, ENTRY, {"size_bytes": 1, "mtime": 2.0}, Settings().scoring.levels)],
    }


@pytest.mark.parametrize("name", HOSTILE)
def test_every_csv_escapes_formulas_and_keeps_rows_whole(name):
    for kind, records in _rows_of_every_csv(name).items():
        buf = io.StringIO()
        writer = make_writer("csv", buf, kind)
        for record in records:
            writer.write(record)
        writer.close()
        rows = list(csv.reader(io.StringIO(buf.getvalue(), newline="")))
        assert len(rows) == 1 + len(records), (kind, buf.getvalue())  # a CR or LF never splits a row
        for row in rows[1:]:
            assert not any(cell.startswith(FORMULA_START) for cell in row), (kind, row)
            assert csv_uncell(row[rows[0].index("path")]) == name


def _outputs(path, append):
    from vqa2cli.jobs.windows import SegmentOutputs, SegmentPlan

    return SegmentOutputs(
        SegmentPlan(window_s=10.0, csv=str(path)),
        Settings(),
        Console(NORMAL, stream=io.StringIO()),
        append=append,
    )


def test_segments_csv_rows_resume_through_the_score_index(tmp_path):
    windows = tmp_path / "windows.csv"
    stat = {"size_bytes": 123, "mtime": 1700000000.25}
    out = _outputs(windows, append=False)
    for name in HOSTILE:
        for index in (0, 1):
            out.on_window(str(tmp_path / name), {**ENTRY, "index": index}, stat)
    out.close()
    first = windows.read_bytes()
    again = _outputs(
        windows, append=True
    )  # --resume: every (file, window) already there is not written again
    for name in HOSTILE:
        for index in (0, 1, 2):
            again.on_window(str(tmp_path / name), {**ENTRY, "index": index}, stat)
    again.on_window(str(tmp_path / "plain.mp4"), ENTRY, {**stat, "size_bytes": 124})  # changed file: new row
    again.close()
    rows = R.read_rows(
        R.OutputSpec(str(windows), "csv", tuple(_outputs(tmp_path / "x.csv", False).columns), key="index")
    )
    assert windows.read_bytes().startswith(first)
    assert len(rows) == len(HOSTILE) * 3 + 1
    keys = [(p, s.key) for p, s in rows]
    assert len(set(keys)) == len(HOSTILE) * 3
    assert {p for p, _ in rows} == {str(tmp_path / n) for n in HOSTILE}


@pytest.mark.e2e
def test_score_segments_csv_with_a_hostile_name(make_clip, tiny_model_dir, tmp_path, monkeypatch, capsys):
    from cli_run import run

    monkeypatch.chdir(tmp_path)
    name = "=1+2\rb.mp4"  # as typed: a relative name that starts a formula
    (tmp_path / name).write_bytes(
        make_clip("seg-hostile.mp4", seconds=2.0, fps=4, width=48, height=32).read_bytes()
    )
    windows = tmp_path / "w.csv"
    code, _, err = run(
        [
            "score",
            str(name),
            "-m",
            str(tiny_model_dir),
            "--segments",
            "1s",
            "--segments-csv",
            str(windows),
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    with open(windows, encoding="utf-8", newline="") as fh:
        text = fh.read()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 2 and [r["index"] for r in rows] == ["0", "1"]
    assert all(r["path"] == "'" + name for r in rows)  # the formula escape, and the CR kept inside the cell
    assert text.count("\n") == 3
