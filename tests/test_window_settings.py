"""Every sampling setting reaches every window (issue 25, item 10): a window is planned, and scored, exactly as a
clip holding just its frames, under every sampling setting and every shipped model card (video/planning.py)."""

from __future__ import annotations

import dataclasses
import inspect
from types import SimpleNamespace

import pytest
from clips import make_lossless_frames

from vqa2cli.config import Settings, VideoSection
from vqa2cli.video.planning import (
    PIXEL_KEYS,
    SAMPLING_KEYS,
    choose_window,
    plan_clip_windows,
    plan_single,
    sampling_args,
)
from vqa2cli.video.sampling import plan_sampling
from vqa2cli.video.segments import exceeds_limits, offset_plan, plan_windows

# one value off the default for every keyword of plan_sampling
VARIANTS = {
    "keyframe_fps": [0.5, 2.0],
    "max_motion_frames": [16, 40],
    "token_budget": [1200, 3000],
    "tokens_per_keyframe": [50, 300],
    "motion_copies": [2],
    "policy": ["stride", "segments"],
    "motion_frame_step": [2, 8],
}


def test_every_video_key_is_declared_sampling_or_pixels():
    keys = {f.name for f in dataclasses.fields(VideoSection)}
    assert keys == set(SAMPLING_KEYS) | set(PIXEL_KEYS) and not set(SAMPLING_KEYS) & set(PIXEL_KEYS)


def test_every_planner_keyword_is_walked():
    params = {
        p.name for p in inspect.signature(plan_sampling).parameters.values() if p.kind == p.KEYWORD_ONLY
    }
    assert params - {"source"} == set(VARIANTS)  # a new sampling keyword must be added to VARIANTS


@pytest.mark.parametrize("key", sorted(VARIANTS))
@pytest.mark.parametrize("n,fps,window_s", [(130, 8.0, 4.0), (301, 30.0, 3.0), (75, 24.0, 10.0)])
def test_window_plan_equals_a_clip_of_its_frames(key, n, fps, window_s):
    for value in VARIANTS[key]:
        args = {key: value, "motion_frame_step": 8} if key != "motion_frame_step" else {key: value}
        if key == "policy":
            args["max_motion_frames"] = 16
        windows = plan_windows(n, fps, window_s, **args)
        assert windows[0].start == 0 and windows[-1].stop == n
        single = {**args, "policy": "stride"} if args.get("policy") == "segments" else args
        for w in windows:
            assert w.plan == offset_plan(plan_sampling(w.n_frames, fps, **single), w.start), (key, value, w)
            assert w.plan.motion_frame_step == args["motion_frame_step"]


def _video(**changes) -> VideoSection:
    return dataclasses.replace(VideoSection(), **changes)


SETTINGS = {
    "keyframe_fps": 2.0,
    "max_motion_frames": 40,
    "motion_frame_step": 8,
    "keyframe_size": 896,
    "max_tokens": 3000,
    "long_clip_policy": "stride",
    "segment_s": 4.0,
}


@pytest.mark.parametrize("key", SAMPLING_KEYS)
def test_config_setting_reaches_windows_and_single_plans(key):
    assert key in SETTINGS
    video = _video(**{key: SETTINGS[key]})
    info = SimpleNamespace(n_frames=400, avg_fps=25.0, duration_s=16.0, path="clip.mp4", vfr=False)
    budget = video.max_tokens
    windows = plan_clip_windows(info, video, video.segment_s, token_budget=budget)
    for w in windows:
        alone = plan_single(
            SimpleNamespace(**{**vars(info), "n_frames": w.n_frames}), video, token_budget=budget
        )
        assert w.plan == offset_plan(alone, w.start), (key, w)
    args = sampling_args(video, token_budget=budget)
    assert exceeds_limits(info.n_frames, info.avg_fps, **args) == (
        plan_single(
            info, _video(**{key: SETTINGS[key], "long_clip_policy": "stride"}), token_budget=budget
        ).policy
        not in ("official", "pad:4")
    )


def test_over_limits_check_follows_the_motion_rule():
    info = SimpleNamespace(n_frames=2400, avg_fps=30.0, duration_s=80.0, path="long.mp4", vfr=False)
    assert choose_window(info, VideoSection(), token_budget=None) == (10.0, "over-limits")
    paper = _video(motion_frame_step=8)  # 300 motion frames: one forward, as the paper's script
    assert choose_window(info, paper, token_budget=None) == (None, "")
    assert choose_window(info, paper, token_budget=None, requested=5.0) == (5.0, "requested")


# ---- scored: a window equals a clip of its frames under every shipped card ---------------------------------


def _card_flags(card) -> dict:
    layer = card.layer
    flags = {f"video__{k}": v for k, v in layer.get("video", {}).items()}
    flags.update({f"scoring__{k}": v for k, v in layer.get("scoring", {}).items()})
    model = layer.get("model", {})
    if "motion_layout" in model:
        flags["model__motion_layout"] = model["motion_layout"]
    if card.task == "score" and "prompt" in model:
        flags["model__prompt"] = model["prompt"]
    return flags


def _cards():
    from vqa2cli.registry import list_cards

    return list_cards()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_lossless_frames(tmp_path_factory.mktemp("winset") / "long.mkv", 0, 80)


@pytest.mark.parametrize("card", _cards(), ids=lambda c: c.name)
def test_scored_window_equals_its_frames_as_a_clip_under_every_card(
    card, tiny_model_dir, long_clip, tmp_path
):
    from vqa2cli.cli.options import resolve_settings
    from vqa2cli.pipeline.segmented import SegmentingScorer

    settings, ref = resolve_settings(
        "score", str(tiny_model_dir), None, runtime__device="cpu", video__motion_size=64, **_card_flags(card)
    )
    expected = Settings().video if "video" not in card.layer else None
    assert expected is None or settings.video.motion_frame_step == expected.motion_frame_step
    scorer = SegmentingScorer.load(settings, ref).configure(window_s=4.0)
    record = scorer.score(long_clip)
    assert [(s["start_frame"], s["end_frame"]) for s in record.segments] == [(0, 32), (32, 64), (64, 80)]
    plain = SegmentingScorer(settings, scorer.loaded).configure()
    step = settings.video.motion_frame_step
    for seg in record.segments:
        cut = make_lossless_frames(tmp_path / f"w{seg['index']}.mkv", seg["start_frame"], seg["end_frame"])
        alone = plain.score(cut)
        assert alone.segments is None and alone.sampling["motion_frame_step"] == step
        assert (seg["keyframes"], seg["motion_frames"]) == (
            alone.sampling["keyframes"],
            alone.sampling["motion_frames"],
        )
        assert seg["score"] == pytest.approx(alone.score, abs=1e-6), card.name
        for level, p in alone.probs.items():
            assert seg["probs"][level] == pytest.approx(p, abs=1e-6)


# ---- probe prints the plan score runs (issue 25 item 5) ------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["--long-clip", "stride"], ["--model", "ugc-scorer-paper"]])
def test_probe_reports_the_plan_score_runs(tiny_model_dir, long_clip, capsys, flags):
    import json

    from cli_run import run

    limits = ["--max-motion-frames", "16"]
    code, out, err = run(["probe", str(long_clip), "-f", "json", *limits, *flags], capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    model = flags[1] if flags[:1] == ["--model"] else str(tiny_model_dir)
    score_flags = [f for f in flags if f not in ("--model", "ugc-scorer-paper")]
    code, out, err = run(
        [
            "score",
            str(long_clip),
            "-m",
            str(tiny_model_dir),
            "-f",
            "json",
            *limits,
            *score_flags,
            *(["--config", _paper_config(long_clip)] if model == "ugc-scorer-paper" else []),
        ],
        capsys,
    )
    assert code == 0, err
    (rec,) = json.loads(out)
    assert row["policy"] == rec["sampling"]["policy"]
    assert (row["keyframes"], row["motion_frames"]) == (
        rec["sampling"]["keyframes"],
        rec["sampling"]["motion_frames"],
    )
    if rec["segments"]:
        assert any(f"score runs {len(rec['segments'])} windows" in w for w in row["warnings"])


def _paper_config(clip) -> str:
    path = clip.parent / "paper.toml"
    path.write_text('[video]\nmotion_frame_step = 8\nresize = "pil"\n', encoding="utf-8")
    return str(path)


def test_probe_long_clip_error_names_the_flag(long_clip, capsys):
    from cli_run import run

    code, out, err = run(
        ["probe", str(long_clip), "--max-motion-frames", "16", "--long-clip", "error"], capsys
    )
    assert code == 3 and "--long-clip segments" in err and "--long-clip stride" in err


# ---- the same through the server ------------------------------------------------------------------------------


def test_server_windows_follow_the_paper_motion_rule(
    tiny_model_dir, long_clip, tmp_path, capsys, monkeypatch
):
    """The server's app (`vqa2 serve`'s state, routes and option resolution, in this process; the real
    process is tests/test_serve*.py's) started with `video.motion_frame_step = 8`, asked by the `--server`
    client: the windowed record (every 8th frame in every window) equals the in-process one, and a window's
    motion frames are those of its frames cut out as a clip."""
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    import json

    import httpx
    from cli_run import run
    from fastapi.testclient import TestClient
    from test_serve_segments import untimed

    from vqa2cli.serve.app import ServeConfig, ServerState, create_app
    from vqa2cli.serve.security import resolve_roots

    config = tmp_path / "paper.toml"
    config.write_text("[video]\nmotion_size = 64\nmotion_frame_step = 8\n", encoding="utf-8")
    roots = resolve_roots([long_clip.parent])
    state = ServerState(ServeConfig(model=str(tiny_model_dir), config=config, roots=roots, workers=1))
    state.load()  # what `vqa2 serve` does in its loading thread
    app = create_app(state)
    monkeypatch.setattr(  # the client's HTTP connection goes to the app in this process
        httpx,
        "Client",
        lambda base_url, headers, timeout, **_: TestClient(app, base_url=base_url, headers=headers),
    )
    try:
        code, theirs, err = run(
            [
                "score",
                str(long_clip),
                "-f",
                "json",
                "-q",
                "--segments",
                "4s",
                "--server",
                "http://testserver",
            ],
            capsys,
        )
        assert code == 0, err
    finally:
        state.queue.close(timeout=10)
    code, mine, err = run(
        [
            "score",
            str(long_clip),
            "-f",
            "json",
            "-q",
            "--segments",
            "4s",
            "-m",
            str(tiny_model_dir),
            "--config",
            str(config),
        ],
        capsys,
    )
    assert code == 0, err
    (record,) = json.loads(theirs)
    assert untimed(json.loads(theirs)) == untimed(json.loads(mine))
    assert record["config"]["video"]["motion_frame_step"] == 8
    assert [s["motion_frames"] for s in record["segments"]] == [4, 4, 4]  # 32 → 4, 32 → 4, 16 → 2 padded to 4
    assert [s["policy"] for s in record["segments"]] == ["official", "official", "pad:4"]
