"""Live inputs (docs/live.md): a pipe scored window by window as it arrives. The windows are those of
`score --segments` on the same complete file (same frames, same numbers); the first window's row comes out
before the writer has finished; --duration ends a run on a source that never ends; a pipe closed early, one
with nothing decodable, a stall and a bad --duration fail by their kind; --server refuses a live input."""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cli_run import run

from vqa2cli.video.planning import sampling_args
from vqa2cli.video.segments import plan_windows

ROOT = Path(__file__).resolve().parent.parent
GATE_S = 120  # a safety net only: the tests assert on the order of events, never on a time
HELD_BACK = 300  # bytes a slow writer holds back: the last frame or two and the index, never a whole window


def _stdin(monkeypatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def _untimed(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k not in ("timing", "path", "input")}
    out["model"] = {k: v for k, v in record["model"].items() if k != "estimated_memory_gb"}
    out["segments"] = [
        {k: v for k, v in s.items() if k not in ("decode_s", "infer_s")} for s in out["segments"]
    ]
    return out


# -- the planner: the one window rule, fed frame by frame --------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 23, 24, 31, 40, 47, 100])
@pytest.mark.parametrize("window_s", [1.0, 2.5])
def test_live_windows_are_the_window_rule_of_the_complete_clip(n, window_s):
    from vqa2cli.config import Settings
    from vqa2cli.video.live import LiveWindows

    sampling = sampling_args(Settings().video, token_budget=None)
    windows = LiveWindows(8.0, window_s, sampling)
    got_before_end = []
    for seen in range(1, n + 1):
        windows.seen(seen)
        got_before_end.append(len(windows))
    windows.end(n, n / 8.0)
    assert tuple(windows) == plan_windows(n, 8.0, window_s, duration_s=n / 8.0, **sampling)
    assert got_before_end == sorted(got_before_end)  # final windows only ever added


def test_live_windows_stop_at_the_limit_and_never_plan_past_it():
    from vqa2cli.config import Settings
    from vqa2cli.video.live import LiveWindows, limit_frames

    sampling = sampling_args(Settings().video, token_budget=None)
    windows = LiveWindows(8.0, 1.0, sampling, limit_frames=limit_frames(2.0, 8.0))
    for seen in range(1, 100):
        windows.seen(seen)
    assert windows.full and [(w.start, w.stop, w.end_s) for w in windows] == [(0, 8, 1.0), (8, 16, 2.0)]


# -- the CLI on stdin -------------------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["mkv", "ts"])  # Matroska, and MPEG-TS: no frame rate in a header
def test_live_stdin_equals_score_segments_of_the_file(
    container, reuse_tiny_scorer, tiny_model_dir, make_clip, capsys, monkeypatch
):
    clip = make_clip(f"live.{container}", container=container, seconds=3)
    args = ["-m", str(tiny_model_dir), "--segments", "1s", "-q"]
    code, out, err = run(["score", str(clip), *args, "-f", "json"], capsys)
    assert code == 0, err
    (local,) = json.loads(out)
    _stdin(monkeypatch, clip.read_bytes())
    code, out, err = run(["score", "-", *args, "-f", "jsonl"], capsys)
    assert code == 0, err
    *rows, last = [json.loads(line) for line in out.splitlines()]
    assert last["path"] == "-" and _untimed(last) == _untimed(local)  # same windows, frames, numbers
    assert {k: v for k, v in last["input"].items()} == {
        k: v for k, v in local["input"].items() if k != "mtime"
    }
    assert [(r["index"], r["start_s"], r["end_s"], r["score"]) for r in rows] == [
        (s["index"], s["start_s"], s["end_s"], s["score"]) for s in local["segments"]
    ]  # each window's row on stdout, before the pooled record
    assert all(r["mtime"] is None and r["size_bytes"] is None for r in rows)  # JSON null, not CSV's ""


def test_live_table_rows_and_segments_csv(
    reuse_tiny_scorer, tiny_model_dir, make_clip, capsys, monkeypatch, tmp_path
):
    import csv

    clip = make_clip("live.mkv", container="mkv", seconds=3)
    _stdin(monkeypatch, clip.read_bytes())
    rows_csv = tmp_path / "w.csv"
    code, out, err = run(
        ["score", "-", "--segments", "1s", "--segments-csv", str(rows_csv), "-m", str(tiny_model_dir), "-q"],
        capsys,
    )
    assert code == 0, err
    lines = out.splitlines()
    windows = [i for i, line in enumerate(lines) if " window " in line]
    header = next(i for i, line in enumerate(lines) if line.startswith("SCORE"))
    assert len(windows) == 3 and max(windows) < header  # each window's line before the pooled record
    with open(rows_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    from vqa2cli.records.cells import csv_uncell

    assert [csv_uncell(r["path"]) for r in rows] == ["-"] * 3 and [r["index"] for r in rows] == list("012")


def test_duration_on_a_file_scores_its_first_seconds(reuse_tiny_scorer, tiny_model_dir, make_clip, capsys):
    clip = make_clip("live.mkv", container="mkv", seconds=3)
    args = ["-m", str(tiny_model_dir), "--segments", "1s", "-q", "-f", "json"]
    code, out, err = run(["score", str(clip), *args], capsys)
    (whole,) = json.loads(out)
    code, out, err = run(["score", str(clip), *args, "--duration", "2"], capsys)
    assert code == 0, err
    (first,) = json.loads(out)
    assert first["path"] == str(clip) and first["input"]["n_frames"] == 16
    assert first["input"]["decoded_frames"] == 16 and first["input"]["mtime"] == whole["input"]["mtime"]
    assert [s["score"] for s in first["segments"]] == [s["score"] for s in whole["segments"][:2]]
    assert first["sampling"]["duration_limit_s"] == 2.0


def test_a_file_beside_stdin_is_scored_as_any_file(
    reuse_tiny_scorer, tiny_model_dir, make_clip, capsys, monkeypatch
):
    clip = make_clip("live.mkv", container="mkv", seconds=3)
    args = ["-m", str(tiny_model_dir), "--segments", "1s", "-q", "-f", "json"]
    code, out, err = run(["score", str(clip), *args], capsys)
    (alone,) = json.loads(out)
    _stdin(monkeypatch, clip.read_bytes())
    code, out, err = run(["score", str(clip), "-", *args], capsys)
    assert code == 0, err
    beside, piped = json.loads(out)
    assert _untimed(beside) == _untimed(alone) and beside["input"] == alone["input"]
    assert piped["path"] == "-" and _untimed(piped) == _untimed(alone)


def test_duration_alone_implies_the_cards_window(reuse_tiny_scorer, tiny_model_dir, make_clip, capsys):
    clip = make_clip("live.mkv", container="mkv", seconds=3)
    code, out, err = run(
        ["score", str(clip), "-m", str(tiny_model_dir), "-q", "-f", "json", "--duration", "2"], capsys
    )
    (record,) = json.loads(out)
    assert code == 0 and record["sampling"]["window_s"] == 10.0  # --segments auto: video.segment_s
    assert [(s["start_frame"], s["end_frame"]) for s in record["segments"]] == [(0, 16)]


def test_past_the_size_cap_is_one_line_exit_3(
    reuse_tiny_scorer, tiny_model_dir, make_clip, capsys, monkeypatch
):
    from vqa2cli.inputs.stdin import STDIN_MAX_GB_ENV

    clip = make_clip("live.mkv", container="mkv", seconds=3)
    monkeypatch.setenv(STDIN_MAX_GB_ENV, "0.000001")  # 1000 bytes
    _stdin(monkeypatch, clip.read_bytes())
    code, out, err = run(["score", "-", "--segments", "1s", "-m", str(tiny_model_dir), "-f", "json"], capsys)
    (record,) = json.loads(out)
    assert code == 3 and record["path"] == "-" and "1e-06 GB cap" in record["error"]["message"]
    assert err.count("Error:") == 1


@pytest.mark.parametrize("value", ["0", "-1", "abc", "auto", "0s"])
def test_bad_duration_is_one_line_exit_2(value, capsys):
    code, out, err = run(["score", "x.mkv", "--duration", value], capsys)
    assert code == 2 and out == "" and "--duration" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "data, code", [(b"not a video at all" * 300, "corrupt_container"), (b"", "empty_file")]
)
def test_nothing_decodable_is_one_line_exit_3(data, code, tiny_model_dir, capsys, monkeypatch):
    _stdin(monkeypatch, data)
    args = ["score", "-", "--segments", "1s", "-m", str(tiny_model_dir), "-f", "json"]
    exit_code, out, err = run(args, capsys)
    (record,) = json.loads(out)
    assert exit_code == 3 and err.count("Error:") == 1 and "Loading" not in err
    assert (
        record["path"] == "-"
        and record["error"]["code"] == code
        and record["error"]["message"].startswith("-: ")
    )
    assert "vqa2-live-" not in out + err


def test_a_pipe_closed_mid_window_keeps_the_tail_rule(
    reuse_tiny_scorer, tiny_model_dir, make_clip, capsys, monkeypatch
):
    clip = make_clip("live.mkv", container="mkv", seconds=3)
    data = clip.read_bytes()
    _stdin(monkeypatch, data[: len(data) // 2])
    code, out, err = run(
        ["score", "-", "--segments", "1s", "-m", str(tiny_model_dir), "-q", "-f", "json"], capsys
    )
    (record,) = json.loads(out)
    assert code == 0 and record["status"] == "ok" and record["segments"]
    ends = [s["end_frame"] - s["start_frame"] for s in record["segments"]]
    assert all(n >= 8 for n in ends)  # a tail under one key-frame step joined the window before


def test_live_with_server_is_refused_before_anything_is_sent(capsys, monkeypatch):
    _stdin(monkeypatch, b"not read")
    for extra in (["-", "--segments", "1s"], ["clip.mkv", "--duration", "2"]):
        code, out, err = run(["score", *extra, "--server", "http://127.0.0.1:9"], capsys)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert sys.stdin.buffer.read() == b"not read"


# -- the API: a pipe, a stall ---------------------------------------------------------------------------


def _slow_pipe(data: bytes, first: int, gate: threading.Event, events: list):
    """A pipe: ``first`` bytes written at once, the rest once ``gate`` is set (or the safety net passed)."""
    r, w = os.pipe()

    def writer():
        with os.fdopen(w, "wb") as out:
            out.write(data[:first])
            out.flush()
            gate.wait(GATE_S)
            out.write(data[first:])
        events.append("writer done")

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    return os.fdopen(r, "rb", buffering=0), thread


def test_api_scores_a_window_before_the_writer_finishes(tiny_scorer, make_clip):
    from vqa2cli.jobs.live_run import score_stream

    clip = make_clip("live.mkv", container="mkv", seconds=3)
    data, gate, events = clip.read_bytes(), threading.Event(), []

    def on_window(name, entry):
        events.append(("window", entry["index"]))
        gate.set()

    pipe, thread = _slow_pipe(data, len(data) - HELD_BACK, gate, events)
    record = score_stream(tiny_scorer, pipe, segments="1s", on_window=on_window)
    thread.join()
    assert events.index(("window", 0)) < events.index("writer done")
    whole = tiny_scorer.configure(window_s=1.0).score(str(clip))
    assert record.ok and record.segments == [
        {**s, "decode_s": r["decode_s"], "infer_s": r["infer_s"]}
        for s, r in zip(whole.segments, record.segments)
    ]


def test_api_a_stall_keeps_the_windows_and_fails_in_one_line(tiny_scorer, make_clip, monkeypatch):
    from vqa2cli.inputs.live import TIMEOUT_ENV
    from vqa2cli.jobs.live_run import score_stream

    monkeypatch.setenv(TIMEOUT_ENV, "1")
    clip = make_clip("live.mkv", container="mkv", seconds=3)
    data, gate, events = clip.read_bytes(), threading.Event(), []
    pipe, thread = _slow_pipe(data, len(data) - HELD_BACK, gate, events)
    scored = []
    record = score_stream(tiny_scorer, pipe, segments="1s", on_window=lambda n, e: scored.append(e["index"]))
    gate.set()
    thread.join()
    assert record.status == "error" and "stalled" in record.error and TIMEOUT_ENV in record.error
    assert scored and scored == sorted(scored)  # the windows before the stall were scored and handed over


@pytest.mark.parametrize("fraction", [0.25, 0.6])
def test_a_stall_before_the_first_window_is_the_stall_line_not_an_internal_error(
    tiny_scorer, make_clip, monkeypatch, fraction
):
    """A stream that stalls inside its first window (no window planned yet): the stall's one line, no
    internal error (a plan iterator that ends before its first plan; newcomer finding)."""
    from vqa2cli.inputs.live import TIMEOUT_ENV
    from vqa2cli.jobs.live_run import score_stream

    monkeypatch.setenv(TIMEOUT_ENV, "1")
    data, gate, events = make_clip("live.mkv", container="mkv", seconds=3).read_bytes(), threading.Event(), []
    pipe, thread = _slow_pipe(data, int(len(data) * fraction), gate, events)
    scored = []
    record = score_stream(tiny_scorer, pipe, segments="1s", on_window=lambda n, e: scored.append(e["index"]))
    gate.set()
    thread.join()
    assert record.status == "error" and "stalled" in record.error and TIMEOUT_ENV in record.error, (
        record.error
    )


def test_api_a_url_is_remuxed_as_it_arrives_with_the_same_windows(tiny_scorer, make_clip):
    """A URL (loopback HTTP): PyAV demuxes it, packets are copied into the live copy; same windows and
    numbers as the file; the record names the URL without its credentials."""
    import functools
    import http.server

    from vqa2cli.jobs.live_run import score_stream

    clip = make_clip("live.mkv", container="mkv", seconds=3)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(clip.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://user:secret@127.0.0.1:{server.server_address[1]}/{clip.name}"
        record = score_stream(tiny_scorer, url, segments="1s")
    finally:
        server.shutdown()
    whole = tiny_scorer.configure(window_s=1.0).score(str(clip))
    assert record.ok, record.error
    assert "secret" not in record.path and record.path.startswith("http://127.0.0.1:")
    assert [s["score"] for s in record.segments] == [s["score"] for s in whole.segments]


@pytest.mark.e2e
def test_api_an_hls_playlist_without_endlist_is_scored_until_duration(tiny_scorer, tmp_path):
    """A live HLS playlist (no #EXT-X-ENDLIST, ffmpeg -re still writing it) served on loopback: scored as it
    arrives, ended by ``duration``; the windows are those before 2 s."""
    import functools
    import http.server
    import time

    from ffmpeg_cli import require_ffmpeg

    from vqa2cli.jobs.live_run import score_stream

    ffmpeg = require_ffmpeg("to make a live HLS stream")
    source = subprocess.Popen(
        [ffmpeg, "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=8", "-c:v"]
        + ["libx264", "-g", "8", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0"]
        + ["-hls_playlist_type", "event", str(tmp_path / "live.m3u8")]
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for _ in range(GATE_S * 10):  # the playlist names its first segment
            if (tmp_path / "live.m3u8").exists() and "live0.ts" in (tmp_path / "live.m3u8").read_text():
                break
            time.sleep(0.1)
        url = f"http://127.0.0.1:{server.server_address[1]}/live.m3u8"
        record = score_stream(tiny_scorer, url, segments="1s", duration="2")
        still_writing = source.poll() is None
    finally:
        server.shutdown()
        source.kill()
        source.wait()
    assert record.ok, record.error
    assert still_writing and "#EXT-X-ENDLIST" not in (tmp_path / "live.m3u8").read_text()
    assert [(s["start_s"], s["end_s"]) for s in record.segments] == [(0.0, 1.0), (1.0, 2.0)]


# -- real processes: a slow pipe's first row, an endless source ended by --duration -------------------------


def _vqa2(args, tiny_model_dir, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "vqa2cli", "score", *args, "-m", str(tiny_model_dir), "-q"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


@pytest.mark.e2e
def test_rows_come_as_an_endless_source_plays_and_duration_ends_it(tiny_model_dir):
    """`ffmpeg -re -f lavfi -i testsrc ... -f matroska - | vqa2 score - --duration 2 --segments 1s`: the first
    window's row is read while ffmpeg is still writing (it never ends by itself); the run ends at 2 s with
    exit 0 and only the windows before 2 s."""
    from ffmpeg_cli import require_ffmpeg

    ffmpeg = require_ffmpeg("to make an endless stream")
    source = subprocess.Popen(
        [ffmpeg, "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=8"]
        + ["-c:v", "mpeg4", "-g", "8", "-f", "matroska", "-"],
        stdout=subprocess.PIPE,
    )
    try:
        args = ["-", "--duration", "2", "--segments", "1s", "-f", "jsonl"]
        proc = _vqa2(args, tiny_model_dir, stdin=source.stdout)
        source.stdout.close()
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
        first = json.loads(lines.get(timeout=GATE_S))
        writer_running = source.poll() is None  # the writer has not finished: it never does by itself
        code = proc.wait(GATE_S)
    finally:
        source.kill()
        source.wait()
    assert code == 0, proc.stderr.read().decode()[-2000:]
    assert writer_running and first["path"] == "-" and first["index"] == 0 and first["start_s"] == 0.0
    second, record = (json.loads(lines.get(timeout=GATE_S)) for _ in range(2))
    assert (second["start_s"], second["end_s"]) == (1.0, 2.0) and lines.empty()
    assert [(s["start_s"], s["end_s"]) for s in record["segments"]] == [(0.0, 1.0), (1.0, 2.0)]
    assert record["input"]["n_frames"] == record["input"]["decoded_frames"] == 16
