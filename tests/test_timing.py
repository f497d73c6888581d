"""Stage timings in records (pipeline/stages.py) and their `-v` lines on stderr."""

from __future__ import annotations

import json

import pytest
from cli_run import run  # noqa: E402

from vqa2cli.pipeline.stages import STAGE_KEYS, format_timing


def test_score_records_stage_timings_and_verbose_prints_them(tiny_model_dir, make_clip, capsys):
    clips = [make_clip("timing_a.mp4", seconds=2.0, fps=8), make_clip("timing_b.mp4", seconds=1.5, fps=8)]
    code, out, err = run(
        ["score", *map(str, clips), "-m", str(tiny_model_dir), "-f", "json", "-v", "--device", "cpu"], capsys
    )
    assert code == 0, err
    first, second = (r["timing"] for r in json.loads(out))
    # per-process costs on the first record only
    assert first["load_s"] > 0 and "import_s" in first and "load_s" not in second and "import_s" not in second
    for timing in (first, second):
        assert set(STAGE_KEYS) <= set(timing)
        assert timing["pixels_s"] > 0 and timing["vision_s"] > 0 and timing["motion_s"] > 0
        assert timing["prefill_s"] > 0 and timing["generate_s"] == 0  # scoring is one forward, no generation
        stages = timing["pixels_s"] + timing["vision_s"] + timing["motion_s"] + timing["prefill_s"]
        assert stages <= timing["infer_s"] + 1e-3
    lines = [line for line in err.splitlines() if "timing:" in line]
    assert len(lines) == 2 and str(clips[0]) in lines[0] and "vision" in lines[0] and "load" in lines[0]
    _, _, quiet_err = run(["score", str(clips[0]), "-m", str(tiny_model_dir), "-f", "json"], capsys)
    assert "timing:" not in quiet_err  # only with -v


def test_format_timing_lists_nonzero_stages_in_pipeline_order():
    line = format_timing({"infer_s": 2.0, "vision_s": 0.5, "decode_s": 0.25, "motion_s": 0.0, "load_s": 3.0})
    assert line == "timing: load 3.000 s, decode 0.250 s, vision 0.500 s, infer 2.000 s"


def test_windowed_score_records_carry_the_same_stage_timings(tiny_model_dir, make_clip, capsys):
    """``--segments``: the record's timing has the single-forward path's fields, stages summed over windows."""
    clips = [make_clip("timing_w1.mp4", seconds=2.0, fps=8), make_clip("timing_w2.mp4", seconds=1.5, fps=8)]
    code, out, err = run(
        [
            "score",
            *map(str, clips),
            "-m",
            str(tiny_model_dir),
            "-f",
            "json",
            "-v",
            "--device",
            "cpu",
            "--segments",
            "1s",
        ],
        capsys,
    )
    assert code == 0, err
    records = json.loads(out)
    assert len(records[0]["segments"]) == 2  # stages summed over two windows
    first, second = (r["timing"] for r in records)
    assert first["load_s"] > 0 and "import_s" in first and "load_s" not in second and "import_s" not in second
    for record in records:
        timing = record["timing"]
        assert record["segments"] and set(STAGE_KEYS) <= set(timing)
        assert timing["pixels_s"] > 0 and timing["vision_s"] > 0 and timing["motion_s"] > 0
        assert timing["prefill_s"] > 0 and timing["generate_s"] == 0
        stages = timing["pixels_s"] + timing["vision_s"] + timing["motion_s"] + timing["prefill_s"]
        assert stages <= timing["infer_s"] + 1e-3
        assert timing["infer_s"] == pytest.approx(sum(s["infer_s"] for s in record["segments"]), abs=1e-3)
    lines = [line for line in err.splitlines() if "timing:" in line]
    assert len(lines) == 2 and "load" in lines[0] and "vision" in lines[0] and "prefill" in lines[1]
