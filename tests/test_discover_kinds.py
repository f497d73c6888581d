"""Every file `score` can read, `batch` finds (issue 11 B), and damage a CI gate can see (issue 11 C).

Files are generated at test time: raw elementary streams under every extension encoders write, with no
extension and with a wrong one (ffmpeg CLI, skipped without it); truncated and bit-flipped clips (PyAV).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cli_run import run  # noqa: E402
from clips import make_clip, truncate_copy
from ffmpeg_cli import needs_ffmpeg_for, require_ffmpeg  # noqa: E402

from vqa2cli.config import VideoSection
from vqa2cli.errors import ConfigError, DamagedInputError, DecodeFailedError
from vqa2cli.jobs import discover as D
from vqa2cli.records.results import SCORE_COLUMNS
from vqa2cli.video.decode import decode_clip
from vqa2cli.video.probe import probe_video

needs_ffmpeg = needs_ffmpeg_for("to write raw streams")
SMALL = VideoSection(keyframe_size=32, motion_size=32)
RAW_KINDS = {  # muxer args for each raw stream kind
    "h264": ("-c:v", "libx264", "-f", "h264"),
    "hevc": ("-c:v", "libx265", "-x265-params", "log-level=error", "-f", "hevc"),
    "m2v": ("-c:v", "mpeg2video", "-f", "mpeg2video"),
    "m4v": ("-c:v", "mpeg4", "-f", "m4v"),
    "obu": ("-c:v", "libaom-av1", "-cpu-used", "8", "-f", "obu"),
    "ivf": ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-f", "ivf"),
}
NAMES = {  # file name → raw kind: the extensions x264/x265/cameras write, none, and wrong ones
    "a.264": "h264",
    "b.h264": "h264",
    "c.avc": "h264",
    "d.265": "hevc",
    "e.hevc": "hevc",
    "f.h265": "hevc",
    "g.m2v": "m2v",
    "h.mpv": "m2v",
    "i.obu": "obu",
    "j.ivf": "ivf",
    "k.cmp": "m4v",
    "noext_h264": "h264",
    "noext_hevc": "hevc",
    "noext_m2v": "m2v",
    "noext_m4v": "m4v",
    "noext_obu": "obu",
    "camera.dat": "h264",
    "stream.bin": "hevc",
    "clip.video": "m2v",
    "upload.part": "obu",
}


@pytest.fixture(scope="module")
def raw_tree(tmp_path_factory) -> Path:
    exe = require_ffmpeg("to write raw streams")
    root = tmp_path_factory.mktemp("raw")
    made = {}
    for kind, args in RAW_KINDS.items():
        path = root / f"src.{kind}"
        try:
            subprocess.run(
                [
                    exe,
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    "testsrc2=size=64x48:rate=10",
                    "-t",
                    "1",
                    "-pix_fmt",
                    "yuv420p",
                    *args,
                    str(path),
                ],
                check=True,
            )
        except subprocess.CalledProcessError:
            continue
        made[kind] = path
    for name, kind in NAMES.items():
        if kind in made:
            (root / "videos" / name).parent.mkdir(exist_ok=True)
            shutil.copy(made[kind], root / "videos" / name)
    skipped = {
        "notes.txt": b"just some words\n" * 10,
        "random.bin": os.urandom(4096),
        "blob": b"\x00" * 600,
        "cover.png": b"\x89PNG\r\n\x1a\n" + b"\x00" * 100,
    }
    for name, data in skipped.items():
        (root / "videos" / name).write_bytes(data)
    (root / "videos" / ".hidden.264").write_bytes(made["h264"].read_bytes())
    for kind in made:
        (root / f"src.{kind}").unlink()
    return root / "videos"


def test_every_raw_stream_the_decoder_opens_is_discovered(raw_tree):
    found = D.discover([str(raw_tree)])
    expected = {n for n in NAMES if (raw_tree / n).exists()}
    assert {os.path.basename(v.path) for v in found.videos} == expected
    for video in found.videos:  # and each of them really is something `score` decodes
        assert probe_video(video.path).n_frames == 10
    reasons = {os.path.basename(p): r for p, r in found.reasons.items()}
    assert reasons == {
        "notes.txt": D.SKIP_EXTENSION,
        "cover.png": D.SKIP_EXTENSION,
        "random.bin": D.SKIP_CONTENT,
        "blob": D.SKIP_CONTENT,
        ".hidden.264": D.SKIP_HIDDEN,
    }
    assert found.skip_counts() == {D.SKIP_CONTENT: 2, D.SKIP_EXTENSION: 2, D.SKIP_HIDDEN: 1}


@pytest.mark.parametrize(
    "head, expected",
    [
        (b"\x00\x00\x00\x01\x67\x42\xc0\x1e", True),
        (b"\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x67", True),  # H.264
        (b"\x00\x00\x00\x01\x40\x01\x0c\x01", True),
        (b"\x00\x00\x00\x01\x46\x01\x50", True),  # HEVC VPS, AUD
        (b"\x00\x00\x01\xb0\x01\x00\x00\x01\xb5", True),
        (b"\x12\x00\x0a\x0b\x00\x00\x00", True),  # MPEG-4, AV1
        (b"\x00\x00\x00\x01\x67", True),
        (b"\x00\x00\x00\x01\xe7\x42", False),  # forbidden bit set
        (b"\x00\x00\x00\x01\x07\x42\xc0", False),  # SPS with nal_ref_idc 0
        (b"\x00\x01\x67\x42" + b"\x00" * 8, False),  # one zero byte is no start code
        (b"\x00" * 64, False),
    ],
)
def test_raw_start_codes(tmp_path, head, expected):
    path = tmp_path / "noext"
    path.write_bytes(head + b"\x00" * 16)
    assert D.sniff_video(path) is expected


def test_batch_scores_raw_streams_and_reports_skips_by_reason(tiny_model_dir, raw_tree, tmp_path, capsys):
    out = tmp_path / "raw.csv"
    code, _, err = run(
        ["batch", str(raw_tree), "--csv", str(out), "-m", str(tiny_model_dir), "--workers", "1"], capsys
    )
    assert code == 0, err
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert len(rows) == len(D.discover([str(raw_tree)]).videos) >= 10
    assert all(r["status"] == "ok" and r["decoded_frames"] == "10" for r in rows)
    assert {os.path.basename(r["path"]) for r in rows} >= {"a.264", "d.265", "noext_h264"}
    assert "skipped 5 file(s)" in err and "2 not video (content)" in err and "1 hidden" in err


# --- C: damage a CI gate can see -----------------------------------------------------------------
@pytest.fixture(scope="module")
def damaged(tmp_path_factory) -> dict[str, Path]:
    """A clean clip, its first 60 % (index first, like a download cut short), and bit-flipped copies."""
    root = tmp_path_factory.mktemp("damaged")
    good = make_clip(root / "good.mp4", seconds=4, fps=10, width=64, height=48, faststart=True, gop=10)
    files = {"good": good, "truncated": truncate_copy(good, root / "truncated.mp4", 0.6)}
    data = good.read_bytes()
    mdat = data.index(b"mdat") + 4
    flipped = bytearray(data)
    for i in range(mdat + (len(data) - mdat) // 2, mdat + (len(data) - mdat) // 2 + 512):
        flipped[i] ^= 0xFF  # 512 bytes in the middle of the coded frames
    files["flipped"] = root / "flipped.mp4"
    files["flipped"].write_bytes(bytes(flipped))
    ts = make_clip(root / "good.ts", seconds=4, fps=10, width=64, height=48, container="ts", gop=10)
    files["truncated_ts"] = truncate_copy(ts, root / "truncated.ts", 0.7)  # ends mid transport packet
    return files


@pytest.mark.parametrize("name", ["truncated", "flipped", "truncated_ts"])
def test_damage_is_counted_and_strict_refuses_it(damaged, name):
    clip = decode_clip(damaged[name], SMALL)
    assert clip.decoded_frames < clip.info.n_frames or clip.damaged_frames > 0 or clip.info.container_damaged
    assert any("decodable" in w or "damaged" in w for w in clip.warnings)
    with pytest.raises((DamagedInputError, DecodeFailedError)) as info:
        decode_clip(damaged[name], VideoSection(keyframe_size=32, motion_size=32, strict=True))
    if isinstance(info.value, DamagedInputError):
        assert info.value.input["decoded_frames"] == clip.decoded_frames
        assert f"{clip.decoded_frames} of {clip.info.n_frames} frames decodable" in info.value.one_line()


@pytest.mark.parametrize("name", ["good", "truncated", "flipped", "truncated_ts"])
def test_windows_count_frames_as_the_whole_clip_and_strict_applies(damaged, name):
    """A clip scored in windows (long clips, --segments) reports the decoded/damaged counts of the whole
    stream, as decode_clip does; with strict a damaged clip raises at the end of the stream, and no window
    is handed out once damage is seen (a window with an undecoded sampled frame, or any after it)."""
    from vqa2cli.video.decode import decode_windows

    whole = decode_clip(damaged[name], SMALL)
    stream = decode_windows(damaged[name], SMALL, 1.0)
    assert list(stream) and len(stream.windows) >= 2
    assert (stream.decoded_frames, stream.damaged_frames) == (whole.decoded_frames, whole.damaged_frames)
    assert stream.resolution_changes == whole.resolution_changes == ()
    bad = bool(
        whole.decoded_frames < whole.info.n_frames or whole.damaged_frames or whole.info.container_damaged
    )
    assert bad == (name != "good")
    strict = decode_windows(damaged[name], VideoSection(keyframe_size=32, motion_size=32, strict=True), 1.0)
    handed = []
    if not bad:
        handed = [window for window, _ in strict]
        assert len(handed) == 4 and strict.decoded_frames == 40
        return
    with pytest.raises(DamagedInputError) as info:
        for window, _ in strict:
            handed.append(window)
    assert info.value.input["decoded_frames"] == whole.decoded_frames
    assert f"{whole.decoded_frames} of {whole.info.n_frames} frames decodable" in info.value.one_line()
    last_sampled = [max(*w.plan.keyframe_indices, *w.plan.motion_indices) for w in handed]
    assert all(i < whole.decoded_frames for i in last_sampled) and len(handed) < len(strict.windows)
    if whole.info.container_damaged:  # known from the probe: nothing is scored at all
        assert handed == []


def test_clean_clip_passes_strict(damaged):
    clip = decode_clip(damaged["good"], VideoSection(keyframe_size=32, motion_size=32, strict=True))
    assert clip.decoded_frames == clip.info.n_frames == 40 and clip.damaged_frames == 0


def test_score_strict_exit_3_with_decoded_count(tiny_model_dir, damaged, capsys):
    files = [str(damaged["good"]), str(damaged["truncated"])]
    code, out, err = run(["score", *files, "-m", str(tiny_model_dir), "-f", "json", "-q"], capsys)
    assert code == 0, err  # without --strict: scored, with a warning and the count
    lax = json.loads(out)
    assert [r["status"] for r in lax] == ["ok", "ok"]
    assert lax[0]["input"]["decoded_frames"] == lax[0]["input"]["n_frames"] == 40
    decoded = lax[1]["input"]["decoded_frames"]
    assert 10 <= decoded < lax[1]["input"]["n_frames"]
    code, out, err = run(["score", *files, "-m", str(tiny_model_dir), "-f", "json", "--strict"], capsys)
    assert code == 3
    strict = json.loads(out)
    assert strict[0]["status"] == "ok" and strict[0]["score"] == pytest.approx(lax[0]["score"])
    assert strict[1]["status"] == "error" and strict[1]["error"]["code"] == "damaged_input"
    assert (
        strict[1]["input"]["decoded_frames"] == decoded and f"{decoded} of " in strict[1]["error"]["message"]
    )
    assert "damaged input" in err


def test_windowed_score_records_decoded_counts_and_strict_exit_3(tiny_model_dir, damaged, capsys):
    """`score --segments`: the record's input has the whole stream's counts; --strict makes it an error."""
    files = [str(damaged["good"]), str(damaged["flipped"])]
    code, out, err = run(
        ["score", *files, "-m", str(tiny_model_dir), "-f", "json", "-q", "--segments", "1s"], capsys
    )
    assert code == 0, err
    lax = json.loads(out)
    assert [r["status"] for r in lax] == ["ok", "ok"] and len(lax[0]["segments"]) == 4
    assert lax[0]["input"]["decoded_frames"] == 40 and lax[0]["input"]["damaged_frames"] == 0
    whole = decode_clip(damaged["flipped"], SMALL)
    assert lax[1]["input"]["decoded_frames"] == whole.decoded_frames < lax[1]["input"]["n_frames"]
    assert any("not scored" in w for w in lax[1]["warnings"])
    code, out, err = run(
        ["score", *files, "-m", str(tiny_model_dir), "-f", "json", "--segments", "1s", "--strict"], capsys
    )
    assert code == 3, err
    strict = json.loads(out)
    assert strict[0]["status"] == "ok" and strict[0]["score"] == pytest.approx(lax[0]["score"])
    assert strict[1]["status"] == "error" and strict[1]["error"]["code"] == "damaged_input"
    assert strict[1]["input"]["decoded_frames"] == whole.decoded_frames


def test_csv_decoded_frames_column_is_last_and_batch_strict_fails(tiny_model_dir, damaged, tmp_path, capsys):
    assert SCORE_COLUMNS[28] == "decoded_frames" and SCORE_COLUMNS[:3] == ("path", "status", "score")
    code, out, _ = run(
        ["score", str(damaged["truncated"]), "-m", str(tiny_model_dir), "-f", "csv", "-q"], capsys
    )
    row = next(csv.DictReader(io.StringIO(out)))
    assert code == 0 and tuple(row) == SCORE_COLUMNS and 10 <= int(row["decoded_frames"]) < 40
    out_csv = tmp_path / "strict.csv"
    code, _, err = run(
        [
            "batch",
            str(damaged["good"]),
            str(damaged["truncated"]),
            "--csv",
            str(out_csv),
            "-m",
            str(tiny_model_dir),
            "--strict",
            "--workers",
            "1",
        ],
        capsys,
    )
    assert code == 3, err
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out_csv.open(newline="", encoding="utf-8"))}
    assert rows["good.mp4"]["status"] == "ok" and rows["good.mp4"]["decoded_frames"] == "40"
    assert rows["truncated.mp4"]["error_code"] == "damaged_input"
    assert rows["truncated.mp4"]["decoded_frames"] == row["decoded_frames"]
    assert json.loads((tmp_path / "strict.csv.vqa2.json").read_text())["config"]["video"]["strict"] is True


@pytest.mark.parametrize(
    "container, codec",
    [
        ("mp4", "libx264"),
        ("mkv", "libx264"),
        ("webm", "libvpx"),
        ("ts", "libx264"),
        ("avi", "libx264"),
        ("mov", "libx264"),
    ],
)
def test_clean_files_with_audio_are_not_called_damaged(tmp_path, container, codec):
    path = make_clip(
        tmp_path / f"av.{container}", seconds=2, fps=8, container=container, codec=codec, audio=True
    )
    info = probe_video(path)
    assert info.container_damaged is None and not [w for w in info.warnings if "damaged" in w]
    clip = decode_clip(path, VideoSection(keyframe_size=32, motion_size=32, strict=True))
    assert clip.decoded_frames == info.n_frames == 16


@pytest.mark.parametrize("fraction", [0.5, 0.95])
@pytest.mark.parametrize("container, codec", [("mkv", "libx264"), ("webm", "libvpx")])
def test_truncated_matroska_is_damaged_although_every_packet_reads(tmp_path, container, codec, fraction):
    good = make_clip(tmp_path / f"g.{container}", seconds=4, fps=10, container=container, codec=codec, gop=10)
    assert probe_video(good).container_damaged is None
    cut = truncate_copy(good, tmp_path / f"cut.{container}", fraction)
    info = probe_video(cut)
    assert info.container_damaged and "truncated" in info.container_damaged
    with pytest.raises(DamagedInputError, match="container is damaged"):
        decode_clip(cut, VideoSection(keyframe_size=32, motion_size=32, strict=True))


def test_eval_scores_csv_keeps_decoded_counts_and_strict_errors(tmp_path):
    """eval's per-video CSV: decoded_frames appended last; a damaged_input error row carries its count
    and is left out of the metrics; a CSV in the layout before the column existed is refused on resume."""
    from types import SimpleNamespace

    from vqa2cli.jobs.evaluate import SCORE_CSV_COLUMNS, evaluate
    from vqa2cli.training.datasets import LabelRecord

    class Fake:  # stands in for Scorer: video 1 is damaged under --strict
        def prepare(self, path, stalling=None):
            if path.endswith("v1.mp4"):
                raise DamagedInputError(
                    path,
                    "damaged input: 7 of 40 frames decodable",
                    input={"n_frames": 40, "decoded_frames": 7, "damaged_frames": 0},
                )
            return path

        def run(self, prepared):
            score = int(prepared[-5]) / 10
            return SimpleNamespace(
                to_dict=lambda: {
                    "score": score,
                    "official_score": score,
                    "level": "fair",
                    "input": {"decoded_frames": 40},
                }
            )

    media = tmp_path / "v"
    media.mkdir()
    for i in range(5):
        (media / f"v{i}.mp4").write_bytes(b"\0" * (10 + i))  # resume matches path, size and mtime
    records = [LabelRecord(index=i, path=media / f"v{i}.mp4", mos=float(i)) for i in range(5)]
    out = tmp_path / "scores.csv"
    result = evaluate(records, Fake(), labels="l", model="m", scores_csv=out, workers=1)
    assert result.n_failed == 1 and result.metrics.n == 4
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert tuple(rows[0]) == SCORE_CSV_COLUMNS and SCORE_CSV_COLUMNS[-1] == "decoded_frames"
    assert [r["decoded_frames"] for r in rows] == ["40", "7", "40", "40", "40"]
    old = tmp_path / "old.csv"  # the columns before decoded_frames: an older layout is refused, not resumed
    v0 = rows[0]
    text = (
        ",".join(SCORE_CSV_COLUMNS[:-1]) + f"\n0,{v0['path']},0.0,0.5,0.6,fair,ok,,"
        f"{v0['size_bytes']},{v0['mtime']}\n"
    )
    old.write_text(text)
    with pytest.raises(ConfigError, match="not a vqa2 CSV to resume") as err:
        evaluate(records, Fake(), labels="l", model="m", scores_csv=old, resume=True, workers=1)
    assert err.value.exit_code == 2 and str(old) in err.value.message
    assert old.read_text() == text


def test_videos_under_non_video_names(tmp_path):
    clip = make_clip(tmp_path / "src.mp4", seconds=1, fps=8)
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("holiday.txt", "upload.jpg", "movie.json"):  # wrong names: still videos
        shutil.copy(clip, folder / name)
    (folder / "notes.txt").write_text("words\n")
    (folder / "song.m4a").write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 64)
    found = D.discover([str(folder)])
    assert sorted(os.path.basename(v.path) for v in found.videos) == [
        "holiday.txt",
        "movie.json",
        "upload.jpg",
    ]
    reasons = {os.path.basename(p): r for p, r in found.reasons.items()}
    assert reasons == {"notes.txt": D.SKIP_EXTENSION, "song.m4a": D.SKIP_EXTENSION}
