"""A file that grows while it is read (issue 25, 8) is read as one snapshot: the size when probed. The probe
and the decode passes see the same bytes (the frames ffmpeg decodes from a copy of that prefix), and a
warning says the file changed."""

from __future__ import annotations

import pytest
from ffmpeg_cli import decoded_frames, ffmpeg, needs_ffmpeg

from vqa2cli.config import VideoSection
from vqa2cli.video.decode import decode_clip, decode_windows
from vqa2cli.video.probe import probe_video

SMALL = VideoSection(keyframe_size=32, motion_size=32)


@pytest.fixture
def recording(tmp_path):
    """(the whole stream's bytes, the byte count written when it is first read, the growing file)."""
    whole = tmp_path / "whole.ts"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=10:duration=6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "10",
        "-pix_fmt",
        "yuv420p",
        whole,
    )
    data = whole.read_bytes()
    first = len(data) // 2 // 188 * 188
    path = tmp_path / "rec.ts"
    path.write_bytes(data[:first])
    return data, first, path


@needs_ffmpeg
@pytest.mark.parametrize("windows", [False, True])
def test_a_growing_file_is_scored_as_one_snapshot(recording, tmp_path, windows):
    data, first, path = recording
    info = probe_video(path, key_sizes=False)  # e.g. score's preflight
    assert info.size_bytes == first
    with open(path, "ab") as fh:  # the recorder writes on before the decode starts
        fh.write(data[first:])
    prefix = tmp_path / "prefix.ts"
    prefix.write_bytes(data[:first])
    theirs = len(decoded_frames(prefix))
    if windows:
        stream = decode_windows(path, SMALL, 1.0, info=info)
        list(stream)
        decoded, warnings = stream.decoded_frames, stream.warnings
    else:
        clip = decode_clip(path, SMALL, info=info)
        decoded, warnings = clip.decoded_frames, clip.warnings
    assert decoded == theirs < 60  # the snapshot's frames, not the grown file's
    assert decoded <= info.n_frames
    assert any(f"grew from {first} to {len(data)} bytes" in w for w in warnings)


def test_an_unchanged_file_gets_no_such_warning(make_clip):
    clip = decode_clip(make_clip("still.mp4", seconds=1), SMALL)
    assert not [w for w in clip.warnings if "while it was read" in w]
    assert clip.info.size_bytes > 0
