"""CPU time of ``vqa2 ask`` with 1 question against 4 questions about the same clip, in one run.

Each repetition runs, in fresh processes and interleaved (background load hits both alike),
``python -m vqa2cli ask CLIP Q1 [--question Q2 ...] -m MODEL --max-new-tokens N -f json`` with 1 and with 4
questions, and reads the whole process's CPU time (``RUSAGE_CHILDREN``) and the records' stage timings. The
4-question run reuses the clip's decode and its video prefix KV cache (pipeline/prefix_cache.py), so the
three extra questions cost their own prompt tail and generated tokens only. Target: 4 questions ≤ 1.2× the
CPU time of 1. ``--no-reuse`` is not a CLI flag: to see the cost without the cache, compare with a vqa2
checkout before the cache (issue 15 measured 1.82×).

With ``--segments S`` the same comparison runs per window (``vqa2 ask --segments S``) on a clip of
``--segments-clip-seconds`` (default 20 s: two 10 s windows): each window is decoded once and its video
prefix is reused by the window's other questions, so the target is the same 4 questions ≤ 1.2× of 1.
The order of the two runs alternates between repetitions (neither always runs first).

    python benchmarks/ask.py                       # tiny random checkpoint (written under --workdir), 10 s clip
    python benchmarks/ask.py --segments 10s        # also per window, 20 s clip
    python benchmarks/ask.py --model DIR --reps 5  # another checkpoint folder
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = (
    "Is there stutter?",
    "How sharp is it?",
    "Any compression artifacts?",
    "Describe the quality issues.",
)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ask(clip: Path, model: Path, questions: tuple[str, ...], tokens: int, extra: list[str]) -> dict:
    args = [sys.executable, "-m", "vqa2cli", "ask", str(clip), questions[0]]
    for q in questions[1:]:
        args += ["--question", q]
    args += ["-m", str(model), "--max-new-tokens", str(tokens), "--device", "cpu", "-f", "json", "-q", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    records = json.loads(out.stdout)
    return {
        "cpu_s": children_cpu() - cpu,
        "wall_s": time.perf_counter() - started,
        "timing": [r.get("timing") for r in records],
        "reused": [r.get("generation", {}).get("prefix_reused") for r in records],
        "windows": len({(r.get("segment") or {}).get("index") for r in records}),
        "tokens": [r.get("sampling", {}).get("total_tokens") for r in records],
    }


def supports_segments() -> bool:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    out = subprocess.run(
        [sys.executable, "-m", "vqa2cli", "ask", "--help"], capture_output=True, text=True, env=env
    )
    return "--segments" in out.stdout


def make_inputs(work: Path, seconds: float) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_checkpoint import write_tiny_official_checkpoint

    model = work / "tiny-vqa2"
    if not (model / "config.json").exists():
        write_tiny_official_checkpoint(model)
    return make_test_clip(work, seconds), model


def make_test_clip(work: Path, seconds: float) -> Path:
    """A 320×240 25 fps clip of ``seconds`` (tests/clips.py), kept under ``work``."""
    sys.path.insert(0, str(ROOT / "tests"))
    from clips import make_clip

    clip = work / f"ask_{seconds:g}s.mp4"
    if not clip.exists():
        make_clip(clip, seconds=seconds, fps=25, width=320, height=240)
    return clip


def compare(clip: Path, model: Path, reps: int, tokens: int, extra: list[str], label: str) -> dict:
    one, four = [], []
    for rep in range(reps):  # interleaved pairs; the order alternates so neither always runs first
        if rep % 2:
            four.append(run_ask(clip, model, QUESTIONS, tokens, extra))
            one.append(run_ask(clip, model, QUESTIONS[:1], tokens, extra))
        else:
            one.append(run_ask(clip, model, QUESTIONS[:1], tokens, extra))
            four.append(run_ask(clip, model, QUESTIONS, tokens, extra))
    ratios = [f["cpu_s"] / o["cpu_s"] for o, f in zip(one, four)]
    row = {
        "case": label,
        "cpu_1_s": statistics.median(r["cpu_s"] for r in one),
        "cpu_4_s": statistics.median(r["cpu_s"] for r in four),
        "ratio_min": min(ratios),
        "ratio_median": statistics.median(ratios),
        "all_ratios": [round(r, 3) for r in ratios],
        "wall_1_s": statistics.median(r["wall_s"] for r in one),
        "wall_4_s": statistics.median(r["wall_s"] for r in four),
        "windows": four[0]["windows"],
        "answers_4": len(four[0]["reused"]),
        "prompt_tokens": four[0]["tokens"],
        "prefix_reused": four[0]["reused"],
        "timing_4_questions": four[-1]["timing"],
    }
    print(
        f"  {label} ({row['windows']} window(s)): CPU 1 question {row['cpu_1_s']:.2f} s, 4 questions "
        f"{row['cpu_4_s']:.2f} s (wall {row['wall_1_s']:.1f} / {row['wall_4_s']:.1f} s) -> ratio min "
        f"{row['ratio_min']:.2f} / median {row['ratio_median']:.2f} (target <= 1.2); prefix reused "
        f"{row['prefix_reused']}",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, help="where the clip and tiny checkpoint are kept")
    parser.add_argument("--model", type=Path, help="checkpoint folder (default: the tiny random one)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (25 fps, 320x240)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--segments", help="also compare per window with ask --segments VALUE, if supported")
    parser.add_argument(
        "--segments-clip-seconds",
        type=float,
        default=20.0,
        help="length of the clip for the per-window case (default 20: two 10 s windows)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vqa2-ask-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    clip, tiny = make_inputs(work, args.seconds)
    model = args.model or tiny
    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, load average at start "
        f"{os.getloadavg()[0]:.2f}; clip {clip.name}, model {model}, reps {args.reps}, "
        f"--max-new-tokens {args.max_new_tokens}",
        flush=True,
    )
    results = {"runs": [compare(clip, model, args.reps, args.max_new_tokens, [], "whole clip")]}
    if args.segments:
        if supports_segments():
            long_clip = make_test_clip(work, args.segments_clip_seconds)
            label = f"--segments {args.segments}, {args.segments_clip_seconds:g} s clip"
            results["runs"].append(
                compare(
                    long_clip, model, args.reps, args.max_new_tokens, ["--segments", args.segments], label
                )
            )
        else:
            print("  --segments: this vqa2 ask has no --segments option; per-window case not run", flush=True)
    results["load_average_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
