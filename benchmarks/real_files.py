"""What reading a file as a snapshot and decoding past damage cost (issue 25, items 1 and 8), side by side in one
run, wall and CPU time (this process's ``time.process_time``; FFmpeg's decoder threads count too).

* snapshot: ``decode_clip`` as it runs now (FFmpeg's ``subfile`` protocol limits every read to the size the
  probe saw) against the same decode opening the file by name (``snapshot_url`` patched to the plain path);
  the frames are the same (checked).
* damage: a clean clip against a copy with 6 packets the decoder refuses: the damaged clip is decoded twice
  (the second pass samples over the frames that decode), so it costs about 2× on damaged files only.

Repetitions alternate the order of the two sides. The clip is made with the ffmpeg CLI (tests/ffmpeg_cli.py).

    python benchmarks/real_files.py                  # 640x360, 30 fps, 20 s, 5 repetitions
    python benchmarks/real_files.py --seconds 60 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()

    import numpy as np
    from ffmpeg_cli import ffmpeg
    from test_damaged_packets import damage_packets

    from vqa2cli.config import VideoSection
    from vqa2cli.video import opening as opening_module
    from vqa2cli.video.decode import decode_clip

    video = VideoSection()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        ffmpeg(
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=640x360:rate=30:duration={args.seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
            clip,
        )
        n = int(args.seconds * 30)
        bad = damage_packets(clip, Path(tmp) / "bad.mp4", [n // 7 * k for k in range(1, 7)], "size")
        plain_url = opening_module.snapshot_url

        def by_name():
            opening_module.snapshot_url = lambda path, size: str(path)
            try:
                return decode_clip(clip, video)
            finally:
                opening_module.snapshot_url = plain_url

        sides = {
            "snapshot (subfile)": lambda: decode_clip(clip, video),
            "by name": by_name,
            "clean clip": lambda: decode_clip(clip, video),
            "6 refused packets": lambda: decode_clip(bad, video),
        }
        results = {name: [] for name in sides}
        for rep in range(args.reps):
            for pair in (("snapshot (subfile)", "by name"), ("clean clip", "6 refused packets")):
                for name in pair if rep % 2 == 0 else pair[::-1]:
                    wall, cpu, out = timed(sides[name])
                    results[name].append((wall, cpu, out))
        a, b = results["snapshot (subfile)"][0][2], results["by name"][0][2]
        assert np.array_equal(a.keyframes, b.keyframes) and np.array_equal(a.motion_frames, b.motion_frames)
        print(f"640x360 30 fps {args.seconds:g} s H.264, {args.reps} repetitions, medians")
        print("| run | wall s | CPU s | ratio (wall) | ratio (CPU) | frames decoded |")
        print("|---|---|---|---|---|---|")
        for base, other in (("by name", "snapshot (subfile)"), ("clean clip", "6 refused packets")):
            bw, bc = (statistics.median(r[i] for r in results[base]) for i in (0, 1))
            for name in (base, other):
                w, c = (statistics.median(r[i] for r in results[name]) for i in (0, 1))
                print(
                    f"| {name} | {w:.2f} | {c:.2f} | {w / bw:.2f}x | {c / bc:.2f}x | "
                    f"{results[name][0][2].decoded_frames} |"
                )


if __name__ == "__main__":
    main()
