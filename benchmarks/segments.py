"""Long clips scored window by window: time per minute of video, peak RSS, and streaming overhead.

Tiny random checkpoint on the CPU, synthetic 240p clips made with the ffmpeg CLI at run time (testsrc2,
426x240, 30 fps, x264 ultrafast). Each length runs in its own child process so that its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) is its own. In each child, *in the same run*:

1. one plain decode pass over the clip (``decode_windows`` iterated without the model): ``decode_s``;
2. the segmented scoring run (``SegmentingScorer`` with ``--segments``): wall time ``wall_s``, and the
   sum of its per-window forwards ``forward_s``;

and prints ``overhead = wall_s / (decode_s + forward_s)`` (target <= 1.1: streaming adds nothing to one
decode pass plus the forwards), ``s/min`` = wall seconds per minute of video (target: within 15 % across
lengths) and the peak RSS (target: the longest within 10 % of the shortest and under 2 GB).

    python benchmarks/segments.py                       # 1 and 10 minutes, 10 s windows, motion at 384 px
    python benchmarks/segments.py --minutes 1 10 60     # the 60-minute run takes long on a small CPU
    python benchmarks/segments.py --motion-size 64      # cheaper SlowFast input (faster runs)
    python benchmarks/segments.py --record              # also rewrite "## Long videos" in RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))


def make_clip(folder: Path, minutes: float) -> Path:
    path = folder / f"testsrc2_240p_{minutes:g}min.mp4"
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
                "testsrc2=size=426x240:rate=30",
                "-t",
                str(minutes * 60),
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-crf",
                "30",
                "-pix_fmt",
                "yuv420p",
                str(path),
            ],
            check=True,
        )
    return path


def child(model_dir: str, clip: str, window_s: float, motion_size: int) -> dict:
    """One length, measured in this process (see the module docstring)."""
    import torch

    from vqa2cli.cli.options import resolve_settings
    from vqa2cli.pipeline.segmented import SegmentingScorer
    from vqa2cli.video.decode import decode_windows

    settings, ref = resolve_settings(
        "score", model_dir, None, runtime__device="cpu", video__motion_size=motion_size
    )
    scorer = SegmentingScorer.load(settings, ref).configure(window_s=window_s)
    budget, copies = scorer.visual_limits()
    cpu0, t0 = time.process_time(), time.perf_counter()
    n_windows = sum(
        1 for _ in decode_windows(clip, settings.video, window_s, token_budget=budget, motion_copies=copies)
    )
    decode_s, decode_cpu = time.perf_counter() - t0, time.process_time() - cpu0
    cpu0, t0 = time.process_time(), time.perf_counter()
    record = scorer.score(clip)
    wall_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    forward_s = sum(s["infer_s"] for s in record.segments)
    return {
        "clip": clip,
        "minutes": record.input["duration_s"] / 60,
        "windows": len(record.segments),
        "decode_windows": n_windows,
        "decode_s": decode_s,
        "decode_cpu_s": decode_cpu,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "forward_s": forward_s,
        "overhead": wall_s / (decode_s + forward_s),
        "s_per_min": wall_s / (record.input["duration_s"] / 60),
        "cpu_s_per_min": cpu_s / (record.input["duration_s"] / 60),
        "load_end": os.getloadavg()[0],
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "threads": torch.get_num_threads(),
        "score": record.score,
    }


def run_length(model_dir: Path, clip: Path, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        str(model_dir),
        str(clip),
        str(args.window),
        str(args.motion_size),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    head = (
        "| clip | windows | wall s | CPU s | s per min of video | decode pass s | sum of forwards s "
        "| overhead | peak RSS GB |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    return head + "".join(
        f"| {r['minutes']:.0f} min | {r['windows']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['s_per_min']:.1f} "
        f"| {r['decode_s']:.1f} | {r['forward_s']:.1f} | {r['overhead']:.3f} | {r['peak_rss_gb']:.2f} |\n"
        for r in rows
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        model_dir, clip, window, motion = sys.argv[2:6]
        print(json.dumps(child(model_dir, clip, float(window), int(motion))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--window", type=float, default=10.0, help="window seconds (--segments)")
    parser.add_argument("--motion-size", type=int, default=384)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vqa2-bench-segments")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("the ffmpeg CLI is needed to make the test clips")
    from batch import machine
    from tiny_checkpoint import write_tiny_official_checkpoint

    args.workdir.mkdir(parents=True, exist_ok=True)
    model_dir = args.workdir / "tiny"
    if not (model_dir / "config.json").exists():
        write_tiny_official_checkpoint(model_dir)
    rows = []
    for minutes in args.minutes:
        clip = make_clip(args.workdir, minutes)
        rows.append(run_length(model_dir, clip, args))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    first, last = rows[0], rows[-1]
    spread = max(r["s_per_min"] for r in rows) / min(r["s_per_min"] for r in rows) - 1
    summary = (
        f"\n{machine()}; windows of {args.window:g} s, motion frames at {args.motion_size} px.\n\n"
        + table(rows)
        + f"\ntime per minute: spread {spread:.1%} (target <= 15 %); peak RSS {last['minutes']:.0f} min / "
        f"{first['minutes']:.0f} min = {last['peak_rss_gb'] / first['peak_rss_gb']:.3f} "
        f"(target <= 1.10, and < 2 GB); overhead max {max(r['overhead'] for r in rows):.3f} "
        "(target <= 1.10)\n"
    )
    print(summary)
    if args.record:
        record(summary)


def record(summary: str) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text(encoding="utf-8")
    title = "## Long videos (benchmarks/segments.py)"
    body = f"{title}\n{summary}"
    if title in text:
        start = text.index(title)
        nxt = text.find("\n## ", start + len(title))
        text = text[:start] + body + (text[nxt + 1 :] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
