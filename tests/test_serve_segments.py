"""`vqa2 serve` scores in windows exactly as the CLI does: a real uvicorn server (loopback, ephemeral
port, the tiny model) compared with the in-process commands on a 6.5 s clip split into 2 s windows (kept
fast), a clip over the model's limits (windows by policy), the `segments`/`pool` options' 422 refusals,
and the client's window gates and outputs (--fail-segment-under, --segments-csv, --plot, batch
--segments-csv --resume, ask --segments)."""

from __future__ import annotations

import csv
import json
import os

import pytest

pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("prometheus_client")

from test_serve import run  # noqa: E402

pytestmark = pytest.mark.e2e  # a real uvicorn server in another process

TIMING = ("timing", "decode_s", "infer_s", "estimated_memory_gb")  # wall clock; the load-time memory estimate


def untimed(value):
    """A record (or list of them) without its wall-clock fields, window entries included."""
    if isinstance(value, list):
        return [untimed(v) for v in value]
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMING}
    return value


@pytest.fixture(scope="module")
def files(windowed_server):
    """``long`` (52 lossless frames), ``config`` (small.toml), ``root``: the shared server's (tests/conftest.py)."""
    return windowed_server


@pytest.fixture(scope="module")
def url(windowed_server) -> str:
    return windowed_server["url"]


def local(tiny_model_dir, files):
    return ["-m", str(tiny_model_dir), "--config", str(files["config"])]


@pytest.mark.parametrize("flags", [["--segments", "2s", "--pool", "p5"], ["--max-motion-frames", "8"]])
def test_windowed_record_equals_in_process(url, tiny_model_dir, files, capsys, flags):
    """--segments 2s (windows asked for), and a clip over --max-motion-frames (windows by the policy)."""
    clip = str(files["long"])
    code, mine, err = run(["score", clip, "-f", "json", "-q", *flags, *local(tiny_model_dir, files)], capsys)
    assert code == 0, err
    code, theirs, err = run(["score", clip, "-f", "json", "-q", *flags, "--server", url], capsys)
    assert code == 0, err
    mine, theirs = json.loads(mine), json.loads(theirs)
    assert untimed(theirs) == untimed(mine)
    record = theirs[0]
    assert record["sampling"]["segments_reason"] == ("requested" if "--segments" in flags else "over-limits")
    assert record["segments"] and record["worst"] and record["pooled"]
    assert record["score"] == record["pooled"]["p5" if "--pool" in flags else "weighted_mean"]
    if "--segments" in flags:
        assert [s["end_s"] for s in record["segments"]] == [2.0, 4.0, 6.5]
    import httpx  # the raw API: the same options by name, the same record

    options = {"segments": 2, "pool": "min"}  # a bare number is seconds, as `--segments 2`
    response = httpx.post(f"{url}/v1/score", json={"path": clip, "options": options}, timeout=120)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["segments"]) == 3 and body["score"] == body["pooled"]["min"] == body["worst"]["score"]


@pytest.mark.parametrize(
    "flags, option",
    [
        (["--pool", "bogus"], {"pool": "bogus"}),
        (["--segments", "0s"], {"segments": "0s"}),
        (["--segments", "2s", "--stalling", "0101"], None),
    ],
)
def test_bad_window_options_422_with_the_cli_line(url, tiny_model_dir, files, capsys, flags, option):
    import httpx

    clip = str(files["long"])
    code, _, mine = run(["score", clip, *flags, *local(tiny_model_dir, files)], capsys)
    assert code == 2 and mine.startswith("Error: ")
    code, out, theirs = run(["score", clip, *flags, "--server", url], capsys)
    assert (code, out) == (2, "") and theirs == mine
    if option is not None:
        response = httpx.post(f"{url}/v1/score", json={"path": clip, "options": option}, timeout=30)
        assert response.status_code == 422
        assert "Error: " + response.json()["error"]["message"] == mine.strip()


def test_segment_gate_csv_and_plot_through_server(url, tiny_model_dir, files, tmp_path, capsys):
    clip = str(files["long"])
    code, out, _ = run(["score", clip, "-f", "json", "--segments", "2s", "--server", url], capsys)
    worst = json.loads(out)[0]["worst"]
    limit = f"{worst['score'] + 1e-4:.6f}"
    for where in (local(tiny_model_dir, files), ["--server", url]):
        seg_csv, plot = tmp_path / f"w{len(where)}.csv", tmp_path / f"p{len(where)}.png"
        code, _, err = run(
            [
                "score",
                clip,
                "--segments",
                "2s",
                "--fail-segment-under",
                limit,
                "--segments-csv",
                str(seg_csv),
                "--plot",
                str(plot),
                *where,
            ],
            capsys,
        )
        assert code == 1, err
        assert f"{clip} 00:00:0" in err and "--fail-segment-under" in err
        assert plot.stat().st_size > 5000
    with open(tmp_path / "w4.csv") as a, open(tmp_path / "w2.csv") as b:
        assert list(csv.DictReader(a)) == list(csv.DictReader(b))  # the same rows, one per window
    code, _, err = run(["score", clip, "--fail-segment-under", "0", "--server", url, "-q"], capsys)
    assert code == 0, err  # the gate implies --segments auto: one 10 s window here, nothing below 0


def test_batch_segments_csv_through_server_resumes(url, tiny_model_dir, files, tmp_path, capsys):
    clip = str(files["long"])
    seg_csv, rows_csv = tmp_path / "w.csv", tmp_path / "s.csv"
    args = [
        "batch",
        clip,
        "--csv",
        str(rows_csv),
        "--segments",
        "2s",
        "--segments-csv",
        str(seg_csv),
        "--server",
        url,
        "-q",
    ]
    code, _, err = run(args + ["--fail-segment-under", "1.0"], capsys)
    assert code == 1 and "have a window below --fail-segment-under" in err
    with open(seg_csv) as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["path"], r["index"]) for r in rows] == [(clip, "0"), (clip, "1"), (clip, "2")]
    os.remove(rows_csv)  # the file is scored again; its windows are already in the CSV: no duplicate rows
    code, _, err = run(args + ["--resume"], capsys)
    assert code == 0, err
    with open(seg_csv) as fh:
        assert list(csv.DictReader(fh)) == rows


def test_ask_segments_equal_in_process(url, tiny_model_dir, files, capsys):
    args = ["ask", str(files["long"]), "Is there stutter?", "--max-new-tokens", "2", "--segments", "2s", "-q"]
    code, mine, err = run(args + ["-f", "json", *local(tiny_model_dir, files)], capsys)
    assert code == 0, err
    code, theirs, err = run(args + ["-f", "json", "--server", url], capsys)
    assert code == 0, err
    assert untimed(json.loads(theirs)) == untimed(json.loads(mine))
    assert [r["segment"]["index"] for r in json.loads(theirs)] == [0, 1, 2]
    code, table, _ = run(args + ["--server", url], capsys)
    assert code == 0 and table.startswith("[00:00:00–00:00:02]\nQ: Is there stutter?\nA: ")
