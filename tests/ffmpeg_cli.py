"""The ffmpeg CLI in the tests: the one way to find it, run it and read its view of a file.

ffmpeg is the yardstick of the decoding tests (framemd5, autorotate, stream choice) and the maker of odd
files. It is found on ``PATH``, else from the ``imageio-ffmpeg`` wheel (the ``test`` extra ships it, so a
fresh ``pip install -e '.[test]'`` has one). That wheel has no ``ffprobe``: what the tests used ffprobe for is
read from ffmpeg itself (:func:`stream_info`: ``ffmpeg -i``'s stream line; :func:`decoded_frames`: the
framemd5 muxer, one line per decoded frame, as ``ffprobe -count_frames`` counts them; :func:`frame_sizes`:
the ``showinfo`` filter). ``VQA2_FFMPEG=PATH`` picks another binary, ``VQA2_NO_FFMPEG=1`` hides it (to test the skips). A test that needs it is marked
:data:`needs_ffmpeg` or calls :func:`require_ffmpeg`; under ``CI=true`` such a skip is a failure
(tests/conftest.py), so a CI run never passes without its yardstick.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FFMPEG_SKIP = "needs the ffmpeg CLI"  # every skip for lack of ffmpeg says this (conftest fails them under CI)


@functools.cache
def _find() -> str | None:
    if os.environ.get("VQA2_FFMPEG"):
        return os.environ["VQA2_FFMPEG"]
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # not installed, or no binary for this platform
        return shutil.which("ffmpeg")


def ffmpeg_exe() -> str | None:
    """The ffmpeg binary: ``VQA2_FFMPEG``, else imageio-ffmpeg's (one pinned build, the same on every machine:
    a distribution's ffmpeg can be too old, e.g. Debian 12's 5.1 has no ``-display_rotation``), else the
    one on ``PATH``; None when there is none (or ``VQA2_NO_FFMPEG=1``)."""
    if os.environ.get("VQA2_NO_FFMPEG") == "1":
        return None
    return _find()


def needs_ffmpeg_for(why: str):
    """A ``skipif`` mark: skip (fail under ``CI=true``) without ffmpeg; ``why`` says what it is used for."""
    return pytest.mark.skipif(ffmpeg_exe() is None, reason=f"{FFMPEG_SKIP} {why}")


needs_ffmpeg = needs_ffmpeg_for("as a yardstick or to make the files")


def require_ffmpeg(why: str = "as a yardstick or to make the files") -> str:
    """The ffmpeg binary, or skip the calling test (a failure under ``CI=true``)."""
    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip(f"{FFMPEG_SKIP} {why}")
    return exe


def ffmpeg(*args, capture: bool = False) -> subprocess.CompletedProcess:
    """Run ``ffmpeg -v error -y ARGS`` (check=True); ``capture``: stdout/stderr as text."""
    exe = require_ffmpeg()
    return subprocess.run(
        [exe, "-nostdin", "-v", "error", "-y", *map(str, args)],
        check=True,
        capture_output=capture,
        text=capture or None,
    )


def stream_info(path: Path, stream: int = 0) -> dict:
    """ffmpeg's description of the ``stream``-th video stream of ``path`` (``ffmpeg -i``'s stream line):
    ``width``/``height`` (stored size), ``fps`` (its avg_frame_rate), ``tbr`` (its r_frame_rate), both as
    ffmpeg prints them (2 decimals), and ``duration`` (the container's, seconds, 2 decimals)."""
    exe = require_ffmpeg()
    err = subprocess.run(
        [exe, "-nostdin", "-hide_banner", "-i", str(path)], capture_output=True, text=True
    ).stderr
    lines = [ln for ln in err.splitlines() if re.search(r"Stream #\d+:\d+.*: Video:", ln)]
    line = lines[stream]
    size = re.search(r", (\d+)x(\d+)", line)
    fps = re.search(r"([\d.]+k?) fps", line)
    tbr = re.search(r"([\d.]+k?) tbr", line)
    dur = re.search(r"Duration: (\d+):(\d+):([\d.]+)", err)
    return {
        "width": int(size[1]),
        "height": int(size[2]),
        "fps": fps and fps[1],
        "tbr": tbr and tbr[1],
        "duration": dur and int(dur[1]) * 3600 + int(dur[2]) * 60 + float(dur[3]),
        "line": line,
    }


def decoded_frames(path: Path, *options: str, select: str = "0:v:0") -> list[tuple[float, str]]:
    """Every frame ffmpeg decodes from ``select`` (passthrough: no frame dropped or duplicated), as
    ``(pts seconds, md5 of the frame's raw data)`` from the framemd5 muxer; ``options`` go before ``-i``
    (e.g. ``-noautorotate``). Decode errors are not fatal to ffmpeg: it goes on with the next packet."""
    exe = require_ffmpeg()
    out = subprocess.run(
        [
            exe,
            "-nostdin",
            "-v",
            "quiet",
            *options,
            "-i",
            str(path),
            "-map",
            select,
            "-fps_mode",
            "passthrough",
            "-f",
            "framemd5",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stdout
    frames, time_base = [], None
    for line in out.splitlines():
        if line.startswith("#tb"):
            num, den = line.split(":")[1].strip().split("/")
            time_base = int(num) / int(den)
        elif line and not line.startswith("#"):
            cells = [c.strip() for c in line.split(",")]
            frames.append((int(cells[2]) * time_base, cells[5]))
    return frames


def frame_times(path: Path, select: str = "0:v:0") -> list[float]:
    """The presentation time (s, as ffmpeg's output clock: from the file's start) of every frame ffmpeg decodes
    from ``select`` (the showinfo filter into the null muxer, which checks no timestamps: damaged files whose
    timestamps go backwards are decoded to their end, where framemd5 would stop at the muxer's error)."""
    exe = require_ffmpeg()
    err = subprocess.run(
        [
            exe,
            "-nostdin",
            "-hide_banner",
            "-i",
            str(path),
            "-map",
            select,
            "-fps_mode",
            "passthrough",
            "-vf",
            "showinfo",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stderr
    return [float(t) for t in re.findall(r"\] n:\s*\d+ .*?pts_time:(-?[\d.e+-]+)", err)]


def frame_sizes(path: Path) -> list[tuple[int, int]]:
    """Every decoded frame's size (width, height) of the first video stream (ffmpeg's showinfo filter)."""
    exe = require_ffmpeg()
    err = subprocess.run(
        [
            exe,
            "-nostdin",
            "-hide_banner",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-fps_mode",
            "passthrough",
            "-vf",
            "showinfo",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stderr
    return [(int(w), int(h)) for w, h in re.findall(r"\] n:\s*\d+ .*? s:(\d+)x(\d+)", err)]
