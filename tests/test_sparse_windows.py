"""Issue 25 item 11 and the new-user list: windows of sparse variable-frame-rate clips are described by their
real span and never empty; a repeated warning is said once with a count; records round time-like numbers;
`batch` says damage (CSV columns n_frames, warnings; stderr)."""

from __future__ import annotations

import csv
import io
from fractions import Fraction

import pytest
from cli_run import run
from clips import make_clip, truncate_copy

from vqa2cli.output.console import Console, group_repeats, warning_kind
from vqa2cli.records.results import SCORE_COLUMNS, ScoreRecord
from vqa2cli.video.segments import plan_windows, span_text

# frames at 0-0.2 s, then 12 s, 30 s and 45 s: sparse (a slideshow, a screen recording)
SPARSE = [0.0, 0.1, 0.2, 12.0, 12.1, 30.0, 30.05, 45.0]


@pytest.mark.parametrize("duration", [45.0, 44.0, 46.0, None])
def test_sparse_windows_have_real_spans_and_none_is_empty(duration):
    n = len(SPARSE)
    windows = plan_windows(n, n / 46.0, 10.0, frame_times=SPARSE, duration_s=duration)
    assert all(w.end_s > w.start_s for w in windows), windows
    assert windows[0].start == 0 and windows[-1].stop == n
    assert all(a.stop == b.start and a.end_s == b.start_s for a, b in zip(windows, windows[1:]))
    for w in windows:
        assert w.start_s == SPARSE[w.start]  # the real start: the first frame's presentation time
    assert span_text(windows) != "10 s"  # 12 s, 18 s, 15 s ...: not the length asked


def test_frames_sharing_a_timestamp_never_make_an_empty_window():
    times = [0.0, 0.5, 10.0, 10.0, 10.0, 20.0]
    windows = plan_windows(len(times), 0.3, 5.0, frame_times=times, duration_s=20.0)
    assert all(w.end_s > w.start_s for w in windows)


def test_span_text():
    cfr = plan_windows(300, 10.0, 10.0)
    assert span_text(cfr) == "10 s"


def test_a_repeated_warning_kind_is_said_once_with_a_count():
    notes = [
        f"window {i}: only {i % 3 + 1} frame(s): motion frames padded to 4 by repeating the last frame"
        for i in range(98)
    ] + [
        "the clip changes size at frame 4",
        "window 3: only 1 frame(s): motion frames padded to 4 by repeating the last frame",
    ]
    grouped = group_repeats(notes)
    assert grouped == [notes[0] + " (and 98 more like it)", "the clip changes size at frame 4"]
    assert warning_kind("a 1.5 b 20") == warning_kind("a 3 b 7") != warning_kind("a b")
    stream = io.StringIO()
    Console(stream=stream).warnings(notes, prefix="clip.mp4: ")
    assert stream.getvalue().count("\n") == 2 and "clip.mp4: window 0:" in stream.getvalue()


def test_records_round_time_fields_not_scores():
    score = 0.1 + 0.2  # 0.30000000000000004: the score's own 6-decimal rounding, unchanged
    rec = ScoreRecord(
        path="a.mp4",
        score=score,
        probs={"high": score},
        level="high",
        input={"duration_s": 7.8999999999999995, "avg_fps": 29.970029970029973, "n_frames": 237},
        sampling={
            "window_s": 2.0000000000000004,
            "keyframes": 3,
            "keyframe_times": [0.0, 1.0000000000000002],
            "keyframe_indices": [0, 8],
        },
        segments=[{"start_s": 0.30000000000000004, "end_s": 7.8999999999999995, "score": score}],
        warnings=["w1", "w2"],
    )
    d = rec.to_dict()
    assert d["input"]["duration_s"] == 7.9 and d["input"]["avg_fps"] == 29.97003
    assert d["sampling"]["window_s"] == 2.0 and d["segments"][0]["start_s"] == 0.3
    assert d["sampling"]["keyframe_times"] == [0.0, 1.0] and d["sampling"]["keyframe_indices"] == [0, 8]
    assert d["segments"][0]["score"] == score and d["score"] == round(score, 6)
    row = rec.to_row()
    assert row["duration_s"] == 7.9 and row["n_frames"] == 237 and row["warnings"] == "w1 | w2"
    assert SCORE_COLUMNS[28] == "decoded_frames"  # columns are only appended: n_frames, warnings after it
    at = SCORE_COLUMNS.index("n_frames")
    assert at > 28 and SCORE_COLUMNS[at + 1] == "warnings"


BURSTS = [round(start + i * 0.04, 3) for start in (0.0, 12.0, 30.0, 45.0, 47.0) for i in range(8)]


def _sparse_clip(path, times=BURSTS):
    """FFV1 in Matroska, one frame at each of ``times`` (millisecond time base; stream rate 8 fps)."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 5 * i, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts, frame.time_base = int(t * 1000), Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_sparse_clip_scored_in_windows_says_their_real_span(tiny_model_dir, tmp_path, capsys):
    clip = _sparse_clip(tmp_path / "sparse.mkv")
    code, out, err = run(
        ["score", str(clip), "-m", str(tiny_model_dir), "--segments", "10s", "-f", "json"], capsys
    )
    assert code == 0, err
    import json

    (rec,) = json.loads(out)
    spans = [(s["start_s"], s["end_s"]) for s in rec["segments"]]
    assert all(e > s for s, e in spans) and spans[0][0] == 0.0
    assert (
        [s for s, _ in spans]
        == [BURSTS[s["start_frame"]] for s in rec["segments"]]
        == [0.0, 12.0, 30.0, 45.0]
    )
    assert any("windows span" in w and "not the 10 s asked" in w for w in rec["warnings"])
    lines = [line for line in err.splitlines() if line.startswith("Warning:")]
    assert len(lines) == len({line.split(":", 3)[-1] for line in lines})  # no line said twice


def test_batch_says_damage_in_csv_and_on_stderr(tiny_model_dir, tmp_path, capsys):
    good = make_clip(tmp_path / "good.mp4", seconds=4, fps=10, width=64, height=48, faststart=True, gop=10)
    cut = truncate_copy(good, tmp_path / "cut.mp4", 0.6)
    out_csv = tmp_path / "s.csv"
    code, _, err = run(
        ["batch", str(good), str(cut), "--csv", str(out_csv), "-m", str(tiny_model_dir), "--workers", "1"],
        capsys,
    )
    assert code == 0, err
    rows = {
        r["path"].rsplit("/", 1)[-1]: r for r in csv.DictReader(out_csv.open(newline="", encoding="utf-8"))
    }
    header = list(next(iter(rows.values())))
    assert header[header.index("n_frames") + 1] == "warnings" and header.index("n_frames") > header.index(
        "decoded_frames"
    )
    assert rows["cut.mp4"]["n_frames"] and int(rows["cut.mp4"]["decoded_frames"]) < 40
    assert "decodable" in rows["cut.mp4"]["warnings"] and rows["good.mp4"]["warnings"] == ""
    assert f"{cut}: " in err and "decodable" in err and f"{good}: " not in err
