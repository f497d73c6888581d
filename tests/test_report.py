"""`vqa2 report`: JSONL score records → one self-contained HTML page (the page in a browser:
tests/test_report_browser.py). Exit codes and one-line errors as declared (errors.COMMAND_EXIT_CODES)."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

import pytest
from cli_run import run
from clips import make_lossless_frames
from report_pages import HOSTILE, PageText, sample_records, scored, write_jsonl

import vqa2cli
from vqa2cli.jobs.windows import plot_name
from vqa2cli.records.cells import table_text


def test_page_lists_every_file_escaped_with_links(tmp_path, capsys):
    records = sample_records()
    write_jsonl(
        tmp_path / "s.jsonl",
        records,
        {HOSTILE: {"spread": 0.125}, "clip a.mp4": {"spread": {"entropy": 0.9, "stdev": 0.25}}},
    )
    code, out, err = run(["report", str(tmp_path / "s.jsonl"), "--html", str(tmp_path / "r.html")], capsys)
    assert code == 0, err
    assert out == ""  # the page is the result; one line on stderr says where
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    seen = PageText(page)
    assert seen.scripts == 1  # the page's own sorting script; no name became markup
    assert seen.links == [table_text(r.path) for r in records]
    exact = os.fsencode(os.path.abspath(records[2].path))  # the name's real bytes, from path_bytes
    assert seen.hrefs[2] == "file://" + urllib.parse.quote(exact)
    assert "gone.mp4: no such file" in page and "file_missing" in page
    assert 'data-v="0.125"' in page and 'data-v="0.25"' in page  # the optional spread field, sortable
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_plot_dir_pictures_of_a_real_batch_are_embedded(tiny_model_dir, tmp_path, capsys):
    clip, plots, config = tmp_path / "a.mkv", tmp_path / "plots", tmp_path / "small.toml"
    make_lossless_frames(clip, 0, 24)
    plots.mkdir()
    config.write_text("[video]\nmotion_size = 64\n")
    code, _, err = run(
        [
            "batch",
            str(clip),
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
            "--jsonl",
            str(tmp_path / "s.jsonl"),
        ],
        capsys,
    )
    assert code == 0, err
    assert os.path.exists(plot_name(str(plots), str(clip)))
    html = tmp_path / "r.html"
    code, _, err = run(
        ["report", str(tmp_path / "s.jsonl"), "--html", str(html), "--plot-dir", str(plots)], capsys
    )
    assert code == 0, err
    seen = PageText(html.read_text(encoding="utf-8"))
    assert len(seen.images) == 1 and seen.images[0].startswith("data:image/png;base64,iVBORw0KGgo")
    assert seen.hrefs == [clip.as_uri()]


def test_bad_inputs_and_outputs_are_one_line_with_the_declared_code(tmp_path, capsys):
    good = tmp_path / "good.jsonl"
    write_jsonl(good, sample_records()[:1])
    html = tmp_path / "r.html"
    cases = {
        "missing.jsonl": None,
        "answers.jsonl": json.dumps({"schema": "vqa2.answer/1", "path": "a.mp4"}) + "\n",
        "broken.jsonl": good.read_text(encoding="utf-8") + "\n{not json\n",
        "latin1.jsonl": b'{"schema": "vqa2.score/1", "path": "\xe9.mp4"}\n',
        "nan.jsonl": '{"schema": "vqa2.score/1", "path": "a.mp4", "score": NaN}\n',
        "segments.jsonl": '{"schema": "vqa2.score/1", "path": "a.mp4", "segments": [1, 2]}\n',
        "path.jsonl": '{"schema": "vqa2.score/1", "path": 7}\n',
        "nopath.jsonl": '{"schema": "vqa2.score/1"}\n',
        "worst.jsonl": '{"schema": "vqa2.score/1", "path": "a.mp4", "worst": "0.2"}\n',
    }
    lines = {name: 3 if name == "broken.jsonl" else 1 for name in cases if name != "missing.jsonl"}
    for name, body in cases.items():
        if body is not None:
            (tmp_path / name).write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
        code, out, err = run(["report", str(good), str(tmp_path / name), "--html", str(html)], capsys)
        assert code == 3 and out == "" and len(err.strip().splitlines()) == 1, (name, err)
        assert str(tmp_path / name) in err and (name not in lines or f"line {lines[name]} " in err), err
        assert not html.exists()
    html.write_text("keep")
    code, _, err = run(["report", str(good), "--html", str(html)], capsys)
    assert code == 2 and "--overwrite" in err and html.read_text() == "keep"
    code, _, err = run(["report", str(good), "--html", str(html), "--overwrite"], capsys)
    assert code == 0 and "<table" in html.read_text(encoding="utf-8")
    code, _, err = run(["report", str(good), "--html", str(tmp_path / "no" / "r.html")], capsys)
    assert code == 5 and "no/r.html" in err and not (tmp_path / "no").exists()
    assert sorted(os.listdir(tmp_path)) == sorted(["good.jsonl", "r.html", *[n for n in cases if cases[n]]])


def test_the_last_line_of_a_file_wins_and_files_keep_their_order(tmp_path):
    first, again = scored("a.mp4", [0.2, 0.3]), scored("a.mp4", [0.8, 0.9])
    write_jsonl(tmp_path / "one.jsonl", [first, scored("b.mp4", [0.5, 0.5]), again])
    write_jsonl(tmp_path / "two.jsonl", [scored("a.mp4", [0.1, 0.1])])
    n = vqa2cli.report([str(tmp_path / "one.jsonl"), str(tmp_path / "two.jsonl")], str(tmp_path / "r.html"))
    assert n == 3
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert PageText(page).links == ["b.mp4", "a.mp4", "a.mp4"]
    assert "one.jsonl:3" in page and "one.jsonl:1<" not in page and "two.jsonl:1" in page
    with pytest.raises(vqa2cli.errors.UsageError, match="already exists"):
        vqa2cli.report([str(tmp_path / "one.jsonl")], str(tmp_path / "r.html"))


def test_an_unfinished_last_line_is_left_out_with_a_note_and_odd_values_stay_empty(tmp_path, capsys):
    odd = scored("odd.mp4", [0.5, 0.6])
    odd.worst = {"score": "low", "start_s": "x"}
    odd.segments.append({"index": 2, "start_s": "x", "end_s": 6.0, "score": 0.1})
    write_jsonl(tmp_path / "s.jsonl", [scored("a.mp4", [0.4, 0.6]), odd])
    with open(tmp_path / "s.jsonl", "a", encoding="utf-8") as stream:
        stream.write('{"schema": "vqa2.score/1", "path": "b.m')  # a batch still writing this line
    html = tmp_path / "r.html"
    code, _, err = run(["report", str(tmp_path / "s.jsonl"), "--html", str(html)], capsys)
    assert code == 0, err
    assert "line 3 is incomplete" in err
    page = html.read_text(encoding="utf-8")
    assert PageText(page).links == ["a.mp4", "odd.mp4"] and "line 3 is incomplete" in page
    code, _, err = run(
        [
            "report",
            str(tmp_path / "s.jsonl"),
            "--html",
            str(html),
            "--overwrite",
            "--plot-dir",
            str(tmp_path / "nope"),
        ],
        capsys,
    )
    assert code == 2 and "--plot-dir" in err and "not a folder" in err


def test_a_failed_write_keeps_the_old_page_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    from vqa2cli.errors import InputError, OutputError
    from vqa2cli.jobs import report as job

    write_jsonl(tmp_path / "s.jsonl", sample_records())
    html = tmp_path / "r.html"
    html.write_text("old page")
    html.chmod(0o600)
    (tmp_path / "bad.jsonl").write_text("[]\n")
    with pytest.raises(InputError, match="line 1"):
        vqa2cli.report([str(tmp_path / "s.jsonl"), str(tmp_path / "bad.jsonl")], str(html), overwrite=True)

    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(job.os, "replace", refuse)
    with pytest.raises(OutputError, match="r.html"):
        vqa2cli.report([str(tmp_path / "s.jsonl")], str(html), overwrite=True)
    assert html.read_text() == "old page"
    assert sorted(os.listdir(tmp_path)) == ["bad.jsonl", "r.html", "s.jsonl"]
    monkeypatch.undo()
    vqa2cli.report([str(tmp_path / "s.jsonl")], str(html), overwrite=True)
    assert html.stat().st_mode & 0o777 == 0o600 and "<table" in html.read_text(encoding="utf-8")


def test_each_hls_variant_of_one_manifest_is_its_own_row_named_by_its_variant(tmp_path):
    """score --variant all writes one record per rendition, all with the manifest's URL as path: the page
    keeps each (the last line wins per URL and variant) and says which variant a row is (newcomer finding)."""
    url = "https://cdn.example/master.m3u8"
    records = [scored(url, [0.3]), scored(url, [0.6]), scored(url, [0.9])]
    for record, variant in zip(records, (0, 1, 1)):
        record.origin = {
            "given": url,
            "kind": "hls",
            "variant": variant,
            "bandwidth": 100_000 * (variant + 1),
        }
    write_jsonl(tmp_path / "s.jsonl", records)
    assert vqa2cli.report([str(tmp_path / "s.jsonl")], str(tmp_path / "r.html")) == 2
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert sorted(PageText(page).links) == [f"{url} [variant 0, 100 kb/s]", f"{url} [variant 1, 200 kb/s]"]
    assert "s.jsonl:1" in page and "s.jsonl:3" in page and "s.jsonl:2" not in page


def test_urls_link_to_themselves_and_standard_input_has_no_link(tmp_path):
    records = [
        scored("HTTPS://cdn.example/a b.mp4", [0.5]),
        scored("-", [0.6]),
        scored("javascript:x()", [0.7]),
    ]
    write_jsonl(tmp_path / "s.jsonl", records)
    vqa2cli.report([str(tmp_path / "s.jsonl")], str(tmp_path / "r.html"))
    seen = PageText((tmp_path / "r.html").read_text(encoding="utf-8"))
    assert seen.hrefs == ["HTTPS://cdn.example/a%20b.mp4", Path(os.path.abspath("javascript:x()")).as_uri()]


@pytest.mark.parametrize(
    "url, href",
    [
        ("HTTPS://e.com/a b.mp4", "HTTPS://e.com/a%20b.mp4"),
        ('http://e.com/"q"<x>.mp4?a=1 2#t', "http://e.com/%22q%22%3Cx%3E.mp4?a=1%202#t"),
        ("https://e.com/café.mp4", "https://e.com/caf%C3%A9.mp4"),
        ("https://e.com/a%20b.mp4", "https://e.com/a%20b.mp4"),  # an escape kept, not doubled
        ("rtsp://cam.local/live stream", "rtsp://cam.local/live%20stream"),  # any URL input
    ],
)
def test_url_links_are_percent_encoded(url, href):
    from vqa2cli.output.report_html import file_url

    assert file_url(url) == href


def test_calibrated_values_and_explanations_are_shown_escaped(tmp_path):
    records = sample_records()
    explained = {"text": "<b>blocky</b> sky & banding", "question": "why?"}
    extra = {
        "clip a.mp4": {
            "calibrated": {"value": 3.75, "scale": "mos-1-5", "extrapolated": False},
            "explanation": explained,
        },
        HOSTILE: {"calibrated": {"value": 2.5, "scale": "mos-1-5", "extrapolated": True}},
    }
    write_jsonl(tmp_path / "s.jsonl", records, extra)
    vqa2cli.report([str(tmp_path / "s.jsonl")], str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'data-key="calibrated"' in page and "calibrated (mos-1-5)" in page  # a sortable column, its scale
    assert 'data-v="3.75">3.75 mos-1-5<' in page and 'data-v="2.5">2.50 mos-1-5<' in page
    assert "&lt;b&gt;blocky&lt;/b&gt; sky &amp; banding" in page and "<b>blocky" not in page
    windowed = scored("w.mp4", [0.7, 0.2, 0.9])
    windowed.segments[1]["explanation"] = {"text": "the worst window's text"}
    write_jsonl(tmp_path / "w.jsonl", [windowed, scored("plain.mp4", [0.5])])
    vqa2cli.report([str(tmp_path / "w.jsonl")], str(tmp_path / "w.html"))
    page = (tmp_path / "w.html").read_text(encoding="utf-8")
    assert "the worst window&#39;s text" in page
    assert 'data-key="calibrated"' not in page  # no record calibrated: no column


def test_an_empty_jsonl_is_said_on_stderr_and_on_the_page(tmp_path, capsys):
    (tmp_path / "empty.jsonl").write_text("")
    write_jsonl(tmp_path / "s.jsonl", [scored("a.mp4", [0.5])])
    args = ["report", str(tmp_path / "empty.jsonl"), "--html", str(tmp_path / "r.html")]
    code, out, err = run(args, capsys)
    assert code == 0 and f"no records in {tmp_path / 'empty.jsonl'}" in err  # a batch that found nothing
    assert "no records in" in (tmp_path / "r.html").read_text(encoding="utf-8")
    args = [
        "report",
        str(tmp_path / "s.jsonl"),
        str(tmp_path / "empty.jsonl"),
        "--html",
        str(tmp_path / "2.html"),
    ]
    code, out, err = run(args, capsys)
    assert code == 0 and err.count("no records in") == 1 and "empty.jsonl" in err


def test_score_records_round_trip_through_from_dict():
    from vqa2cli.records.results import ModelInfo, ScoreRecord

    records = sample_records()
    records[1].model = ModelInfo("ugc-scorer", "org/repo", "abc", "bf16", "none", "cpu", 3.5, None)
    records[1].timing, records[1].warnings, records[1].config = (
        {"infer_s": 1.25},
        ["vfr"],
        {"video": {"fps": 1}},
    )
    for record in records:
        data = json.loads(json.dumps(record.to_dict()))
        again = ScoreRecord.from_dict(data)
        assert again.path == record.path  # the real name, non-UTF-8 bytes included (path_bytes)
        assert again.to_dict() == record.to_dict()
    with pytest.raises(TypeError, match="segments"):
        ScoreRecord.from_dict({"path": "a.mp4", "segments": {"0": 1}})
