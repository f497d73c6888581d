"""`vqa2 compare` end to end: tiny model on clips encoded here (libx264 through PyAV: one source at several
CRFs, two resolutions, two frame rates, a degraded middle section), and a stub scorer through the real
compare code for the cases the tiny random model cannot produce on purpose (an order violation, a gate)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from cli_run import run
from clips import display_frame

from vqa2cli.records.results import ScoreRecord


def _encode(path, *, crf=23, fps=8, size=(64, 48), seconds=5.0, degrade=None):
    """One synthetic source (moving box over a fixed texture) encoded with libx264 at ``crf``; ``degrade``:
    ``(start_s, end_s)`` where the picture is posterised (a damaged middle section)."""
    import av

    texture = np.random.default_rng(0).integers(0, 60, size=(48, 64, 3), dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "ultrafast"}
        for i in range(round(seconds * fps)):
            img = display_frame(i, 64, 48).astype(np.int16) + np.roll(texture, i, axis=1)
            if degrade and degrade[0] <= i / fps < degrade[1]:
                img = (img // 64) * 64
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), format="rgb24")
            if size != (64, 48):
                frame = frame.reformat(width=size[0], height=size[1])
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return str(path)


@pytest.fixture(scope="module")
def small_config(tmp_path_factory):
    config = tmp_path_factory.mktemp("cmpcfg") / "small.toml"
    config.write_text("[video]\nmotion_size = 64\n")  # a small SlowFast input keeps the CPU tests fast
    return str(config)


@pytest.fixture(scope="module")
def small_scorer(tiny_model_dir):
    """The tiny checkpoint with a 64-pixel motion input (the tiny model's time is SlowFast's at 224)."""
    import vqa2cli

    return vqa2cli.load_scorer(str(tiny_model_dir), settings={"video": {"motion_size": 64}})


@pytest.fixture
def reuse_small(small_scorer, monkeypatch):
    """Commands resolving to ``small_scorer``'s settings (``-m TINY --config small.toml``) get it, unloaded."""
    from vqa2cli.pipeline.run import Scorer

    load = Scorer.load.__func__

    def shared(cls, settings, ref, *, offline=False, clips=None):
        if settings == small_scorer.settings:
            return small_scorer
        return load(cls, settings, ref, offline=offline, clips=clips)

    monkeypatch.setattr(Scorer, "load", classmethod(shared))
    return small_scorer


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    made = {f"crf{c}": _encode(root / f"crf{c}.mp4", crf=c) for c in (10, 20, 30, 40)}
    made.update({f"small{c}": _encode(root / f"small{c}.mp4", crf=c, size=(32, 24)) for c in (20, 35)})
    made["fps25"] = _encode(root / "fps25.mp4", crf=20, fps=25)
    made["degraded"] = _encode(root / "degraded.mp4", crf=20, degrade=(1.5, 2.5))
    made["short"] = _encode(root / "short.mp4", crf=20, seconds=2.0)
    made["copy"] = str(shutil.copy(made["crf20"], root / "copy_of_crf20.mp4"))
    made["root"] = root
    return made


def test_compare_on_the_tiny_model_aligns_frame_rates_and_gives_exact_zero_for_identical_files(
    clips, tiny_model_dir, reuse_small, small_config, capsys
):
    files = [clips["crf20"], clips["copy"], clips["fps25"], clips["crf40"]]
    code, out, err = run(
        [
            "compare",
            *files,
            "-m",
            str(tiny_model_dir),
            "--config",
            small_config,
            "--segments",
            "1s",
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["schema"] == "vqa2.compare/1" and report["baseline"] == clips["crf20"]
    rows = {f["path"]: f for f in report["files"]}
    assert rows[clips["crf40"]]["bitrate_kbps"] < rows[clips["crf20"]]["bitrate_kbps"]
    assert rows[clips["fps25"]]["avg_fps"] == 25.0 and rows[clips["crf20"]]["codec"] == "h264"
    assert all(
        len(f["windows"]) == 5 and all(w["bitrate_kbps"] > 0 for w in f["windows"]) for f in report["files"]
    )
    pairs = {p["candidate"]: p for p in report["pairs"]}
    same = pairs[clips["copy"]]
    assert (
        same["delta"] == 0.0
        and same["ci95"] == [0.0, 0.0]
        and same["verdict"] == "no difference the model can resolve"
    )
    fps = pairs[clips["fps25"]]
    assert fps["windows"] == 5 and [a[:2] for a in fps["aligned"]] == [[i, i] for i in range(5)]


def test_delta_is_antisymmetric_through_the_run(clips, small_scorer):
    """Scored once; the report built for both orders by the real report code."""
    from vqa2cli.jobs.compare import compare, plan_compare
    from vqa2cli.jobs.compare_report import build_report

    forward = compare(small_scorer, [clips["crf20"], clips["degraded"]], window_s=1.0)
    backward = build_report(
        plan_compare([clips["degraded"], clips["crf20"]]),
        forward.files[::-1],
        window_s=1.0,
        model=None,
        rate_margin=0.1,
    )
    ab, ba = forward.pairs[0], backward.pairs[0]
    assert (
        ab["windows"] == 5 and ab["delta"] == -ba["delta"] and ab["ci95"] == [-ba["ci95"][1], -ba["ci95"][0]]
    )


def test_bad_inputs_are_one_line_each(clips, tiny_model_dir, reuse_small, small_config, capsys):
    code, _, err = run(["compare", clips["crf20"], clips["short"], "-m", str(tiny_model_dir)], capsys)
    assert code == 2 and "durations differ" in err and "5.00 s" in err and "2.00 s" in err
    assert "Traceback" not in err
    code, _, err = run(["compare", clips["crf20"], "-m", str(tiny_model_dir)], capsys)
    assert code == 2 and "at least two files" in err
    missing = str(clips["root"] / "missing.mp4")
    code, out, err = run(
        [
            "compare",
            clips["crf20"],
            missing,
            clips["copy"],
            "-m",
            str(tiny_model_dir),
            "--config",
            small_config,
            "--segments",
            "2s",
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 3 and "missing.mp4" in err
    report = json.loads(out)
    assert [f["status"] for f in report["files"]] == ["ok", "error", "ok"]
    assert [p["candidate"] for p in report["pairs"]] == [clips["copy"]]


class StubScorer:
    """Stands in for the SegmentingScorer: window scores from ``table`` (path → scores), real file facts."""

    def __init__(self, settings, table):
        self.settings, self.table = settings, table
        self.window_s = self.on_window = None
        self.keep_thumbnails = False

        class Info:
            def to_dict(self):
                return {"name": "stub"}

        self.model_info = Info()

    def configure(self, *, window_s=None, on_window=None, keep_thumbnails=False):
        self.window_s = window_s
        return self

    def score_files(self, paths, checked=None):
        from vqa2cli.video.probe import probe_video

        for path in paths:
            info = probe_video(path)
            scores = self.table[path]
            step = info.duration_s / len(scores)
            segments = [
                {"index": i, "start_s": i * step, "end_s": (i + 1) * step, "score": s}
                for i, s in enumerate(scores)
            ]
            yield ScoreRecord(
                path=path,
                score=sum(scores) / len(scores),
                level="fair",
                segments=segments,
                input={
                    "width": info.width,
                    "height": info.height,
                    "codec": info.codec,
                    "avg_fps": info.avg_fps,
                    "vfr": info.vfr,
                    "duration_s": info.duration_s,
                },
            )


@pytest.fixture
def stub(monkeypatch, tiny_model_dir):
    from vqa2cli.pipeline.segmented import SegmentingScorer

    table = {}

    def load(cls, settings, ref, *, offline=False, clips=None):
        return StubScorer(settings, table)

    monkeypatch.setattr(SegmentingScorer, "load", classmethod(load))
    return table


def test_order_violation_made_on_purpose_is_reported(clips, stub, tiny_model_dir, capsys):
    stub[clips["crf40"]] = [0.80, 0.81, 0.79, 0.80, 0.80]  # least bitrate, best score
    stub[clips["crf20"]] = [0.60, 0.61, 0.59, 0.60, 0.61]  # more bitrate, clearly lower: violation
    stub[clips["crf10"]] = [0.62, 0.63, 0.61, 0.62, 0.62]  # most bitrate, clearly lower than crf40: violation
    code, out, err = run(
        ["compare", clips["crf40"], clips["crf20"], clips["crf10"], "-m", str(tiny_model_dir), "-f", "json"],
        capsys,
    )
    assert code == 0, err
    report = json.loads(out)
    found = {(v["lower_rate"], v["higher_rate"]) for v in report["order_violations"]}
    assert found == {(clips["crf40"], clips["crf20"]), (clips["crf40"], clips["crf10"])}
    assert "order check: 2 rendition pair(s)" in err and "not trustworthy" in err


def test_gate_fails_only_beyond_the_margin_with_the_interval_off_zero(clips, stub, tiny_model_dir, capsys):
    stub[clips["crf20"]] = [0.70, 0.71, 0.69, 0.70, 0.70]
    stub[clips["crf30"]] = [0.64, 0.65, 0.63, 0.64, 0.64]  # 0.06 worse everywhere
    stub[clips["crf10"]] = [0.69, 0.70, 0.68, 0.71, 0.70]  # 0.005 worse: within the margin
    args = [
        "compare",
        clips["crf20"],
        clips["crf30"],
        clips["crf10"],
        "-m",
        str(tiny_model_dir),
        "--segments",
        "1s",  # the stub's 5 windows (the default 10 s would be refused before scoring: too few windows)
        "--fail-if-worse-than",
        clips["crf20"],
        "--by",
        "0.02",
    ]
    code, out, err = run(args, capsys)
    assert code == 1 and "crf30.mp4 is worse than" in err and "crf10.mp4 is worse" not in err
    assert "vs" in out and "worse" in out
    code, _, _ = run(args[:-1] + ["0.1"], capsys)
    assert code == 0


def test_ladders_hull_bd_rate_and_tidy_csv(clips, stub, tiny_model_dir, capsys, tmp_path):
    for name, scores in (
        ("crf10", 0.80),
        ("crf20", 0.70),
        ("crf30", 0.55),
        ("crf40", 0.40),
        ("small20", 0.66),
        ("small35", 0.45),
    ):
        stub[clips[name]] = [scores, scores + 0.01, scores - 0.01, scores, scores]
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir(), b.mkdir()
    for name in ("crf10", "crf20", "crf30", "crf40"):
        (a / f"{name}.mp4").symlink_to(clips[name])
        stub[str(a / f"{name}.mp4")] = stub[clips[name]]
    for name in ("small20", "small35"):
        (b / f"{name}.mp4").symlink_to(clips[name])
        stub[str(b / f"{name}.mp4")] = stub[clips[name]]
    code, out, err = run(
        [
            "compare",
            "--ladder",
            str(a / "*.mp4"),
            "--ladder",
            str(b),
            "-m",
            str(tiny_model_dir),
            "-f",
            "json",
            "--plot",
            str(tmp_path / "rq.png"),
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads(out)
    first, second = report["ladders"]
    assert len(first["points"]) == 4 and first["hull"] and second["bd_rate"]["anchor"] == str(a / "*.mp4")
    assert first["name"] == str(a / "*.mp4") and second["name"] == str(b)  # named as given
    assert second["hull"] == [str(b / "small35.mp4"), str(b / "small20.mp4")]
    assert second["bd_rate"]["percent"] < 0 and second["bd_rate"]["reason"] is None  # same scores, fewer bits
    assert (tmp_path / "rq.png").stat().st_size > 10_000
    code, out, err = run(
        ["compare", clips["crf20"], clips["crf10"], "-m", str(tiny_model_dir), "-f", "csv"], capsys
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["row"] for r in rows] == ["file", "file"] + ["window"] * 10
    assert rows[1]["verdict"] and rows[2]["delta"] == "" and rows[7]["delta"] != ""  # the baseline has no Δ
    code, _, err = run(
        ["compare", "--ladder", str(a / "crf10.mp4"), str(a / "crf20.mp4"), "-m", str(tiny_model_dir)], capsys
    )
    assert code == 2 and "quote the pattern" in err


def test_api_compare_is_the_same_run(clips, small_scorer):
    import vqa2cli

    report = vqa2cli.compare(small_scorer, [clips["crf20"], clips["copy"]], window_s=2.0)
    assert report.to_dict()["schema"] == "vqa2.compare/1"
    assert report.pairs[0]["delta"] == 0.0 and report.pairs[0]["windows"] == 3  # 2 + 2 + 1 s


def test_server_compare_route_and_the_server_client(
    clips, tiny_model_dir, small_scorer, small_config, capsys, monkeypatch
):
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from vqa2cli.serve.app import ServeConfig, ServerState, create_app
    from vqa2cli.serve.queue import WorkQueue
    from vqa2cli.serve.security import resolve_roots

    root = clips["root"]
    state = ServerState(
        ServeConfig(model=str(tiny_model_dir), config=Path(small_config), roots=resolve_roots([root]))
    )
    state.sessions["score"] = small_scorer
    state.queue = WorkQueue(max_queue=2, workers=1)
    state.ready = True
    client = TestClient(create_app(state))
    try:
        answer = client.post(
            "/v1/compare", json={"paths": ["crf20.mp4", "copy_of_crf20.mp4"], "options": {"segments": "2s"}}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["schema"] == "vqa2.compare/1" and body["pairs"][0]["delta"] == 0.0
        outside = client.post("/v1/compare", json={"paths": ["/etc/hostname", "crf20.mp4"]})  # per file
        assert outside.status_code == 200 and outside.json()["files"][0]["error_code"] == "forbidden"
        assert client.post("/v1/compare", json={"ladders": ["crf20.mp4"]}).status_code == 422
        short = client.post("/v1/compare", json={"paths": ["crf20.mp4", "short.mp4"]})
        assert short.status_code == 422 and "durations differ" in short.text
        import httpx  # `vqa2 compare --server`: the CLI's HTTP client talks to this app in-process

        monkeypatch.setattr(
            httpx,
            "Client",
            lambda base_url, headers, timeout, **_transport: TestClient(
                create_app(state), base_url=base_url, headers=headers
            ),
        )
        code, out, err = run(
            [
                "compare",
                clips["crf20"],
                clips["copy"],
                "--server",
                "http://testserver",
                "--segments",
                "2s",
                "-f",
                "json",
            ],
            capsys,
        )
        assert code == 0, err
        remote = json.loads(out)
        assert remote["files"][0]["path"] == clips["crf20"] and remote["pairs"][0]["delta"] == 0.0
        assert remote["pairs"] == body["pairs"] and remote["files"] == body["files"]  # the route's own answer
    finally:
        state.queue.close(timeout=10)


@pytest.mark.parametrize("swap", ["replace", "symlink"])
def test_server_compare_reads_what_it_checked_even_if_the_name_is_swapped(
    clips, tiny_model_dir, small_scorer, small_config, tmp_path, monkeypatch, swap
):
    """Issue 24, fault 1 for /v1/compare: each path is opened once inside the roots and read through its
    descriptor; a name swapped right after the check (to an outside file of another length) changes nothing."""
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from vqa2cli.jobs import compare as compare_job
    from vqa2cli.serve import security
    from vqa2cli.serve.app import ServeConfig, ServerState, create_app
    from vqa2cli.serve.queue import WorkQueue

    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(clips["crf20"], root / "a.mp4")
    shutil.copy(clips["crf20"], root / "victim.mp4")
    outside = shutil.copy(clips["short"], tmp_path / "outside.mp4")  # 2 s, not 5 s: a re-read would show
    real_plan = compare_job.plan_compare

    def swap_then_plan(*args, **kwargs):  # after the route checked the paths, before anything reads them
        (root / "victim.mp4").unlink()
        if swap == "replace":
            shutil.copy(outside, root / "victim.mp4")
        else:
            (root / "victim.mp4").symlink_to(outside)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(compare_job, "plan_compare", swap_then_plan)
    state = ServerState(
        ServeConfig(
            model=str(tiny_model_dir), config=Path(small_config), roots=security.resolve_roots([root])
        )
    )
    state.sessions["score"] = small_scorer
    state.queue = WorkQueue(max_queue=2, workers=1)
    state.ready = True
    try:
        answer = TestClient(create_app(state)).post(
            "/v1/compare", json={"paths": ["a.mp4", "victim.mp4"], "options": {"segments": "2s"}}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["pairs"][0]["delta"] == 0.0  # the bytes checked, not the outside file
        assert [f["path"] for f in body["files"]] == [str(root / "a.mp4"), str(root / "victim.mp4")]
    finally:
        state.queue.close(timeout=10)


def _ffmpeg(*args):
    import subprocess

    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def ffmpeg_ladder(tmp_path_factory):
    """One lavfi source (testsrc2 + temporal noise) encoded by the ffmpeg CLI at 4 bitrates in 96x64 and 2 in
    48x32, plus one rendition blurred from 1.5 to 2.5 s (a degraded middle section)."""
    if not shutil.which("ffmpeg"):
        pytest.skip("needs the ffmpeg CLI to build the ladder")
    root = tmp_path_factory.mktemp("ffladder")
    src = "testsrc2=size=96x64:rate=10:duration=4,noise=alls=25:allf=t"
    made = {}
    for size, rates in (("96x64", (40, 80, 160, 320)), ("48x32", (20, 60))):
        for kbps in rates:
            out = root / size / f"{kbps}k.mp4"
            out.parent.mkdir(exist_ok=True)
            _ffmpeg(
                "-f",
                "lavfi",
                "-i",
                src,
                "-s",
                size,
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-b:v",
                f"{kbps}k",
                "-maxrate",
                f"{kbps}k",
                "-bufsize",
                f"{kbps}k",
                "-pix_fmt",
                "yuv420p",
                str(out),
            )
            made[(size, kbps)] = str(out)
    made["blurred"] = str(root / "blurred.mp4")
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        src + ",boxblur=8:enable='between(t,1.5,2.5)'",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-pix_fmt",
        "yuv420p",
        made["blurred"],
    )
    made["sharp"] = str(root / "sharp.mp4")
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        src,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-crf",
        "18",
        "-pix_fmt",
        "yuv420p",
        made["sharp"],
    )
    made["root"] = root
    return made


def test_ffmpeg_ladder_rates_and_hull(ffmpeg_ladder, stub, tiny_model_dir, capsys):
    """Real bitrates from the packets; stub scores rising with the bitrate (a model would be slow here)."""
    root = ffmpeg_ladder["root"]
    for (size, kbps), path in ((k, v) for k, v in ffmpeg_ladder.items() if isinstance(k, tuple)):
        score = (0.3 if size == "48x32" else 0.4) + 0.1 * (kbps / 40) ** 0.5
        stub[path] = [score, score + 0.01, score - 0.01, score, score]
    code, out, err = run(
        [
            "compare",
            "--ladder",
            str(root / "96x64" / "*.mp4"),
            "--ladder",
            str(root / "48x32"),
            "-m",
            str(tiny_model_dir),
            "--segments",
            "2s",
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    report = json.loads(out)
    big, small = report["ladders"]
    rates = {p["path"]: p["bitrate_kbps"] for p in big["points"]}
    ordered = [rates[ffmpeg_ladder[("96x64", k)]] for k in (40, 80, 160, 320)]
    assert ordered == sorted(ordered) and len(small["points"]) == 2  # the container's bitrate follows -b:v
    assert big["hull"] and set(big["hull"]) <= set(rates)
    assert small["bd_rate"]["anchor"] == str(root / "96x64" / "*.mp4")
    assert report["order_violations"] == []


def test_ffmpeg_degraded_middle_on_the_tiny_model(
    ffmpeg_ladder, tiny_model_dir, reuse_small, small_config, capsys
):
    code, out, err = run(
        [
            "compare",
            ffmpeg_ladder["sharp"],
            ffmpeg_ladder["blurred"],
            "-m",
            str(tiny_model_dir),
            "--config",
            small_config,
            "--segments",
            "1s",
            "-f",
            "json",
        ],
        capsys,
    )
    assert code == 0, err
    files = {f["path"]: f for f in json.loads(out)["files"]}
    windows = [w["bitrate_kbps"] for w in files[ffmpeg_ladder["blurred"]]["windows"]]
    sharp = [w["bitrate_kbps"] for w in files[ffmpeg_ladder["sharp"]]["windows"]]
    assert len(windows) == 4 and windows[1] + windows[2] < sharp[1] + sharp[2]  # the blur costs fewer bits
    assert windows[0] == pytest.approx(sharp[0], rel=0.05)


def test_vfr_beside_cfr_is_compared_with_a_warning_and_a_one_rendition_ladder_has_no_bd_rate(
    make_clip, stub, tiny_model_dir, capsys, tmp_path
):
    cfr = str(make_clip("cmp-cfr", seconds=4, fps=8))
    vfr = str(make_clip("cmp-vfr", seconds=4, fps=8, vfr=True))
    stub[cfr], stub[vfr] = [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]
    code, out, err = run(["compare", cfr, vfr, "-m", str(tiny_model_dir), "-f", "json"], capsys)
    assert code == 0 and "variable frame rate" in err and "aligned by presentation time" in err
    assert json.loads(out)["pairs"][0]["delta"] == 0.0
    stub[cfr], stub[vfr] = (
        [0.9],
        [0.1],
    )  # one window each: no interval, so the gate cannot be evaluated: exit 2, never a silent pass
    code, out, err = run(
        ["compare", cfr, vfr, "-m", str(tiny_model_dir), "--fail-if-worse-than", cfr], capsys
    )
    assert code == 2 and "cannot be evaluated" in err
    code, out, err = run(
        ["compare", "--ladder", cfr, "--ladder", vfr, "-m", str(tiny_model_dir), "-f", "json"], capsys
    )
    assert code == 0
    bd = json.loads(out)["ladders"][1]["bd_rate"]
    assert (
        bd["percent"] is None
        and "at least 2 renditions" in bd["reason"]
        and f"BD-rate of {vfr} against {cfr}" in err
    )
