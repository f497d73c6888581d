"""Outputs stay valid whatever the file names (issue 11 D): CSV formula cells neutralised reversibly, only
``\\n`` ends a JSONL record, torn CSV rows cut at record boundaries, non-UTF-8 names as valid UTF-8 with
``path_bytes``, and ``--resume`` finding the real path back in every case. Generated variants per kind."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vqa2cli.jobs import resume as R
from vqa2cli.output.render import make_writer
from vqa2cli.records.cells import (
    FORMULA_START,
    csv_cell,
    csv_uncell,
    display_text,
    path_bytes,
    path_from_fields,
)
from vqa2cli.records.results import SCORE_COLUMNS, ScoreRecord, error_score_record

FORMULA_NAMES = [
    '=HYPERLINK("http:x","y").mp4',
    "+1+1.mp4",
    "@SUM(1+1).mp4",
    "-2+3.mp4",
    "\tx.mp4",
    "\rx.mp4",
    "'quoted.mp4",
    "''twice.mp4",
    "=1.mp4",
]
SEPARATOR_NAMES = [
    "a\u2028b.mp4",
    "a\u2029b.mp4",
    "a\x85b.mp4",
    "a\x0bb.mp4",
    "a\x0cb.mp4",
    "a\x1cb.mp4",
    "a\x1db.mp4",
    "a\x1eb.mp4",
    "a\rb.mp4",
    "a\nb.mp4",
    "a\r\nb.mp4",
    'a"b.mp4',
    'a,"\nb.mp4',
]
RAW_NAMES = [b"caf\xe9.mp4", b"\xff\xfe.mp4", b"=\xe9.mp4", b"a\xe2\x80\xa8\xc3.mp4", b"'\x80.mp4"]
ALL_NAMES = FORMULA_NAMES + SEPARATOR_NAMES + [os.fsdecode(raw) for raw in RAW_NAMES]


# --- the cell encoding ---------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.text())
def test_csv_cell_is_reversible_and_never_a_formula(text):
    cell = csv_cell(text)
    assert csv_uncell(cell) == text
    assert cell == "-" or not cell.startswith(FORMULA_START)  # a lone "-" (stdin) is no formula


@pytest.mark.parametrize("text", ["-", "-1", "--", "-x.mp4", "-+1"])
def test_only_a_lone_dash_keeps_its_sign(text):
    """``-`` (stdin's name) is written as JSON shows it; anything longer starting with - is escaped."""
    assert (csv_cell(text) == text) == (text == "-")


@pytest.mark.parametrize("value", [-0.5, 0.0, 12, None])
def test_numbers_are_not_quoted(value):
    assert csv_cell(value) == value


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b))
def test_any_file_name_bytes_round_trip_through_path_bytes(raw):
    name = os.fsdecode(raw)
    shown = display_text(name)
    shown.encode("utf-8")  # always valid UTF-8
    assert path_from_fields(shown, path_bytes(name)) == name
    if path_bytes(name) is None:
        assert shown == name


# --- rendering ------------------------------------------------------------------------------------
def _render(fmt, recs):
    buf = io.StringIO()
    w = make_writer(fmt, buf, "score")
    for r in recs:
        w.write(r)
    w.close()
    return buf.getvalue()


def _records(name):
    ok = ScoreRecord(path=name, score=0.5, level="fair", input={"size_bytes": 1, "mtime": 2.0})
    bad = error_score_record(name, "corrupt_container", f"{name}: not a video container")
    return [ok, bad]


@pytest.mark.parametrize("name", FORMULA_NAMES)
def test_csv_cells_never_start_a_formula(name):
    text = _render("csv", _records(name))
    for row in csv.reader(io.StringIO(text, newline="")):
        assert not any(cell.startswith(FORMULA_START) for cell in row), row
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [csv_uncell(r["path"]) for r in rows] == [name, name]
    assert csv_uncell(rows[1]["error"]) == f"{name}: not a video container"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_format_is_valid_utf8_and_keeps_the_name(name):
    for fmt in ("json", "jsonl", "csv", "table"):
        _render(fmt, _records(name)).encode("utf-8")  # no lone surrogates
    lines = _render("jsonl", _records(name)).split("\n")
    objs = [json.loads(line) for line in lines if line]
    assert len(objs) == 2
    assert all(path_from_fields(o["path"], o["path_bytes"]) == name for o in objs)


# --- torn rows ------------------------------------------------------------------------------------
def _csv_text(names):
    return _render(
        "csv", [ScoreRecord(path=n, score=0.5, input={"size_bytes": 1, "mtime": 2.0}) for n in names]
    )


@pytest.mark.parametrize("torn_name", ["a\nb.mp4", 'x"\n"y.mp4', "p\n\nq.mp4", "plain.mp4", "=\n.mp4"])
def test_a_torn_last_csv_row_is_cut_at_the_record_boundary_wherever_it_tore(tmp_path, torn_name):
    whole = _csv_text(["first\nname.mp4", "second.mp4"]).encode()
    row = _csv_text([torn_name]).encode().split(b"\n", 1)[1]  # the row without the header
    out = tmp_path / "o.csv"
    for cut in range(len(row)):  # power loss after every possible byte
        out.write_bytes(whole + row[:cut])
        dropped = R.repair_tail(str(out), "csv")
        assert dropped == cut and out.read_bytes() == whole, cut
        assert [p for p, _ in R.read_rows(R.OutputSpec(str(out), "csv"))] == ["first\nname.mp4", "second.mp4"]
    out.write_bytes(whole + row)  # complete: nothing dropped
    assert R.repair_tail(str(out), "csv") == 0
    assert R.read_rows(R.OutputSpec(str(out), "csv"))[-1][0] == torn_name


def test_jsonl_reader_splits_on_newline_only(tmp_path):
    out = tmp_path / "o.jsonl"
    names = SEPARATOR_NAMES
    out.write_text(
        _render("jsonl", [ScoreRecord(path=n, score=0.5) for n in names]), encoding="utf-8", newline=""
    )
    assert [p for p, _ in R.read_rows(R.OutputSpec(str(out), "jsonl"))] == names


# --- --resume finds the real path -----------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_resume_matches_every_hostile_name(tmp_path, fmt):
    folder = tmp_path / "videos"
    folder.mkdir()
    paths = []
    for name in ALL_NAMES:
        path = os.path.join(os.fsencode(folder), os.fsencode(name))
        with open(path, "wb") as fh:
            fh.write(b"0123")
        paths.append(os.fsdecode(path))
    recs = []
    for p in paths:
        stat = os.stat(p)
        recs.append(
            ScoreRecord(path=p, score=0.5, input={"size_bytes": stat.st_size, "mtime": stat.st_mtime})
        )
    out = tmp_path / f"o.{fmt}"
    with open(out, "w", encoding="utf-8", newline="") as fh:  # strict UTF-8: the rows must need nothing else
        w = make_writer(fmt, fh, "score")
        for r in recs:
            w.write(r)
    index = R.DoneIndex()
    index.add_file(R.OutputSpec(str(out), fmt))
    for p in paths:
        stat = os.stat(p)
        assert index.match(p, (stat.st_size, stat.st_mtime), retry_errors=False) is not None, repr(p)
    assert len(index.rows) == len(paths)  # one row per path: none read twice or lost


def test_score_columns_end_with_path_bytes():
    # appended after the earlier last column (error); columns added later (decoded_frames) come after it
    assert SCORE_COLUMNS[SCORE_COLUMNS.index("error") + 1 :][:2] == ("path_bytes", "decoded_frames")


# --- end to end: the reproductions ----------------------------------------------------------------
def test_batch_and_resume_with_hostile_names(tiny_model_dir, make_clip, tmp_path, capsys):
    """Formula names, a U+2028 name, a quoted newline and a non-UTF-8 name: batch writes valid UTF-8 CSV and
    JSONL without formula cells, and --resume finds every file done."""
    import shutil

    from vqa2cli.cli.app import main

    clip = make_clip("hostile.mp4", seconds=1.0, fps=8, width=64, height=48)
    folder = tmp_path / "v"
    folder.mkdir()
    names = [
        b'=HYPERLINK("http:x","y").mp4',
        b"+1+1.mp4",
        b"@SUM(1+1).mp4",
        b"-2+3.mp4",
        "a\u2028b.mp4".encode(),
        b"new\nline.mp4",
        b"caf\xe9.mp4",
    ]
    for raw in names:
        shutil.copy(clip, os.path.join(os.fsencode(folder), raw))
    out_csv, out_jsonl = tmp_path / "s.csv", tmp_path / "s.jsonl"
    args = [
        "batch",
        str(folder),
        "--csv",
        str(out_csv),
        "--jsonl",
        str(out_jsonl),
        "-m",
        str(tiny_model_dir),
        "--workers",
        "0",
    ]

    def run(extra):
        with pytest.raises(SystemExit) as exc:
            main(args + extra)
        return exc.value.code, capsys.readouterr().err

    code, err = run([])
    assert code == 0, err
    text = out_csv.read_bytes().decode("utf-8")  # strict
    cells = [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]
    assert not any(c.startswith(FORMULA_START) for c in cells)
    objs = [json.loads(line) for line in out_jsonl.read_bytes().decode("utf-8").split("\n") if line]
    want = sorted(os.fsdecode(os.path.join(os.fsencode(folder), raw)) for raw in names)
    assert sorted(path_from_fields(o["path"], o["path_bytes"]) for o in objs) == want
    assert [o["path_bytes"] for o in objs if o["path"].endswith("caf\\xe9.mp4")] == [
        os.fsencode(os.path.join(os.fsencode(folder), b"caf\xe9.mp4")).hex()
    ]
    whole = out_csv.read_bytes()
    with open(out_csv, "ab") as fh:  # power loss inside a quoted newline of the next row
        fh.write(b'"' + os.fsencode(folder) + b"/torn\n")
    code, err = run(["--resume"])
    assert code == 0 and f"{len(names)} already done" in err and "0 ok, 0 failed" in err, err
    assert "dropped a torn last line" in err and out_csv.read_bytes() == whole


def test_probe_json_with_a_non_utf8_name_is_valid(make_clip, tmp_path, capsys):
    import shutil

    from vqa2cli.cli.app import main

    clip = make_clip("probe-raw.mp4", seconds=1.0, fps=8, width=64, height=48)
    raw = os.path.join(os.fsencode(tmp_path), b"\xff=x.mp4")
    shutil.copy(clip, raw)
    for fmt in ("json", "table"):
        with pytest.raises(SystemExit) as exc:
            main(["probe", os.fsdecode(raw), "--format", fmt])
        out, err = capsys.readouterr()
        assert exc.value.code == 0, err
        out.encode("utf-8")
    with pytest.raises(SystemExit):
        main(["probe", os.fsdecode(raw), "--format", "json"])
    row = json.loads(capsys.readouterr().out)[0]
    assert path_from_fields(row["path"], row["path_bytes"]) == os.fsdecode(raw)
