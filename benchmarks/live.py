"""What a live run costs over scoring the same file with ``--segments``, measured side by side in one run.

Tiny random checkpoint on the CPU (loaded once), a synthetic clip made with the ffmpeg CLI at run time
(testsrc2, 30 fps, x264 ultrafast, Matroska). Each repetition scores, interleaved (the order alternates, so
background load hits both alike):

1. ``file``: ``scorer.score(CLIP)`` with ``window_s`` set (what ``vqa2 score CLIP --segments S`` runs);
2. ``live``: ``vqa2cli.score_stream(scorer, pipe, segments=S)``, the clip's bytes written into an OS pipe by a
   thread as fast as the pipe takes them (what ``cat CLIP | vqa2 score - --segments S`` runs: the copy, the
   frame counter's demux pass, the probes, the decode pass over the growing copy).

It checks that both give the same window scores and prints the medians of wall and process CPU time
(``time.process_time``: every thread) and the ratios live / file. Target: CPU ratio <= 1.1 (the counter's
demux pass and the probes are small next to decoding and the forwards).

    python benchmarks/live.py                     # 30 s 426x240 clip, 10 s windows, 3 repetitions
    python benchmarks/live.py --seconds 60 --reps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def make_clip(folder: Path, seconds: float, size: str) -> Path:
    out = folder / f"live-{seconds:g}s-{size}.mkv"
    if not out.exists():
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30"]
            + ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", str(out)],
            check=True,
        )
    return out


def measure(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def piped(data: bytes):
    r, w = os.pipe()

    def writer():
        with os.fdopen(w, "wb") as out:
            out.write(data)

    threading.Thread(target=writer, daemon=True).start()
    return os.fdopen(r, "rb", buffering=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="426x240")
    parser.add_argument("--segments", type=float, default=10.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vqa2-bench-live")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    from tiny_checkpoint import write_tiny_official_checkpoint

    import vqa2cli

    model = args.workdir / "tiny"
    if not (model / "config.json").exists():
        model.mkdir(exist_ok=True)
        write_tiny_official_checkpoint(model)
    clip = make_clip(args.workdir, args.seconds, args.size)
    data = clip.read_bytes()
    scorer = vqa2cli.load_scorer(str(model), device="cpu")
    runs: dict[str, list[tuple[float, float]]] = {"file": [], "live": []}
    for rep in range(args.reps):
        order = ("file", "live") if rep % 2 == 0 else ("live", "file")
        scores = {}
        for kind in order:
            if kind == "file":
                record, wall, cpu = measure(lambda: scorer.configure(window_s=args.segments).score(str(clip)))
            else:
                pipe = piped(data)
                record, wall, cpu = measure(
                    lambda pipe=pipe: vqa2cli.score_stream(scorer, pipe, segments=args.segments)
                )
            runs[kind].append((wall, cpu))
            scores[kind] = [s["score"] for s in record.segments]
        assert scores["file"] == scores["live"], "live windows differ from the file's"
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()
    }
    print(
        f"clip {args.seconds:g} s {args.size} 30 fps, windows {args.segments:g} s, {args.reps} reps, same scores"
    )
    for kind, (wall, cpu) in med.items():
        print(f"{kind:5s} wall {wall:7.2f} s  cpu {cpu:7.2f} s")
    print(f"live/file  wall {med['live'][0] / med['file'][0]:.3f}  cpu {med['live'][1] / med['file'][1]:.3f}")


if __name__ == "__main__":
    main()
