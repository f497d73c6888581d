"""Tiny synthetic test media, encoded with PyAV (a few KB each).

Every frame of :func:`make_clip` shows, in *display* orientation (after any rotation metadata is applied):

* a white block in the top-left corner (rows ``[0, h/4)``, cols ``[0, w/4)``): orientation is detectable;
* a black box moving left to right in the middle rows: consecutive frames differ;
* a bottom band (rows ``[3h/4, h)``) at grey level :func:`marker_level` ``(i)``: the frame index can be read
  back after lossy coding and resizing (levels are 9 apart; up to 24 frames are distinguishable).

With ``rotation`` the coded frames are stored rotated the other way and the container carries a display
matrix, so a decoder that honours the matrix shows the layout above and one that ignores it does not.
"""

from __future__ import annotations

import random
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

CONTAINER_FORMATS = {
    "mp4": "mp4",
    "mkv": "matroska",
    "webm": "webm",
    "mov": "mov",
    "ts": "mpegts",
    "avi": "avi",
    "gif": "gif",
}
AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "mkv": "aac", "ts": "aac", "webm": "libopus", "avi": "pcm_s16le"}


def marker_level(i: int) -> int:
    """Grey level of the bottom band in frame ``i``."""
    return 20 + (9 * i) % 216


def marker_index(level: float) -> int:
    """Inverse of :func:`marker_level` for frames 0..23 (nearest level)."""
    return int(np.argmin([abs(level - marker_level(i)) for i in range(24)]))


def display_frame(i: int, width: int, height: int, pattern: str = "moving") -> np.ndarray:
    """The RGB frame ``i`` as it should be displayed, uint8 [height, width, 3]."""
    x = np.linspace(96, 160, width, dtype=np.float32)
    img = np.broadcast_to(x, (height, width)).copy()
    if pattern == "moving":
        bw = max(1, width // 8)
        x0 = (i * max(1, width // 16)) % max(1, width - bw)
        img[3 * height // 8 : 5 * height // 8, x0 : x0 + bw] = 0
    img[: max(1, height // 4), : max(1, width // 4)] = 255
    img[3 * height // 4 :, :] = marker_level(i)
    return np.repeat(img.astype(np.uint8)[:, :, None], 3, axis=2)


def _open_output(path: Path, container: str, faststart: bool = False):
    import av

    options = {"movflags": "+faststart"} if faststart else {}
    return av.open(str(path), mode="w", format=CONTAINER_FORMATS[container], options=options)


def _frame_times(n: int, fps: float, vfr: bool) -> list[Fraction]:
    """Presentation times in seconds; VFR alternates short and long frame durations (0.5x, 1.5x)."""
    step = Fraction(1) / Fraction(fps).limit_denominator(1001)
    times, t = [], Fraction(0)
    for i in range(n):
        times.append(t)
        t += step * (Fraction(1, 2) if (vfr and i % 2 == 0) else Fraction(3, 2) if vfr else 1)
    return times


def _add_audio(out, container: str):
    stream = out.add_stream(AUDIO_CODEC[container], rate=48000 if container == "webm" else 16000)
    stream.layout = "mono"
    return stream


def _encode_audio(out, stream, seconds: float) -> None:
    import av

    rate = stream.codec_context.sample_rate
    fmt = stream.codec_context.format.name
    total = int(seconds * rate)
    chunk = 960 if stream.codec_context.name == "libopus" else 1024
    t = np.arange(total) / rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    pts = 0
    for start in range(0, total, chunk):
        piece = wave[start : start + chunk]
        if len(piece) < chunk:
            piece = np.pad(piece, (0, chunk - len(piece)))
        if fmt == "fltp":
            frame = av.AudioFrame.from_ndarray(
                (piece[None] / 32767).astype(np.float32), format="fltp", layout="mono"
            )
        else:
            frame = av.AudioFrame.from_ndarray(piece[None], format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, pts
        pts += chunk
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def make_clip(
    path,
    *,
    seconds: float = 2.0,
    fps: float = 8,
    width: int = 64,
    height: int = 48,
    codec: str = "libx264",
    container: str = "mp4",
    pix_fmt: str = "yuv420p",
    rotation: int = 0,
    vfr: bool = False,
    audio: bool = False,
    audio_first: bool = False,
    pattern: str = "moving",
    frames: int | None = None,
    faststart: bool = False,
    preset: str = "ultrafast",
    gop: int | None = None,
) -> Path:
    """Encode a synthetic clip; ``width``/``height`` are the *display* size. Returns the file path.

    ``frames`` overrides ``round(seconds * fps)``. ``rotation`` (counter-clockwise degrees, as PyAV's
    ``set_display_rotation``) stores the frames rotated by ``-rotation`` plus the display matrix.
    ``audio_first`` puts the audio stream first and muxes all audio before the video. ``faststart`` writes
    the MP4/MOV index first, so a truncated copy still opens (a download cut short). ``preset`` is the
    x264/x265 preset (``"medium"`` adds B-frames: decode order differs from presentation order); ``gop`` the
    key-frame interval in frames.
    """
    import av

    path = Path(path)
    if not path.suffix:
        path = path.with_suffix("." + container)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = frames if frames is not None else max(1, round(seconds * fps))
    if container == "gif":
        codec, pix_fmt = "gif", "rgb8"
    k = (rotation // 90) % 4
    coded_w, coded_h = (height, width) if k % 2 else (width, height)
    with _open_output(path, container, faststart) as out:
        astream = _add_audio(out, container) if audio_first else None
        vstream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        vstream.width, vstream.height, vstream.pix_fmt = coded_w, coded_h, pix_fmt
        if codec in ("libx264", "libx265"):
            vstream.options = {"crf": "12", "preset": preset} | (
                {"x265-params": "log-level=error"} if codec == "libx265" else {}
            )
        elif codec in ("mpeg2video", "mpeg4"):
            vstream.bit_rate = 4_000_000
        if gop:
            vstream.codec_context.gop_size = gop
        if vfr:
            vstream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            vstream.set_display_rotation(rotation)
        if audio and not audio_first:
            astream = _add_audio(out, container)
        if astream is not None and audio_first:
            _encode_audio(out, astream, seconds)
        for i, t in enumerate(_frame_times(n, fps, vfr)):
            rgb = np.ascontiguousarray(np.rot90(display_frame(i, width, height, pattern), k=-k))
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if vfr:
                frame.pts, frame.time_base = int(t * 1000), Fraction(1, 1000)
            else:
                frame.pts = i
            out.mux(vstream.encode(frame.reformat(format=pix_fmt)))
        out.mux(vstream.encode(None))
        if astream is not None and not audio_first:
            _encode_audio(out, astream, seconds)
    return path


def make_lossless_frames(
    path, first: int, stop: int, *, fps: int = 8, width: int = 64, height: int = 48, vfr: bool = False
) -> Path:
    """Frames ``first..stop-1`` of :func:`display_frame` in FFV1 (lossless, intra-only) in Matroska: a file
    cut from a longer one this way decodes to exactly the same pixels as those frames of the longer one.
    ``vfr`` alternates 62 ms and 188 ms frame durations (about ``fps`` 8 on average)."""
    import av

    path = Path(path)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if vfr:
            stream.codec_context.time_base = Fraction(1, 1000)
        t = 0
        for i in range(first, stop):
            rgb = display_frame(i, width, height)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            if vfr:
                frame.pts, frame.time_base = t, Fraction(1, 1000)
                t += 62 if i % 2 == 0 else 188
            else:
                frame.pts = i - first
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def make_audio_only(path, *, seconds: float = 1.0, container: str = "m4a", cover_art: bool = False) -> Path:
    """An audio-only file; ``cover_art`` adds an attached-picture stream (like an MP3 with album art)."""
    path = Path(path)
    if cover_art:
        from ffmpeg_cli import require_ffmpeg

        exe = require_ffmpeg("to build a file with cover art")
        png = path.with_suffix(".cover.png")
        import av

        frame = av.VideoFrame.from_ndarray(display_frame(0, 32, 32), format="rgb24")
        frame.to_image().save(png)
        subprocess.run(
            [
                exe,
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"sine=d={seconds}",
                "-i",
                str(png),
                "-map",
                "0",
                "-map",
                "1",
                "-c:v",
                "png",
                "-disposition:v",
                "attached_pic",
                "-c:a",
                "libmp3lame",
                str(path),
            ],
            check=True,
        )
        png.unlink()
        return path
    fmt = {"m4a": "mp4", "mp3": "mp3", "wav": "wav"}[container]
    codec = {"m4a": "aac", "mp3": "libmp3lame", "wav": "pcm_s16le"}[container]
    import av

    with av.open(str(path), mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=16000 if codec != "libmp3lame" else 44100)
        stream.layout = "mono"
        _encode_audio(out, stream, seconds)
    return path


def truncate_copy(src, dst, fraction: float) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst`` (a download cut short)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: max(1, int(len(data) * fraction))])
    return Path(dst)


def random_bytes(path, size: int = 20_000, seed: int = 0) -> Path:
    """A file of seeded random bytes with a video suffix."""
    rng = random.Random(seed)
    Path(path).write_bytes(bytes(rng.getrandbits(8) for _ in range(size)))
    return Path(path)


def ffmpeg_available() -> bool:
    from ffmpeg_cli import ffmpeg_exe

    return ffmpeg_exe() is not None
