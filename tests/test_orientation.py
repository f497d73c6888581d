"""Display matrices, mirrors included, applied as ffmpeg's autorotate does (issue 25, 3): files written by the
ffmpeg CLI with each of the 8 orientations (``-display_rotation`` × ``-display_hflip``/``-display_vflip``), our
frames against ffmpeg's autorotated decode of the same file, and what was applied in probe and the record."""

from __future__ import annotations

import itertools
import subprocess

import numpy as np
import pytest
from ffmpeg_cli import ffmpeg, ffmpeg_exe, needs_ffmpeg

from vqa2cli.config import VideoSection
from vqa2cli.video.decode import decode_clip
from vqa2cli.video.orientation import Orientation, from_matrix
from vqa2cli.video.probe import probe_video

SIZE = 48
ORIENTATIONS = list(itertools.product([0, 90, 180, 270], [False, True], [False, True]))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("orient") / "src.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=96x64:rate=5",
        "-t",
        "0.4",
        "-c:v",
        "libx264",
        "-qp",
        "0",
        "-pix_fmt",
        "yuv444p",
        path,
    )
    return path


def ffmpeg_view(path) -> np.ndarray:
    """ffmpeg's autorotated first frame, scaled to SIZE×SIZE (bicubic, as ours)."""
    raw = subprocess.run(
        [
            ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-vf",
            f"scale={SIZE}:{SIZE}:flags=bicubic",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(SIZE, SIZE, 3).astype(int)


CASES = [(*o, "torch") for o in ORIENTATIONS] + [(90, True, False, "pil"), (0, False, True, "sws")]


@needs_ffmpeg
@pytest.mark.parametrize("rotation, hflip, vflip, resize", CASES)
def test_every_orientation_matches_ffmpeg_autorotate(tmp_path, source, rotation, hflip, vflip, resize):
    path = tmp_path / "turned.mp4"
    ffmpeg(
        "-display_rotation",
        rotation,
        *(["-display_hflip"] if hflip else []),
        *(["-display_vflip"] if vflip else []),
        "-i",
        source,
        "-c",
        "copy",
        path,
    )
    theirs = ffmpeg_view(path)
    clip = decode_clip(path, VideoSection(keyframe_size=SIZE, motion_size=SIZE, resize=resize))
    ours = clip.keyframes[0].astype(int)
    others = [
        np.abs(Orientation(r, f).apply(ours) - theirs).mean()
        for r in (0, 90, 180, 270)
        for f in (False, True)
        if (r, f) != (0, False) and Orientation(r, f).apply(ours).shape == theirs.shape
    ]
    assert np.abs(ours - theirs).mean() < 3  # ffmpeg's swscale bicubic vs ours: ~1 level; a wrong turn ~20+
    assert min(others) > 10  # the test can tell orientations apart
    info = clip.info
    assert (info.width, info.height) == ((64, 96) if rotation in (90, 270) else (96, 64))
    assert info.transform == Orientation(info.rotation, info.hflip).transform
    assert info.hflip == (hflip != vflip)  # one mirror is a mirror; two are a 180° turn
    assert probe_video(path).transform == info.transform


def test_matrix_reading_covers_the_eight_orientations():
    def matrix(a, b, c, d):
        return [a * 65536, b * 65536, 0, c * 65536, d * 65536, 0, 0, 0, 1 << 30]

    cases = {
        (1, 0, 0, 1): (0, False),
        (-1, 0, 0, -1): (180, False),
        (0, 1, -1, 0): (90, False),
        (0, -1, 1, 0): (270, False),
        (-1, 0, 0, 1): (0, True),
        (1, 0, 0, -1): (180, True),
        (0, 1, 1, 0): (90, True),
        (0, -1, -1, 0): (270, True),
    }
    for entries, (rotation, hflip) in cases.items():
        got = from_matrix(matrix(*entries))
        assert (got.rotation, got.hflip, got.off_axis) == (rotation, hflip, None), entries
    assert from_matrix(None) == Orientation()
    assert Orientation(180, True).transform == "rotate 180+hflip"
    tilted = from_matrix(
        [int(0.866 * 65536), int(0.5 * 65536), 0, int(-0.5 * 65536), int(0.866 * 65536), 0, 0, 0, 1 << 30]
    )
    assert tilted.rotation == 0 and tilted.off_axis == pytest.approx(30, abs=0.1)


@needs_ffmpeg
def test_the_score_record_says_what_was_applied_and_which_stream(tiny_scorer, source, tmp_path):
    path = tmp_path / "mirrored.mp4"
    ffmpeg("-display_rotation", 90, "-display_hflip", "-i", source, "-c", "copy", path)
    record = tiny_scorer.score(path)
    assert record.input["transform"] == "rotate 270+hflip" and record.input["rotation"] == 270
    assert record.input["stream_index"] == 0
    assert any("mirrors" in w for w in record.warnings)
