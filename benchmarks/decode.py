"""Decode speed of vqa2's ``decode_clip`` against the ``ffmpeg`` command line at equal work, and its memory.

For each clip, in one run with interleaved repetitions (background load hits every contender alike):

* vqa2: a fresh ``python`` process imports torch, PyAV and numpy (every vqa2 command that decodes has them
  loaded: the model runs in torch), then runs ``decode_clip(clip, VideoSection(S, S, resize=M),
  token_budget=B)`` once (probe pass + one decode pass, the planned frames resized to S×S). We time that call
  (**in-process**: wall and CPU time of all its threads) and the whole child process (**whole-process**:
  interpreter start, imports, decode; CPU from ``RUSAGE_CHILDREN``), and read its peak RSS;
* ffmpeg, **equal work**: ``ffmpeg -i CLIP -vf select=E,scale=S:S:flags=bicubic,format=rgb24
  -fps_mode passthrough -f rawvideo /dev/null`` where ``E`` selects exactly the frames vqa2 resized (the
  union of its key-frame and motion-frame indices, reported by the vqa2 child; the output frame count is
  checked). Every frame is still decoded (inter-frame coding), only the selected ones are scaled and
  converted, as in vqa2;
* ffmpeg, **decode only**: ``ffmpeg -i CLIP -f null -``: every frame decoded, nothing scaled: the floor.

Prints, per clip, medians and the min / median over the repetitions of the side-by-side CPU-time ratios
vqa2 / ffmpeg (target ≤ 1.1 at equal work; CPU time is what background load on a shared machine disturbs
least), wall ratios, and vqa2's peak RSS on a long 1080p clip (target < 1.5 GB). Clips are generated with
ffmpeg (testsrc2 pattern + light temporal noise, H.264) under ``--workdir``.

    python benchmarks/decode.py --quick            # 5 s 1080p, 2 min 240p (stride 2); 1 min 1080p RSS clip
    python benchmarks/decode.py                    # 10 s 1080p, 10 min 240p (stride 9), 10 min 1080p RSS clip
    python benchmarks/decode.py --resize torch sws # compare resize methods in the same run
    python benchmarks/decode.py --budget 10000     # with a token budget, as vqa2 score (fewer key frames)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, resource, sys, time
import av, numpy, torch  # loaded in every vqa2 command that decodes (the model is torch)
from vqa2cli.config import VideoSection
from vqa2cli.video.decode import decode_clip
size, budget, method = int(sys.argv[2]), (int(sys.argv[3]) or None), sys.argv[4]
base_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
wall, cpu = time.perf_counter(), time.process_time()
clip = decode_clip(sys.argv[1], VideoSection(keyframe_size=size, motion_size=size, resize=method),
                   token_budget=budget)
print(json.dumps({"decode_s": time.perf_counter() - wall, "decode_cpu_s": time.process_time() - cpu,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "base_rss_mb": base_mb,
                  "keyframes": int(clip.keyframes.shape[0]), "motion": int(clip.motion_frames.shape[0]),
                  "frames": clip.info.n_frames, "policy": clip.plan.policy, "resize": clip.resize,
                  "resized": sorted(set(clip.plan.keyframe_indices) | set(clip.plan.motion_indices))}))
"""


def make_clip(path: Path, size: str, seconds: int, preset: str) -> Path:
    """H.264 testsrc2 clip at 30 fps (light temporal noise so frames are not trivially predictable)."""
    if path.exists():
        return path
    started = time.perf_counter()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={size}:rate=30",
            "-t",
            str(seconds),
            "-vf",
            "noise=alls=6:allf=t",
            "-c:v",
            "libx264",
            "-preset",
            preset,
            "-crf",
            "23",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    print(f"  made {path.name} ({size}, {seconds} s) in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_vqa2(clip: Path, size: int, budget: int, method: str) -> dict:
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(clip), str(size), str(budget), method],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    result["process_cpu_s"] = children_cpu() - cpu
    return result


def select_expression(indices: list[int]) -> str:
    """An ffmpeg ``select`` expression true exactly for the frame numbers ``indices`` (sorted, distinct):
    runs of 3+ equally spaced indices become ``between(n,a,b)*not(mod(n-a,s))``, the rest ``eq(n,i)``."""
    terms, i = [], 0
    while i < len(indices):
        j = i + 1
        if j < len(indices):
            step = indices[j] - indices[i]
            while j + 1 < len(indices) and indices[j + 1] - indices[j] == step:
                j += 1
        if j - i >= 2:  # indices[i..j] is a progression of 3 or more
            a, b = indices[i], indices[j]
            terms.append(f"between(n,{a},{b})" if step == 1 else f"between(n,{a},{b})*not(mod(n-{a},{step}))")
            i = j + 1
        else:
            terms.append(f"eq(n,{indices[i]})")
            i += 1
    return "+".join(terms)


def run_ffmpeg(clip: Path, size: int, selected: list[int] | None) -> tuple[float, float, int]:
    """(wall, CPU user+sys seconds, frames out): equal work when ``selected`` is given, else decode only."""
    if selected is None:
        args = ["-f", "null", "-"]
    else:
        chain = f"select='{select_expression(selected)}',scale={size}:{size}:flags=bicubic,format=rgb24"
        args = ["-vf", chain, "-fps_mode", "passthrough", "-f", "rawvideo", "-y", "/dev/null"]
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-stats", "-i", str(clip), "-an", *args],
                         check=True, capture_output=True, text=True)
    wall, used = time.perf_counter() - started, children_cpu() - cpu
    frames = [int(m) for m in re.findall(r"frame=\s*(\d+)", out.stderr)]
    return wall, used, frames[-1] if frames else -1


def _median_ratio(a: list[float], b: list[float]) -> tuple[float, float]:
    pairs = [x / y for x, y in zip(a, b)]
    return min(pairs), statistics.median(pairs)


def compare(name: str, clip: Path, size: int, reps: int, methods: list[str], budget: int) -> list[dict]:
    ours: dict[str, list[dict]] = {m: [] for m in methods}
    equal, floor = [], []
    selected = None
    for _ in range(reps):  # interleaved, so background load hits every contender alike
        for method in methods:
            ours[method].append(run_vqa2(clip, size, budget, method))
        if selected is None:
            selected = ours[methods[0]][0]["resized"]
        equal.append(run_ffmpeg(clip, size, selected))
        floor.append(run_ffmpeg(clip, size, None))
    if any(f != len(selected) for _, _, f in equal):
        raise SystemExit(f"ffmpeg's select gave {[f for _, _, f in equal]} frames, vqa2 resized {len(selected)}")
    eq_cpu, fl_cpu = [c for _, c, _ in equal], [c for _, c, _ in floor]
    eq_wall = [w for w, _, _ in equal]
    rows = []
    for method, runs in ours.items():
        cpu = [r["decode_cpu_s"] for r in runs]
        proc_cpu = [r["process_cpu_s"] for r in runs]
        row = {
            "clip": name, "resize": method, "frames": runs[0]["frames"], "resized": len(selected),
            "keyframes": runs[0]["keyframes"], "motion": runs[0]["motion"], "policy": runs[0]["policy"],
            "vqa2_cpu_s": statistics.median(cpu), "vqa2_wall_s": statistics.median(r["decode_s"] for r in runs),
            "vqa2_process_cpu_s": statistics.median(proc_cpu),
            "vqa2_process_wall_s": statistics.median(r["process_s"] for r in runs),
            "ffmpeg_equal_cpu_s": statistics.median(eq_cpu), "ffmpeg_equal_wall_s": statistics.median(eq_wall),
            "ffmpeg_decode_only_cpu_s": statistics.median(fl_cpu),
            "cpu_ratio_min_median": _median_ratio(cpu, eq_cpu),
            "process_cpu_ratio_min_median": _median_ratio(proc_cpu, eq_cpu),
            "wall_ratio_median": statistics.median(r["decode_s"] / w for r, w in zip(runs, eq_wall)),
            "cpu_vs_decode_only_median": statistics.median(c / f for c, f in zip(cpu, fl_cpu)),
            "ffmpeg_equal_over_decode_only_median": statistics.median(e / f for e, f in zip(eq_cpu, fl_cpu)),
            "vqa2_rss_mb": max(r["rss_mb"] for r in runs),
            "all_vqa2_cpu_s": [round(c, 3) for c in cpu], "all_ffmpeg_equal_cpu_s": [round(c, 3) for c in eq_cpu],
            "all_ffmpeg_decode_only_cpu_s": [round(c, 3) for c in fl_cpu],
        }
        lo, med = row["cpu_ratio_min_median"]
        plo, pmed = row["process_cpu_ratio_min_median"]
        print(
            f"  {name} [{method}] K={row['keyframes']} T={row['motion']} {row['policy']}, {len(selected)} of "
            f"{row['frames']} frames resized: CPU vqa2 decode_clip {row['vqa2_cpu_s']:.2f} s vs ffmpeg equal work "
            f"{row['ffmpeg_equal_cpu_s']:.2f} s -> ratio min {lo:.2f} / median {med:.2f}; whole process "
            f"{row['vqa2_process_cpu_s']:.2f} s -> {plo:.2f} / {pmed:.2f}; wall ratio {row['wall_ratio_median']:.2f}; "
            f"ffmpeg decode only {row['ffmpeg_decode_only_cpu_s']:.2f} s (vqa2 / it {row['cpu_vs_decode_only_median']:.2f})",
            flush=True,
        )
        rows.append(row)
    return rows


def machine() -> str:
    model = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else ""
    )
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]
    import av

    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, PyAV {av.__version__}, "
        f"{ffmpeg}, load average at start {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter clips (see above)")
    parser.add_argument("--workdir", type=Path, help="where clips are made and kept (default: a temp dir)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--size", type=int, default=384, help="S: the card's keyframe/motion size")
    parser.add_argument("--skip-rss", action="store_true", help="skip the 10-minute 1080p memory run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--resize", nargs="+", default=["torch"], choices=["torch", "sws", "pil"],
                        help="resize method(s) to time (default: torch, vqa2's default)")
    parser.add_argument("--budget", type=int, default=0,
                        help="token budget passed to decode_clip (0: none, the most frames resized)")
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg CLI not found: it makes the clips and is the yardstick")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vqa2-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    long_s = 120 if args.quick else 600  # 2 min at 30 fps = 3600 frames: stride 2, frames are selected
    print(
        f"machine: {machine()}\nmode: {'quick' if args.quick else 'full'}, reps {args.reps}, S={args.size}, "
        f"token budget {args.budget or 'none'}, workdir {work}",
        flush=True,
    )
    clips = {
        "1080p H.264 " + ("5 s" if args.quick else "10 s"): make_clip(
            work / f"hd_{5 if args.quick else 10}s.mp4", "1920x1080", 5 if args.quick else 10, "veryfast"
        ),
        f"240p H.264 {long_s // 60} min": make_clip(
            work / f"sd_{long_s}s.mp4", "426x240", long_s, "veryfast"
        ),
    }
    results = {
        "machine": machine(),
        "mode": "quick" if args.quick else "full",
        "size": args.size,
        "runs": [row for name, path in clips.items()
                 for row in compare(name, path, args.size, args.reps, args.resize, args.budget)],
    }
    if not args.skip_rss:
        rss_s = 60 if args.quick else 600
        rss_clip = make_clip(work / f"hd_{rss_s}s.mp4", "1920x1080", rss_s, "ultrafast")
        for budget in (0, 10_000):
            r = run_vqa2(rss_clip, args.size, budget, args.resize[0])
            results.setdefault("rss", []).append(
                {
                    "clip": f"1080p H.264 {rss_s // 60} min",
                    "token_budget": budget or None,
                    **{k: r[k] for k in ("rss_mb", "base_rss_mb", "decode_s", "keyframes", "motion", "policy",
                                         "resize")},
                }
            )
            print(
                f"  RSS 1080p {rss_s // 60} min, token budget {budget or 'none'} [{r['resize']}]: "
                f"{r['rss_mb']:.0f} MB peak, {r['rss_mb'] - r['base_rss_mb']:.0f} MB above the "
                f"{r['base_rss_mb']:.0f} MB of the imported libraries "
                f"(K={r['keyframes']}, T={r['motion']}, {r['policy']}, {r['decode_s']:.1f} s)",
                flush=True,
            )
    results["load_average_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
