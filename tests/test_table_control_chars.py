"""Control characters in file names (newline, CR, TAB, ESC, C1, U+2028) never split a table row: tables
show them as ``\\n``/``\\xNN`` like undecodable bytes; JSON keeps the real name and CSV quotes it."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from cli_run import run
from ffmpeg_cli import needs_ffmpeg_for

from vqa2cli.output.render import make_writer
from vqa2cli.records.cells import table_text
from vqa2cli.records.results import ModelInfo, ScoreRecord, error_score_record

NAMES = [
    "two\nlines.mp4",
    "cr\rname.mp4",
    "tab\tname.mp4",
    "esc\x1b[31mred.mp4",
    "c1\x85next.mp4",
    "sep\u2028line.mp4",
    "nul\x01del\x7f.mp4",
]


def ok_record(path: str) -> ScoreRecord:
    return ScoreRecord(
        path=path,
        score=0.5,
        probs={"high": 0.1, "good": 0.4, "fair": 0.3, "poor": 0.15, "low": 0.05},
        level="good",
        model=ModelInfo("ugc-scorer", "q/x", "main", "fp32", "none", "cpu"),
        input={"duration_s": 1.0},
        sampling={"keyframes": 1, "motion_frames": 4},
        timing={"infer_s": 0.1},
    )


def render(fmt: str, records, kind: str = "score") -> str:
    buf = io.StringIO()
    writer = make_writer(fmt, buf, kind)
    for record in records:
        writer.write(record)
    writer.close()
    return buf.getvalue()


def one_line(text: str) -> bool:
    return len(text.splitlines()) == 1 and not any(c in text for c in "\r\x1b\x85\u2028")


@pytest.mark.parametrize("name", NAMES)
def test_table_text_is_one_visible_line(name):
    shown = table_text(name)
    assert one_line(shown) and shown.isprintable()
    assert table_text("a\nb\tc\rd\x1be") == "a\\nb\\tc\\rd\\x1be"
    assert table_text("ok/ü é.mp4") == "ok/ü é.mp4"  # printable text unchanged
    assert table_text("bad\udcff\n.mp4") == "bad\\xff\\n.mp4"  # same style as undecodable bytes


def test_score_table_keeps_one_line_per_file():
    records = [ok_record(n) for n in NAMES] + [
        error_score_record(NAMES[0], "corrupt_container", f"{NAMES[0]}: not a video container")
    ]
    lines = render("table", records).split("\n")[:-1]
    assert len(lines) == 1 + len(records)
    for line, name in zip(lines[1:], NAMES):
        assert line.endswith(table_text(name)) and one_line(line)
    assert lines[-1].startswith("ERROR") and "two\\nlines.mp4: not a video container" in lines[-1]


def test_answer_table_names_the_file_on_one_line():
    from vqa2cli.records.results import AnswerRecord

    record = AnswerRecord(
        path="a\nb.mp4", question="q?", status="error", error_code="x", error="a\nb.mp4: bad"
    )
    assert render("table", [record], "answer") == "a\\nb.mp4: ERROR a\\nb.mp4: bad\n"


def test_json_and_csv_keep_the_real_name():
    records = [ok_record(n) for n in NAMES]
    assert [d["path"] for d in json.loads(render("json", records))] == NAMES
    assert [json.loads(line)["path"] for line in render("jsonl", records).split("\n")[:-1]] == NAMES
    rows = list(csv.DictReader(io.StringIO(render("csv", records), newline="")))
    assert [r["path"] for r in rows] == NAMES


@needs_ffmpeg_for("to make the clip")
def test_probe_table_one_row_per_file(tmp_path, make_clip, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short names: the table folds only what is over its width
    names = ["new\nline.mp4", "tab\tand\x1besc.mp4"]
    for name in names:
        shutil.copy(make_clip("plain.mp4", seconds=1), name)
    code, out, _ = run(["probe", *names, "gone\nx.mp4"], capsys)
    assert code == 3
    lines = out.splitlines()
    assert len(lines) == 1 + 3 and all(line.startswith(table_text(n)) for n, line in zip(names, lines[1:]))
    assert lines[3].startswith("gone\\nx.mp4") and "ERROR" in lines[3]
    code, out, _ = run(["probe", *names, "--format", "json"], capsys)
    assert code == 0 and [r["path"] for r in json.loads(out)] == names
