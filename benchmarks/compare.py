"""What ``vqa2 compare`` costs beyond scoring the same files window by window, in one run.

One process loads a scorer once, then, interleaved and alternating which goes first, (a) scores the files
with ``score_files`` in windows of ``--segments`` (what ``vqa2 score --segments`` does) and (b) runs
``jobs.compare.compare`` on the same files (the same window scoring, plus the demux pass for the bitrate,
the SHA-256 of every file, alignment, bootstrap intervals and the order check). Prints wall and CPU time
(``time.process_time``) of each and their ratio. Target: compare ≤ 1.05× the scoring it is made of.

    python benchmarks/compare.py                    # tiny random checkpoint, 4 clips of 10 s, 1 s windows
    python benchmarks/compare.py --model DIR --reps 3
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def make_clips(folder: Path, n: int, seconds: float) -> list[str]:
    from test_compare import _encode  # the tests' libx264 source at several CRFs

    return [_encode(folder / f"crf{20 + 6 * i}.mp4", crf=20 + 6 * i, seconds=seconds) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint folder (default: a tiny random one)")
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--window", type=float, default=1.0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()

    import vqa2cli
    from vqa2cli.jobs.compare import compare, plan_compare

    work = Path(tempfile.mkdtemp(prefix="vqa2-bench-compare-"))
    model = args.model
    settings = None
    if model is None:
        from tiny_checkpoint import write_tiny_official_checkpoint

        model = str(write_tiny_official_checkpoint(work / "tiny"))
        settings = {"video": {"motion_size": 64}}
    scorer = vqa2cli.load_scorer(model, settings=settings)
    paths = make_clips(work, args.files, args.seconds)
    times: dict[str, list[tuple[float, float]]] = {"score": [], "compare": []}

    def run_score():
        scorer.configure(window_s=args.window)
        return list(scorer.score_files(paths))

    def run_compare():
        return compare(scorer, plan_compare(paths), window_s=args.window)

    for rep in range(args.reps):
        order = (("score", run_score), ("compare", run_compare))
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    print(
        f"{platform.processor() or platform.machine()}, {args.files} files x {args.seconds:g} s, "
        f"{args.window:g} s windows, {args.reps} reps (median)"
    )
    med = {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()
    }
    for name, (wall, cpu) in med.items():
        print(f"{name:8s} wall {wall:7.2f} s  cpu {cpu:7.2f} s")
    print(
        f"ratio    wall {med['compare'][0] / med['score'][0]:.3f}x  cpu {med['compare'][1] / med['score'][1]:.3f}x"
    )


if __name__ == "__main__":
    main()
