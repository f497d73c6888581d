"""Newcomer findings on `vqa2 compare` (issues 22 and 25 item 11): VFR windows cut by presentation time; a
gate or order check that cannot judge never passes silently; the server names the client's paths in every
string and refuses paths per file; a path given twice is one clear usage line."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_run import run
from ffmpeg_cli import ffmpeg, frame_times, needs_ffmpeg
from test_compare import StubScorer, _encode  # noqa: F401  (StubScorer: the stub fixture's scorer)

from vqa2cli.config import VideoSection


@pytest.fixture(scope="module")
def five(tmp_path_factory):
    """Three 5 s encodes of one source (8 fps, 64x48) and a copy."""
    root = tmp_path_factory.mktemp("cmpfix")
    made = {f"crf{c}": _encode(root / f"crf{c}.mp4", crf=c) for c in (20, 30)}
    made["copy"] = str(shutil.copy(made["crf20"], root / "copy_of_crf20.mp4"))
    made["root"] = root
    return made


@pytest.fixture
def stub(monkeypatch):
    from vqa2cli.pipeline.segmented import SegmentingScorer

    table: dict[str, list[float]] = {}

    def load(cls, settings, ref, *, offline=False, clips=None):
        return StubScorer(settings, table)

    monkeypatch.setattr(SegmentingScorer, "load", classmethod(load))
    return table


# 1. VFR windows follow presentation time -------------------------------------------------------------


@needs_ffmpeg
def test_vfr_windows_are_cut_at_every_window_of_presentation_time(tmp_path):
    """25 fps for 3 s, then every third frame (8.3 fps): 1 s windows must cut at 1, 2, 3, 4, 5 s of
    presentation time (within one frame), not at frame counts of the average rate (0.68, 2.04, 2.72 s)."""
    from vqa2cli.video.decode import decode_windows

    cfr = tmp_path / "cfr.mp4"
    vfr = tmp_path / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=6", "-c:v", "libx264", str(cfr))
    ffmpeg(
        "-i", str(cfr), "-vf", r"select='lt(n\,75)+not(mod(n\,3))'", "-fps_mode", "vfr",
        "-c:v", "libx264", str(vfr),
    )  # fmt: skip
    times = frame_times(vfr)  # ffmpeg's own presentation times: the yardstick
    video = VideoSection()
    stream = decode_windows(str(vfr), video, 1.0)
    assert stream.info.vfr
    windows = stream.windows
    assert len(windows) >= 5
    for w in windows[1:]:
        cut = 1.0 * w.index
        first = times[w.start] - times[0]
        before = times[w.start - 1] - times[0]
        assert before < cut - 1e-6 <= first + 1e-6, (w, before, first)  # the first frame at or after the cut
        assert w.start_s == pytest.approx(first, abs=1e-3)
    gaps = [b - a for a, b in zip(times, times[1:])]
    for w in windows[:-1]:  # each window spans the asked second, within one frame
        assert abs(w.duration_s - 1.0) <= max(gaps) + 1e-6


@needs_ffmpeg
def test_compare_pairs_a_vfr_rendition_window_for_window(tmp_path, stub, tiny_model_dir, capsys):
    """The run behind `vqa2 compare cfr vfr --segments 1s`: the VFR file's windows line up with the CFR
    file's one to one (not "too few windows")."""
    from vqa2cli.jobs.compare import plan_compare
    from vqa2cli.pipeline.paired import align_windows
    from vqa2cli.video.decode import decode_windows

    cfr, vfr = tmp_path / "cfr.mp4", tmp_path / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=6", "-c:v", "libx264", str(cfr))
    ffmpeg(
        "-i", str(cfr), "-vf", r"select='lt(n\,75)+not(mod(n\,3))'", "-fps_mode", "vfr",
        "-c:v", "libx264", str(vfr),
    )  # fmt: skip

    video = VideoSection()
    a = [{"start_s": w.start_s, "end_s": w.end_s} for w in decode_windows(str(cfr), video, 1.0).windows]
    b = [{"start_s": w.start_s, "end_s": w.end_s} for w in decode_windows(str(vfr), video, 1.0).windows]
    assert len(align_windows(a, b)) == 6
    plan = plan_compare([str(cfr), str(vfr)])
    assert any("variable frame rate" in w for w in plan.warnings)  # scoring itself: test_compare.py


# 2. a gate or order check that cannot judge ---------------------------------------------------------------


def test_gate_that_cannot_be_evaluated_exits_2_with_a_window_that_works(five, stub, tiny_model_dir, capsys):
    stub[five["crf20"]] = [0.9, 0.9]
    stub[five["crf30"]] = [0.1, 0.1]
    gate = ["--fail-if-worse-than", five["crf20"], "-m", str(tiny_model_dir)]
    # default --segments auto (10 s) on 5 s clips: refused before any scoring, with a --segments that works
    code, out, err = run(["compare", five["crf20"], five["crf30"], *gate], capsys)
    assert code == 2 and "cannot be evaluated" in err and "--segments 1s" in err and out == ""
    # windows asked short enough by the plan, but the scores came back in 2 windows: judged after scoring
    code, out, err = run(["compare", five["crf20"], five["crf30"], *gate, "--segments", "1s"], capsys)
    assert code == 2 and "could not be evaluated" in err and "already the shortest" in err
    assert "gate: not evaluated" in out and "--segments 2s" not in err  # never a longer window than asked
    # the hint fits the real duration and is never longer than asked
    from vqa2cli.pipeline.paired import MIN_WINDOWS, window_hint

    for duration in (5.0, 6.0, 8.9, 9.5, 23.0, 49.0, 50.0, 300.0):
        hint = window_hint(duration)
        assert hint is not None and duration // hint >= MIN_WINDOWS
    assert window_hint(4.0) is None


def test_order_check_says_not_checked_and_verdict_reflects_the_margin(five, stub, tiny_model_dir, capsys):
    stub[five["crf20"]] = [0.70, 0.71]
    stub[five["crf30"]] = [0.70, 0.69]
    code, out, err = run(
        ["compare", five["crf30"], five["crf20"], "-m", str(tiny_model_dir), "-f", "json"], capsys
    )
    check = json.loads(out)["order_check"]
    assert check["status"] == "not checked" and check["not_judged"] == 1 and check["judged"] == 0
    code, out, err = run(["compare", five["crf30"], five["crf20"], "-m", str(tiny_model_dir)], capsys)
    assert "bitrate order kept" not in out and "order check: not checked" in out
    # a "worse" verdict within the --by margin passes the gate and says so; zero prints as 0.0000
    stub[five["crf20"]] = [0.700, 0.710, 0.690, 0.700, 0.700]
    stub[five["crf30"]] = [0.695, 0.705, 0.686, 0.694, 0.696]
    code, out, err = run(
        ["compare", five["crf20"], five["crf30"], "-m", str(tiny_model_dir), "--segments", "1s"]
        + ["--fail-if-worse-than", five["crf20"], "--by", "0.02"],
        capsys,
    )
    assert code == 0 and "worse, within the --by 0.02 margin" in out, out
    from vqa2cli.output.compare_table import signed

    assert signed(-0.00001) == "0.0000" and signed(-0.5) == "-0.5000" and signed(0.25) == "+0.2500"


# 3./4./5. server: client's names everywhere, refusals per file, a path twice ------------------------------


def test_relabel_replaces_paths_inside_messages():
    from vqa2cli.records.cells import relabel_paths, relabel_text

    names = {"/proc/self/fd/1": "a.mp4", "/proc/self/fd/12": "b.mp4"}
    got = relabel_paths(
        {"path": "/proc/self/fd/12", "error": "/proc/self/fd/1: bad; /proc/self/fd/12 too", "w": ["x"]}, names
    )
    assert got == {"path": "b.mp4", "error": "a.mp4: bad; b.mp4 too", "w": ["x"]}
    assert relabel_text("/proc/self/fd/1.", names) == "a.mp4."


def test_a_path_given_twice_is_one_usage_line(five, tiny_model_dir, capsys):
    code, _, err = run(["compare", five["crf20"], five["crf20"], "-m", str(tiny_model_dir)], capsys)
    assert code == 2 and "given 2 times" in err and "at least two files" in err


@pytest.fixture
def server(five, tiny_model_dir, small_scorer_for, monkeypatch):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from vqa2cli.serve.app import ServeConfig, ServerState, create_app
    from vqa2cli.serve.queue import WorkQueue
    from vqa2cli.serve.security import resolve_roots

    scorer, config = small_scorer_for
    state = ServerState(
        ServeConfig(model=str(tiny_model_dir), config=config, roots=resolve_roots([five["root"]]))
    )
    state.sessions["score"] = scorer
    state.queue = WorkQueue(max_queue=2, workers=1)
    state.ready = True
    import httpx

    monkeypatch.setattr(
        httpx,
        "Client",
        lambda base_url, headers, timeout, **_transport: TestClient(
            create_app(state), base_url=base_url, headers=headers
        ),
    )
    try:
        yield TestClient(create_app(state))
    finally:
        state.queue.close(timeout=10)


@pytest.fixture(scope="module")
def small_scorer_for(tiny_model_dir, tmp_path_factory):
    import vqa2cli

    config = tmp_path_factory.mktemp("cmpfixcfg") / "small.toml"
    config.write_text("[video]\nmotion_size = 64\n")
    return vqa2cli.load_scorer(str(tiny_model_dir), settings={"video": {"motion_size": 64}}), config


def test_server_names_the_clients_paths_and_refuses_per_file(five, server, tmp_path, capsys):
    root = five["root"]
    (root / "garbage.mp4").write_bytes(b"not a video at all" * 100)
    outside = shutil.copy(five["crf20"], tmp_path / "outside.mp4")
    answer = server.post(
        "/v1/compare",
        json={
            "paths": ["crf20.mp4", "garbage.mp4", str(outside), "copy_of_crf20.mp4"],
            "options": {"segments": "2s"},
        },
    )
    assert answer.status_code == 200, answer.text
    assert "/proc/self/fd" not in answer.text and "<refused" not in answer.text
    files = answer.json()["files"]
    assert [f["status"] for f in files] == ["ok", "error", "error", "ok"]
    assert files[1]["path"] == str(root / "garbage.mp4") and "garbage.mp4" in files[1]["error"]
    assert files[2]["path"] == str(outside) and "outside the allowed roots" in files[2]["error"]
    twice = server.post("/v1/compare", json={"paths": ["crf20.mp4", "crf20.mp4"]})
    assert twice.status_code == 422 and "/proc/self/fd" not in twice.text and "crf20.mp4" in twice.text
    # the CLI client: the outside file is an error row, exit 3, the rest compared
    code, out, err = run(
        ["compare", five["crf20"], five["copy"], str(outside), "--server", "http://testserver"]
        + ["--segments", "2s", "-f", "json"],
        capsys,
    )
    assert code == 3, err
    report = json.loads(out)
    assert [f["status"] for f in report["files"]] == ["ok", "ok", "error"]
    assert report["files"][2]["path"] == str(outside) and report["pairs"][0]["delta"] == 0.0
    assert "/proc/self/fd" not in out + err


def test_score_route_names_the_clients_path_in_messages():
    """/v1/score's pinned-path records: the same rule (serve/jobs.relabel → relabel_text)."""
    from vqa2cli.records.results import error_score_record
    from vqa2cli.serve.jobs import relabel
    from vqa2cli.serve.requests import Input

    record = error_score_record("/proc/self/fd/7", "decode_failed", "/proc/self/fd/7: cannot decode")
    record.warnings = ["/proc/self/fd/7 changed", "/proc/self/fd/70 is another"]
    out = relabel(record, Input("/proc/self/fd/7", "/srv/v/a.mp4", {}))
    assert out.path == "/srv/v/a.mp4" and out.error == "/srv/v/a.mp4: cannot decode"
    assert out.warnings == ["/srv/v/a.mp4 changed", "/proc/self/fd/70 is another"]


# 6. cosmetics -----------------------------------------------------------------------------------------------


def test_ladders_are_named_by_their_pattern_and_listed_in_bitrate_order(
    tmp_path, stub, tiny_model_dir, capsys
):
    lad = tmp_path / "lad"
    lad.mkdir()
    rates = {}
    for crf in (40, 20, 30):  # names sort 20, 30, 40; bitrates run the other way
        rates[crf] = _encode(lad / f"r{crf}.mp4", crf=crf)
        stub[rates[crf]] = [0.5, 0.6, 0.7, 0.6, 0.5]
    code, out, err = run(["compare", "--ladder", str(lad), "-m", str(tiny_model_dir)], capsys)
    assert code == 0, err
    rows = [line for line in out.splitlines() if line[:1].isdigit()]  # the file rows (SCORE first)
    assert [r.split("/")[-1].split()[0] for r in rows] == ["r40.mp4", "r30.mp4", "r20.mp4"]
    assert f"{lad}: 3 renditions" in out
    code, out, err = run(["compare", "--ladder", str(lad), "-m", str(tiny_model_dir), "-f", "json"], capsys)
    ladder = json.loads(out)["ladders"][0]
    assert ladder["name"] == str(lad)
    kbps = [p["bitrate_kbps"] for p in ladder["points"]]
    assert kbps == sorted(kbps)


def test_rate_quality_axis_does_not_magnify_a_tiny_difference():
    from vqa2cli.output.compare_plot import MIN_SCORE_SPAN, score_axis

    low, high = score_axis([0.5196, 0.5198])
    assert high - low >= MIN_SCORE_SPAN and low < 0.5196 and high > 0.5198
    assert score_axis([0.99, 1.0])[1] <= 1.0 and score_axis([0.0, 0.01])[0] >= 0.0
    low, high = score_axis([0.2, 0.8])
    assert low < 0.2 and high > 0.8


def test_the_hint_is_never_a_longer_window_than_asked():
    from vqa2cli.pipeline.paired import segments_fix

    assert "--segments 1s" in segments_fix(6.0, asked_s=10.0)
    assert "--segments 2s" in segments_fix(60.0, asked_s=3.0)  # windows misaligned, not too long: shorter
    assert "--segments" not in segments_fix(60.0, asked_s=1.0)  # already the shortest: no window suggested
    assert "too short" in segments_fix(4.0, asked_s=10.0)


def test_the_table_shows_ntsc_rates_as_they_are():
    """29.97 and 23.976 fps are not 30 and 24 in the FPS column (a newcomer read 30000/1001 as 30)."""
    from vqa2cli.output.compare_table import _file_lines

    def row(fps: float) -> dict:
        return {
            "status": "ok",
            "score": 0.5,
            "bitrate_kbps": 900.0,
            "width": 64,
            "height": 64,
            "codec": "h264",
            "avg_fps": fps,
            "windows": [],
            "path": "a.mp4",
        }

    cells = [
        _file_lines([row(fps)])[1].split()[4] for fps in (30000 / 1001, 24000 / 1001, 25.0, 60000 / 1001)
    ]
    assert cells == ["29.97", "23.976", "25", "59.94"]
