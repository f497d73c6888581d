"""Decode speed of vqa2's ``decode_clip`` against the ``ffmpeg`` command line at equal work, and its memory.

For each clip, after one warm-up run (page cache; it also reports which frames vqa2 resizes), ``--reps`` N
interleaved repetitions (background load hits every contender alike; the order within a repetition is
reversed on every other one, so no contender always runs first) of:

* vqa2: a fresh ``python`` process imports torch, PyAV and numpy (every vqa2 command that decodes has them
  loaded: the model runs in torch), then runs ``decode_clip(clip, VideoSection(S, S, resize=M),
  token_budget=B)`` once (probe pass + one decode pass, the planned frames resized to S×S). We time that call
  (**in-process**: wall and CPU time of all its threads) and the whole child process (**whole-process**:
  interpreter start, imports, decode; CPU from ``RUSAGE_CHILDREN``), and read its peak RSS;
* ffmpeg, **equal work**: ``ffmpeg -i CLIP -vf select=E,scale=S:S:flags=bicubic,format=rgb24
  -fps_mode passthrough -f rawvideo /dev/null`` where ``E`` selects exactly the frames vqa2 resized (the
  union of its key-frame and motion-frame indices, reported by the vqa2 child, as two short progressions;
  the output frame count is checked). Every frame is still decoded (inter-frame coding), only the selected
  ones are scaled and converted, as in vqa2; CPU time of the ffmpeg process tree (``RUSAGE_CHILDREN``);
* ffmpeg, **decode only** (decode-all): ``ffmpeg -i CLIP -f null -``: every frame decoded, nothing scaled;
* PyAV, **decode only**: a fresh process decoding every frame with ``decode_clip``'s thread settings and
  nothing converted: vqa2's floor beside ffmpeg's (what is left above it is the probe, the resize and
  Python's per-frame work).

Prints, per clip, medians and the min / median over the N side-by-side pairs of the CPU-time ratios
vqa2 / ffmpeg at equal work (target ≤ 1.1; CPU time is what background load on a shared machine disturbs
least), in-process and whole-process, the wall ratios beside them, and vqa2's peak RSS on a long 1080p
clip (target < 1.5 GB). Clips are generated with ffmpeg (testsrc2 pattern + light temporal noise, H.264)
under ``--workdir``. Run it under ``nice`` on a shared machine.

    python benchmarks/decode.py --quick            # 5 s 1080p, 2 min 240p (stride 2); 1 min 1080p RSS clip
    python benchmarks/decode.py                    # 10 s 1080p, 10 min 240p (stride 9), 10 min 1080p RSS clip
    python benchmarks/decode.py --resize torch sws # compare resize methods in the same run
    python benchmarks/decode.py --budget 10000     # with a token budget, as vqa2 score (fewer key frames)
    python benchmarks/decode.py --clips long --reps 7 --skip-rss   # only the 10-minute 240p clip, 7 pairs
    python benchmarks/decode.py --clips                            # only the peak-RSS runs
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
                  "resized": sorted(set(clip.plan.keyframe_indices) | set(clip.plan.motion_indices)),
                  "key_indices": sorted(set(clip.plan.keyframe_indices)),
                  "motion_indices": sorted(set(clip.plan.motion_indices))}))
"""

# PyAV decoding every frame with decode_clip's thread settings, nothing converted: vqa2's floor beside
# ffmpeg's.
PYAV_FLOOR = """
import json, sys, time
import av
wall, cpu = time.perf_counter(), time.process_time()
with av.open(sys.argv[1]) as container:
    stream = container.streams.video[0]
    stream.thread_type, stream.thread_count = "AUTO", 0
    frames = sum(1 for _ in container.decode(stream))
print(json.dumps({"decode_s": time.perf_counter() - wall, "decode_cpu_s": time.process_time() - cpu,
                  "frames": frames}))
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


def run_vqa2(clip: Path, size: int, budget: int, method: str, code: str = CHILD) -> dict:
    """One fresh child process. In-process figures come from the child (``process_time``: every thread of
    the process); ``process_cpu_s`` is the CPU time of the whole process tree (``RUSAGE_CHILDREN`` counts
    the child and every descendant it waited for), the same measure as ffmpeg's below."""
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run(
        [sys.executable, "-c", code, str(clip), str(size), str(budget), method],
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


def selection(result: dict) -> str:
    """The ``select`` expression for the frames a vqa2 child resized: key-frame and motion-frame indices
    compressed separately (each is one or a few arithmetic progressions), joined with ``+`` (logical or).
    Compressing the union instead gives hundreds of terms on long clips, which ffmpeg refuses and which
    would cost it CPU per frame."""
    return select_expression(result["key_indices"]) + "+" + select_expression(result["motion_indices"])


def run_ffmpeg(clip: Path, size: int, selected: str | None) -> tuple[float, float, int]:
    """(wall, CPU user+sys seconds, frames out): equal work when ``selected`` is given, else decode only."""
    if selected is None:
        args = ["-f", "null", "-"]
    else:
        chain = f"select='{selected}',scale={size}:{size}:flags=bicubic,format=rgb24"
        args = ["-vf", chain, "-fps_mode", "passthrough", "-f", "rawvideo", "-y", "/dev/null"]
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-stats", "-i", str(clip), "-an", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    wall, used = time.perf_counter() - started, children_cpu() - cpu
    frames = [int(m) for m in re.findall(r"frame=\s*(\d+)", out.stderr)]
    return wall, used, frames[-1] if frames else -1


def _min_median(pairs: list[float]) -> tuple[float, float]:
    return min(pairs), statistics.median(pairs)


def _pair(rep: int, jobs: list) -> list:
    """Run ``jobs`` (callables) back to back, reversing their order on odd repetitions so that neither side
    is always the one that runs first (after the other's page-cache reads, or into a load change)."""
    order = list(range(len(jobs)))
    if rep % 2:
        order.reverse()
    results: list = [None] * len(jobs)
    for i in order:
        results[i] = jobs[i]()
    return results


def compare(name: str, clip: Path, size: int, reps: int, methods: list[str], budget: int) -> list[dict]:
    """``reps`` interleaved repetitions of: vqa2 (each resize method), ffmpeg at equal work, ffmpeg decode
    only, PyAV decode only; ratios are taken per repetition (side by side), then min / median."""
    warm = run_vqa2(clip, size, budget, methods[0])  # warm-up: page cache, the frames vqa2 resizes
    resized, selected = warm["resized"], selection(warm)
    ours: dict[str, list[dict]] = {m: [] for m in methods}
    equal, floor, pyav = [], [], []
    for rep in range(reps):  # interleaved, so background load hits every contender alike
        jobs = [lambda m=m: run_vqa2(clip, size, budget, m) for m in methods]
        jobs += [
            lambda: run_ffmpeg(clip, size, selected),
            lambda: run_ffmpeg(clip, size, None),
            lambda: run_vqa2(clip, size, budget, "", PYAV_FLOOR),
        ]
        *mine, eq, fl, pv = _pair(rep, jobs)
        for method, result in zip(methods, mine):
            ours[method].append(result)
        equal.append(eq)
        floor.append(fl)
        pyav.append(pv)
    if any(f != len(resized) for _, _, f in equal):
        got = [f for _, _, f in equal]
        raise SystemExit(f"ffmpeg's select gave {got} frames, vqa2 resized {len(resized)}")
    eq_cpu, fl_cpu, eq_wall = [c for _, c, _ in equal], [c for _, c, _ in floor], [w for w, _, _ in equal]
    pv_cpu = [r["decode_cpu_s"] for r in pyav]
    rows = []
    for method, runs in ours.items():
        cpu, wall = [r["decode_cpu_s"] for r in runs], [r["decode_s"] for r in runs]
        proc_cpu, proc_wall = [r["process_cpu_s"] for r in runs], [r["process_s"] for r in runs]
        row = {
            "clip": name,
            "resize": method,
            "frames": runs[0]["frames"],
            "resized": len(resized),
            "keyframes": runs[0]["keyframes"],
            "motion": runs[0]["motion"],
            "policy": runs[0]["policy"],
            "reps": reps,
            "vqa2_cpu_s": statistics.median(cpu),
            "vqa2_wall_s": statistics.median(wall),
            "vqa2_process_cpu_s": statistics.median(proc_cpu),
            "vqa2_process_wall_s": statistics.median(proc_wall),
            "ffmpeg_equal_cpu_s": statistics.median(eq_cpu),
            "ffmpeg_equal_wall_s": statistics.median(eq_wall),
            "ffmpeg_decode_only_cpu_s": statistics.median(fl_cpu),
            "pyav_decode_only_cpu_s": statistics.median(pv_cpu),
            "cpu_ratio_min_median": _min_median([c / e for c, e in zip(cpu, eq_cpu)]),
            "process_cpu_ratio_min_median": _min_median([c / e for c, e in zip(proc_cpu, eq_cpu)]),
            "wall_ratio_min_median": _min_median([w / e for w, e in zip(wall, eq_wall)]),
            "process_wall_ratio_min_median": _min_median([w / e for w, e in zip(proc_wall, eq_wall)]),
            "pyav_over_ffmpeg_decode_only_min_median": _min_median([p / f for p, f in zip(pv_cpu, fl_cpu)]),
            "ffmpeg_equal_over_decode_only_median": statistics.median(e / f for e, f in zip(eq_cpu, fl_cpu)),
            "vqa2_rss_mb": max(r["rss_mb"] for r in runs),
            "all_vqa2_cpu_s": [round(c, 3) for c in cpu],
            "all_ffmpeg_equal_cpu_s": [round(c, 3) for c in eq_cpu],
            "all_ffmpeg_decode_only_cpu_s": [round(c, 3) for c in fl_cpu],
            "all_pyav_decode_only_cpu_s": [round(c, 3) for c in pv_cpu],
        }
        lo, med = row["cpu_ratio_min_median"]
        plo, pmed = row["process_cpu_ratio_min_median"]
        wlo, wmed = row["wall_ratio_min_median"]
        flo, fmed = row["pyav_over_ffmpeg_decode_only_min_median"]
        print(
            f"  {name} [{method}] K={row['keyframes']} T={row['motion']} {row['policy']}, {len(resized)} of "
            f"{row['frames']} frames resized, {reps} pairs: CPU vqa2 decode_clip {row['vqa2_cpu_s']:.2f} s "
            "vs ffmpeg "
            f"equal work {row['ffmpeg_equal_cpu_s']:.2f} s -> ratio min {lo:.2f} / median {med:.2f}; wall "
            f"{row['vqa2_wall_s']:.2f} vs {row['ffmpeg_equal_wall_s']:.2f} s -> {wlo:.2f} / {wmed:.2f}; "
            "whole "
            f"process CPU {row['vqa2_process_cpu_s']:.2f} s -> {plo:.2f} / {pmed:.2f}; decode only: ffmpeg "
            f"{row['ffmpeg_decode_only_cpu_s']:.2f} s, PyAV {row['pyav_decode_only_cpu_s']:.2f} s "
            "(PyAV / ffmpeg "
            f"{flo:.2f} / {fmed:.2f}); peak RSS {row['vqa2_rss_mb']:.0f} MB",
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
    parser.add_argument("--reps", type=int, default=5, help="interleaved pairs per clip (N)")
    parser.add_argument("--size", type=int, default=384, help="S: the card's keyframe/motion size")
    parser.add_argument("--skip-rss", action="store_true", help="skip the 10-minute 1080p memory run")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--resize",
        nargs="+",
        default=["torch"],
        choices=["torch", "sws", "pil"],
        help="resize method(s) to time (default: torch, vqa2's default)",
    )
    parser.add_argument(
        "--clips",
        nargs="*",
        default=["hd", "long"],
        choices=["hd", "long"],
        help="which clips to compare (hd: 1080p, long: 240p; default both; none: RSS only)",
    )
    parser.add_argument(
        "--budget",
        type=int,
        default=0,
        help="token budget passed to decode_clip (0: none, the most frames resized)",
    )
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
    clips = {}
    if "hd" in args.clips:
        hd_s = 5 if args.quick else 10
        clips[f"1080p H.264 {hd_s} s"] = make_clip(work / f"hd_{hd_s}s.mp4", "1920x1080", hd_s, "veryfast")
    if "long" in args.clips:
        long_clip = make_clip(work / f"sd_{long_s}s.mp4", "426x240", long_s, "veryfast")
        clips[f"240p H.264 {long_s // 60} min"] = long_clip
    results = {
        "machine": machine(),
        "mode": "quick" if args.quick else "full",
        "size": args.size,
        "runs": [
            row
            for name, path in clips.items()
            for row in compare(name, path, args.size, args.reps, args.resize, args.budget)
        ],
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
                    **{
                        k: r[k]
                        for k in (
                            "rss_mb",
                            "base_rss_mb",
                            "decode_s",
                            "keyframes",
                            "motion",
                            "policy",
                            "resize",
                        )
                    },
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
