"""`score --explain` re-decodes its selected windows by seeking (vqa2cli/video/seek.py) instead of one pass from
the start of the file (vqa2cli/video/decode.py WindowStream): frames decoded, wall and CPU seconds, side by
side in one run, and whether the arrays are identical.

The clip is made with the ffmpeg CLI (testsrc2, libx264 ``-preset veryfast``, key frame every ``--gop``
frames, 24 fps); windows of 10 s as `score --segments 10s` plans them; the cases are the worst window being
the last, a middle one, and the first. Each case runs ``--repeat`` times per mode, alternating; medians.

    python benchmarks/explain_seek.py                      # 60 s 640x360, GOP 250 (x264's default)
    python benchmarks/explain_seek.py --seconds 120 --gop 48
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def make(path: Path, seconds: int, gop: int, size: str) -> None:
    source = f"testsrc2=size={size}:rate=24:duration={seconds}"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source, "-c:v", "libx264"]
        + ["-preset", "veryfast", "-g", str(gop), "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )


def run_full(info, windows, video):
    from vqa2cli.video.decode import WindowStream

    out, last = [], windows[-1]
    for window, clip in WindowStream(info, windows, video, video.resize):
        out.append(clip)
        if window is last:
            break
    return out, last.stop  # every frame up to the last window's last is decoded


def run_seek(info, windows, video):
    from vqa2cli.video.seek import SeekStream

    seeker = SeekStream(info, windows, video, video.resize)
    out = [clip for _, clip in seeker]
    assert seeker.fallback is None, seeker.fallback
    return out, seeker.frames_decoded


def timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    clips, frames = fn(*args)
    return clips, frames, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    import numpy as np

    from vqa2cli.config import VideoSection
    from vqa2cli.video.decode import decode_windows

    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--gop", type=int, default=250)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    video = VideoSection()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        make(path, args.seconds, args.gop, args.size)
        plan = decode_windows(path, video, 10.0)  # planned only: nothing decoded
        windows = plan.windows
        print(f"{args.seconds} s {args.size} H.264, GOP {args.gop}, {len(windows)} windows of 10 s")
        print("| window | mode | frames decoded | wall s | CPU s | identical |")
        print("|---|---|---|---|---|---|")
        for label, chosen in (
            ("last", windows[-1:]),
            ("middle", windows[len(windows) // 2 :][:1]),
            ("first", windows[:1]),
        ):
            rows = {"full pass": [], "seek": []}
            arrays = {}
            for _ in range(args.repeat):
                for mode, fn in (("full pass", run_full), ("seek", run_seek)):
                    clips, frames, wall, cpu = timed(fn, plan.info, chosen, video)
                    rows[mode].append((frames, wall, cpu))
                    arrays[mode] = (clips[0].keyframes, clips[0].motion_frames)
            same = all(np.array_equal(a, b) for a, b in zip(arrays["full pass"], arrays["seek"], strict=True))
            for mode, got in rows.items():
                frames = got[0][0]
                wall = statistics.median(r[1] for r in got)
                cpu = statistics.median(r[2] for r in got)
                print(
                    f"| {label} ({chosen[0].index}) | {mode} | {frames} | {wall:.2f} | {cpu:.2f} | {same} |"
                )


if __name__ == "__main__":
    main()
