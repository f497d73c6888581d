"""Decode through a pinned descriptor (serve's ``{"path": ...}`` requests) against decode by name, one run.

``vqa2 serve`` opens a path request once and every read after the check goes through that descriptor
(vqa2cli/video/source.py): PyAV reads a Python file object (``os.pread``, 64 KiB buffer) instead of opening
the name itself. This compares ``probe_video`` + ``decode_clip`` of one clip both ways, interleaved (the
order alternates per repetition), wall and CPU time (``time.process_time``) per way, and prints the ratios.

    python benchmarks/pinned_decode.py                    # a synthetic 10 s 640x360 30 fps H.264 clip
    python benchmarks/pinned_decode.py --clip FILE --reps 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def one(path, video) -> tuple[float, float]:
    from vqa2cli.video.decode import decode_clip

    wall, cpu = time.perf_counter(), time.process_time()
    decode_clip(path, video)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    from vqa2cli.config import Settings
    from vqa2cli.video import source

    clip = args.clip
    if clip is None:
        from clips import make_clip

        clip = make_clip(Path(tempfile.mkdtemp()) / "bench.mp4", seconds=10, fps=30, width=640, height=360)
    video = Settings().video
    fd = os.open(clip, os.O_RDONLY)
    pinned = source.pin(fd, str(clip))
    times = {"name": [], "descriptor": []}
    try:
        one(str(clip), video)  # warm the page cache and the codec
        for rep in range(args.reps):
            order = ("name", "descriptor") if rep % 2 == 0 else ("descriptor", "name")
            for way in order:
                times[way].append(one(str(clip) if way == "name" else pinned.key, video))
    finally:
        pinned.close()
    med = {
        w: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for w, v in times.items()
    }
    print(
        f"clip {clip} ({clip.stat().st_size} bytes), {args.reps} reps, load average {os.getloadavg()[0]:.1f}"
    )
    for way, (wall, cpu) in med.items():
        print(f"  {way:10s} wall {wall:.3f} s  cpu {cpu:.3f} s (median)")
    print(
        f"  descriptor/name: wall {med['descriptor'][0] / med['name'][0]:.3f}x, "
        f"cpu {med['descriptor'][1] / med['name'][1]:.3f}x"
    )


if __name__ == "__main__":
    main()
