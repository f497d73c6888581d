"""Decoding goes on past damaged packets as the ffmpeg CLI does (issue 25, 1): the frames that decode are the
frames ffmpeg decodes from the same file (framemd5, its yardstick), they are what is sampled, the missing
ones are counted, and ``strict`` still refuses any damage.

The damaged files are made here: a clean clip (PyAV or the ffmpeg CLI), then byte edits inside chosen
packets' payloads (:func:`damage_packets`), found by reading each packet's bytes back in the file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clips import make_clip
from ffmpeg_cli import decoded_frames, ffmpeg, frame_times, needs_ffmpeg

from vqa2cli.config import VideoSection
from vqa2cli.errors import DamagedInputError
from vqa2cli.video.decode import decode_clip, decode_windows
from vqa2cli.video.frame_reader import _frames, _Tally
from vqa2cli.video.opening import open_container
from vqa2cli.video.streams import video_stream

SMALL = VideoSection(keyframe_size=32, motion_size=32)
pytestmark = needs_ffmpeg


def packet_spans(path: Path) -> list[tuple[int, int, bool]]:
    """(file offset, size, key frame) of every video packet's payload, in decode order."""
    data = path.read_bytes()
    spans = []
    with open_container(path) as container:
        for packet in container.demux(video_stream(container, path)):
            if packet.size:
                payload = bytes(packet)
                at = data.find(payload, packet.pos if packet.pos and packet.pos > 0 else 0)
                assert at >= 0, "packet payload not contiguous in the file"
                spans.append((at, packet.size, packet.is_keyframe))
    return spans


def damage_packets(src: Path, dst: Path, picks: list[int], how: str) -> Path:
    """Copy ``src`` to ``dst`` with the packets at ``picks`` (decode-order indices) damaged: ``size`` sets
    the first NAL unit's 4-byte length to 0xFFFFFFFF (the decoder refuses the packet), ``payload`` inverts
    the bytes of the packet's second half (the decoder may refuse it or conceal the damage)."""
    data = bytearray(src.read_bytes())
    spans = packet_spans(src)
    for k in picks:
        at, size, _ = spans[k]
        if how == "size":
            data[at : at + 4] = b"\xff\xff\xff\xff"
        else:
            for i in range(at + size // 2, at + size):
                data[i] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def our_frames(path: Path) -> list[float]:
    """The presentation times (s) of every frame the product's frame source decodes, from the file's start
    time (as ffmpeg's output timestamps)."""
    tally = _Tally()
    with open_container(path) as container:
        stream = video_stream(container, path)
        stream.thread_type = "AUTO"  # as the product's reader and the ffmpeg CLI decode (frame threads: a
        # VP8 decoder recovers from damage differently with them)
        start = container.start_time / 1_000_000 if container.start_time else 0.0
        return [float(f.pts * f.time_base) - start for f in _frames(container, stream, tally)]


def source(tmp_path: Path, container: str) -> Path:
    path = tmp_path / f"clean.{container}"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=64x48:rate=30",
        "-t",
        "4",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "30",
        "-pix_fmt",
        "yuv420p",
        path,
    )
    return path


@pytest.mark.parametrize("container", ["mp4", "mkv", "mov"])
@pytest.mark.parametrize("picks", [[40, 55, 70, 85, 100, 110], [1, 2, 3], [119]])
def test_refused_packets_are_skipped_as_ffmpeg_does(tmp_path, container, picks):
    bad = damage_packets(source(tmp_path, container), tmp_path / f"bad.{container}", picks, "size")
    theirs = decoded_frames(bad)
    assert len(theirs) == 120 - len(picks)  # the yardstick: only the damaged packets are lost
    ours = our_frames(bad)
    assert ours == pytest.approx(
        [t for t, _ in theirs], abs=2e-3
    )  # the same frames (ms clocks), in the same order
    clip = decode_clip(bad, SMALL)
    assert (clip.decoded_frames, clip.info.n_frames) == (len(theirs), 120)
    if picks[-1] < 119:  # a refusal at the very end can be swallowed by FFmpeg's frame threads at the flush:
        # then it reads as a truncated tail (the same frames, the plan cut to them; see decode.py)
        assert any(
            f"{len(picks)} damaged packet(s)" in w and f"{len(picks)} missing" in w for w in clip.warnings
        )
    else:
        assert any("damaged packet(s)" in w or "119 of 120 frames decodable" in w for w in clip.warnings)
    # sampled from every frame that decodes: the plan of a clip of those frames, times from their pts
    assert max(clip.plan.motion_indices) >= len(theirs) - 30  # not cut at the first damaged packet
    first = theirs[0][0]
    for index, seconds in zip(clip.plan.keyframe_indices, clip.keyframe_times):
        assert seconds == pytest.approx(theirs[index][0] - first, abs=2e-3)
    with pytest.raises(DamagedInputError, match="packet"):
        decode_clip(bad, VideoSection(keyframe_size=32, motion_size=32, strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_payload_damage_decodes_the_frames_ffmpeg_decodes(tmp_path, seed):
    import random

    clean = make_clip(tmp_path / "clean.mp4", seconds=4, fps=30, width=64, height=48)
    n = len(packet_spans(clean))
    picks = sorted(random.Random(seed).sample(range(1, n), 6))
    bad = damage_packets(clean, tmp_path / "bad.mp4", picks, "payload")
    theirs = decoded_frames(bad)
    assert our_frames(bad) == pytest.approx([t for t, _ in theirs], abs=2e-3)
    assert decode_clip(bad, SMALL).decoded_frames == len(theirs)


def test_windows_go_on_past_damaged_packets(tmp_path):
    bad = damage_packets(source(tmp_path, "mp4"), tmp_path / "bad.mp4", [40, 55, 70], "size")
    stream = decode_windows(bad, SMALL, 1.0)
    windows = list(stream)
    assert stream.decoded_frames == len(decoded_frames(bad)) == 117
    assert len(windows) >= 3  # windows after the damage are scored, not dropped
    assert any("3 damaged packet(s)" in w for w in stream.warnings)


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("flips")
    files = {}
    for ext in ("mp4", "mkv", "ts", "webm", "avi"):
        codec = (
            ("-c:v", "libvpx", "-deadline", "realtime")
            if ext == "webm"
            else ("-c:v", "libx264", "-preset", "ultrafast")
        )
        files[ext] = root / f"clean.{ext}"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=30:duration=6",
            *codec,
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            *(("-movflags", "+faststart") if ext == "mp4" else ()),
            files[ext],
        )
    return files


@pytest.mark.parametrize("ext", ["mp4", "mkv", "ts", "webm", "avi"])
@pytest.mark.parametrize("seed", [104, 105])
def test_bit_flipped_files_decode_the_frames_ffmpeg_decodes(clean_files, tmp_path, ext, seed):
    """300 single-bit flips past the header: the decoded frames are ffmpeg's, in every container (with these
    seeds an MPEG-TS flip adds a stream mid-file, which PyAV's demuxer trips over at its end:
    streams.STREAMS_ADDED)."""
    import random

    rng, data = random.Random(seed), bytearray(clean_files[ext].read_bytes())
    for _ in range(300):
        at = rng.randrange(len(data) // 20, len(data))
        data[at] ^= 1 << rng.randrange(8)
    bad = tmp_path / f"flipped.{ext}"
    bad.write_bytes(bytes(data))
    theirs = frame_times(bad)
    ours = our_frames(bad)
    assert len(ours) == len(theirs)
    # the same frames: times from the first frame within half a frame (ffmpeg uses the decoder's
    # best-effort timestamp where a flip damaged one)
    assert [t - ours[0] for t in ours] == pytest.approx([t - theirs[0] for t in theirs], abs=1 / 60)
    clip = decode_clip(bad, SMALL)
    assert clip.decoded_frames == len(theirs)
    stream = decode_windows(bad, SMALL, 2.0)
    assert len(list(stream)) >= 2 and stream.decoded_frames == len(theirs)
