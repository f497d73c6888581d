"""vqa2's decoded inputs against the official loader (decord 0.6.0 + PIL bicubic, spec §3) at the card size.

For each clip (made with the ffmpeg CLI under --workdir): the official pipeline runs in a subprocess
(``decord.VideoReader(ctx=cpu(0), num_threads=1)``, every frame, ``Image.resize((S, S), BICUBIC)``), vqa2's
``decode_clip`` runs here with ``video.resize="pil"`` and with the default; the script prints whether frame count,
fps, key-frame indices and motion-frame count agree and the mean / max absolute difference of the pixels.
Needs ``pip install decord`` (Linux x86-64) and the ffmpeg CLI.

    python benchmarks/official_loader.py --workdir /tmp/official
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SRC = "testsrc2=size={size}:rate={rate},noise=alls=6:allf=t"
CLIPS = {  # name: (lavfi size, rate, seconds, output options, extra ffmpeg options)
    "1080p H.264 (untagged, BT.601 assumed)": (
        "1920x1080",
        30,
        2,
        ["-c:v", "libx264", "-pix_fmt", "yuv420p"],
    ),
    "720p H.264 BT.709 tagged": (
        "1280x720",
        30,
        2,
        [
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-colorspace",
            "bt709",
            "-color_primaries",
            "bt709",
            "-color_trc",
            "bt709",
        ],
    ),
    "720p H.264 full range (yuvj420p)": ("1280x720", 25, 2, ["-c:v", "libx264", "-pix_fmt", "yuvj420p"]),
    "720p H.264 29.97 fps, B-frames": (
        "1280x720",
        "30000/1001",
        2,
        ["-c:v", "libx264", "-preset", "medium", "-pix_fmt", "yuv420p"],
    ),
    "360p ProRes 4:2:2 10-bit": ("640x360", 25, 2, ["-c:v", "prores_ks", "-pix_fmt", "yuv422p10le"]),
    "360p HEVC 4:2:0 10-bit": (
        "640x360",
        25,
        2,
        ["-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p10le"],
    ),
    "240p VP9 WebM": ("426x240", 30, 2, ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p"]),
}
SUFFIX = {"ProRes": ".mov", "VP9": ".webm"}
HERE = Path(__file__).resolve().parent


def make(workdir: Path, name: str, spec) -> Path:
    size, rate, seconds, options = spec
    suffix = next((s for key, s in SUFFIX.items() if key in name), ".mp4")
    path = workdir / (name.split(" ")[0] + "-" + str(abs(hash(name)) % 10_000) + suffix)
    if not path.exists():
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                SRC.format(size=size, rate=rate),
                "-t",
                str(seconds),
                *options,
                str(path),
            ],
            check=True,
        )
    return path


def diff(ours: np.ndarray, theirs: np.ndarray) -> str:
    if ours.shape != theirs.shape:
        return f"shape {ours.shape} vs {theirs.shape}"
    d = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
    return f"{d.mean():.3f} (max {d.max()})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, help="where clips are made and kept (default: a temp dir)")
    parser.add_argument("--size", type=int, default=384, help="S: the card's key-frame and motion size")
    args = parser.parse_args()
    from vqa2cli.config import VideoSection
    from vqa2cli.video.decode import decode_clip

    work = args.workdir or Path(tempfile.mkdtemp(prefix="vqa2-official-"))
    work.mkdir(parents=True, exist_ok=True)
    video = VideoSection(keyframe_size=args.size, motion_size=args.size)
    print(
        "| clip | frames, fps | same n, key indices, T | key frames, pil | key frames, torch (default) "
        "| motion frames, torch |\n|---|---|---|---|---|---|"
    )
    sys.path.insert(0, str(HERE.parent / "tests"))  # the official-loader runner and PyAV's clip writer
    from clips import make_clip
    from official_reference import official_inputs

    portrait = make_clip(work / "portrait.mp4", width=720, height=1280, fps=30, seconds=2, rotation=90)
    clips = {name: make(work, name, spec) for name, spec in CLIPS.items()}
    clips["720x1280 portrait phone clip (display matrix 90°, PyAV: the ffmpeg 5 CLI cannot write one)"] = (
        portrait
    )
    for name, path in clips.items():
        n, fps, keys, official_keys, official_motion = official_inputs(path, args.size, work)
        exact, fast = decode_clip(path, dataclasses.replace(video, resize="pil")), decode_clip(path, video)
        same = (
            exact.info.n_frames == n,
            list(exact.plan.keyframe_indices) == keys,
            len(exact.plan.motion_indices) == len(official_motion),
        )
        print(
            f"| {name} | {n}, {fps:.3f} | {'yes' if all(same) else same} "
            f"| {diff(exact.keyframes, official_keys)} | {diff(fast.keyframes, official_keys)} "
            f"| {diff(fast.motion_frames, official_motion)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
