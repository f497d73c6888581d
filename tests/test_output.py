"""Every format from the same records (the hf `check` pattern): JSON parses, CSV has the fixed columns,
an empty run prints `[]`, errors keep their row."""

import csv
import io
import json

import pytest

from vqa2cli.output.render import make_writer
from vqa2cli.records.results import SCORE_COLUMNS, ModelInfo, ScoreRecord, error_score_record


def records():
    ok = ScoreRecord(
        path="a b/ü.mp4",
        score=0.625,
        probs={"high": 0.1, "good": 0.4, "fair": 0.3, "poor": 0.15, "low": 0.05},
        level="good",
        model=ModelInfo("ugc-scorer", "q/x", "main", "fp32", "none", "cpu"),
        input={"duration_s": 3.0, "avg_fps": 8.0, "width": 64, "height": 48, "size_bytes": 10, "mtime": 1.5},
        sampling={"keyframes": 3, "motion_frames": 24, "policy": "official"},
        timing={"decode_s": 0.1, "infer_s": 0.2},
    )
    bad = error_score_record("broken.mp4", "corrupt_container", "broken.mp4: not a video container")
    return [ok, bad]


def render(fmt, recs, fail_under=None):
    buf = io.StringIO()
    w = make_writer(fmt, buf, "score", fail_under=fail_under)
    for r in recs:
        w.write(r)
    w.close()
    return buf.getvalue()


def test_json_parses_and_keeps_schema():
    data = json.loads(render("json", records()))
    assert [d["status"] for d in data] == ["ok", "error"]
    assert data[0]["schema"] == "vqa2.score/1"
    assert data[0]["official_score"] == pytest.approx(0.2 + 0.8 * 0.625)
    assert data[1]["error"] == {"code": "corrupt_container", "message": "broken.mp4: not a video container"}
    assert data[1]["score"] is None


def test_empty_json_is_brackets():
    assert json.loads(render("json", [])) == []
    assert render("jsonl", []) == ""


def test_jsonl_one_object_per_line():
    lines = render("jsonl", records()).splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["path"] == "a b/ü.mp4"


def test_csv_fixed_columns_and_values():
    rows = list(csv.DictReader(io.StringIO(render("csv", records()))))
    assert tuple(rows[0].keys()) == SCORE_COLUMNS
    assert rows[0]["p_good"] == "0.4" and rows[0]["level"] == "good" and rows[0]["size_bytes"] == "10"
    assert (
        rows[1]["status"] == "error"
        and rows[1]["score"] == ""
        and rows[1]["error_code"] == "corrupt_container"
    )


@pytest.mark.parametrize("limit, mark", [(0.7, "FAIL"), (0.625, "pass"), (0.5, "pass")])
def test_table_marks_a_file_below_the_gate(limit, mark):
    out = render("table", records(), fail_under=limit).splitlines()
    head, ok, bad = out
    assert head.split()[-2:] == ["GATE", "FILE"] and len(out) == 3
    assert ok.split()[-4:] == ["0.2000", mark, "a", "b/ü.mp4"]  # INFER_S, GATE, then the name
    assert head.index("FILE") == ok.index("a b/ü.mp4") == bad.index("broken.mp4")  # columns stay aligned
    assert "FAIL" not in bad and "pass" not in bad
    assert "GATE" not in render("table", records())  # no gate, no column


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_the_gate_changes_only_the_table(fmt):
    assert render(fmt, records(), fail_under=0.7) == render(fmt, records())


def test_table_has_a_line_per_record():
    out = render("table", records()).splitlines()
    assert out[0].split()[0] == "SCORE" and len(out) == 3
    assert out[1].startswith("0.6250") and out[1].endswith("a b/ü.mp4")
    assert out[2].startswith("ERROR")


def test_readme_documents_every_json_field():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "docs" / "output.md").read_text(encoding="utf-8")
    section = readme.split("## Output schema", 1)[1].split("\n## ", 1)[0]
    documented = {
        line.split("|")[1].strip().strip("`") for line in section.splitlines() if line.startswith("| `")
    }
    assert documented == set(records()[0].to_dict()), (
        "README 'Output schema' and ScoreRecord.to_dict() differ"
    )
    assert ",".join(SCORE_COLUMNS) in section


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    from vqa2cli.output.console import Console

    monkeypatch.delenv("NO_COLOR", raising=False)
    tty, pipe = _Tty(), io.StringIO()
    Console(stream=tty).error("boom")
    Console(stream=pipe).error("boom")
    assert "\x1b[" in tty.getvalue() and pipe.getvalue() == "Error: boom\n"
    monkeypatch.setenv("NO_COLOR", "1")
    plain = _Tty()
    Console(stream=plain).error("boom")
    assert "\x1b[" not in plain.getvalue() and "Error: boom" in plain.getvalue()
