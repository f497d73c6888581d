"""Decode speed and memory of vqa2's ``decode_clip`` against the ``ffmpeg`` command line.

For each clip, in one run with interleaved repetitions:

* vqa2: a fresh ``python`` process imports torch, PyAV and numpy (every vqa2 command that decodes has them
  loaded: the model runs in torch), then runs ``decode_clip(clip, VideoSection(S, S, resize=M))`` once
  (probe pass + one decode pass, planned frames resized to S×S). We time that call (wall and CPU time of all
  its threads) and read the process's peak RSS (``ru_maxrss``) and its RSS before the call;
* ffmpeg: ``ffmpeg -i CLIP -vf scale=S:S:flags=bicubic -f rawvideo -pix_fmt rgb24 -y /dev/null``, i.e.
  decoding and scaling every frame to the size vqa2 produces, output discarded (whole process timed).

Prints medians, the ratio vqa2/ffmpeg (target ≤ 1.3; also as CPU time, which background load on a shared
machine disturbs less than wall time) and vqa2's peak RSS on a 10-minute 1080p clip
(target < 1.5 GB). Clips are generated with ffmpeg (testsrc2 pattern, H.264) under ``--workdir``.

    python benchmarks/decode.py --quick            # 5 s 1080p, 1 min 240p, 1 min 1080p RSS clip
    python benchmarks/decode.py                    # 10 s 1080p, 10 min 240p, 10 min 1080p (slow to generate)
    python benchmarks/decode.py --resize torch sws # compare resize methods in the same run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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
                  "frames": clip.info.n_frames, "policy": clip.plan.policy, "resize": clip.resize}))
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


def run_ffmpeg(clip: Path, size: int) -> tuple[float, float]:
    """(wall, CPU user+sys) seconds of the ffmpeg yardstick."""
    started, cpu = time.perf_counter(), children_cpu()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(clip),
            "-vf",
            f"scale={size}:{size}:flags=bicubic",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-y",
            "/dev/null",
        ],
        check=True,
    )
    return time.perf_counter() - started, children_cpu() - cpu


def compare(name: str, clip: Path, size: int, reps: int, methods: list[str]) -> list[dict]:
    ours: dict[str, list[dict]] = {m: [] for m in methods}
    theirs = []
    for _ in range(reps):  # interleaved, so background load hits every contender alike
        for method in methods:
            ours[method].append(run_vqa2(clip, size, 0, method))
        theirs.append(run_ffmpeg(clip, size))
    ffmpeg_s = statistics.median(t for t, _ in theirs)
    ffmpeg_cpu = statistics.median(c for _, c in theirs)
    rows = []
    for method, runs in ours.items():
        decode_s = statistics.median(r["decode_s"] for r in runs)
        cpu_s = statistics.median(r["decode_cpu_s"] for r in runs)
        row = {
            "clip": name,
            "resize": method,
            "frames": runs[0]["frames"],
            "keyframes": runs[0]["keyframes"],
            "motion": runs[0]["motion"],
            "policy": runs[0]["policy"],
            "vqa2_decode_clip_s": decode_s,
            "vqa2_process_s": statistics.median(r["process_s"] for r in runs),
            "ffmpeg_s": ffmpeg_s,
            "ratio": decode_s / ffmpeg_s,
            "cpu_ratio": cpu_s / ffmpeg_cpu,
            "vqa2_cpu_s": [round(r["decode_cpu_s"], 2) for r in runs],
            "ffmpeg_cpu_s": [round(c, 2) for _, c in theirs],
            "vqa2_rss_mb": max(r["rss_mb"] for r in runs),
            "all_vqa2_s": [round(r["decode_s"], 3) for r in runs],
            "all_ffmpeg_s": [round(t, 3) for t, _ in theirs],
        }
        print(
            f"  {name} [{method}]: vqa2 decode_clip {decode_s:.2f} s vs ffmpeg {ffmpeg_s:.2f} s -> ratio "
            f"{row['ratio']:.2f} (CPU-time ratio {row['cpu_ratio']:.2f}; whole vqa2 process with imports "
            f"{row['vqa2_process_s']:.2f} s); K={row['keyframes']} T={row['motion']} policy={row['policy']}",
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
    args = parser.parse_args()
    if not shutil.which("ffmpeg"):
        sys.exit("ffmpeg CLI not found: it makes the clips and is the yardstick")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vqa2-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    long_s = 60 if args.quick else 600
    print(
        f"machine: {machine()}\nmode: {'quick' if args.quick else 'full'}, reps {args.reps}, S={args.size}, "
        f"workdir {work}",
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
                 for row in compare(name, path, args.size, args.reps, args.resize)],
    }
    if not args.skip_rss:
        rss_clip = make_clip(work / f"hd_{long_s}s.mp4", "1920x1080", long_s, "ultrafast")
        for budget in (0, 10_000):
            r = run_vqa2(rss_clip, args.size, budget, args.resize[0])
            results.setdefault("rss", []).append(
                {
                    "clip": f"1080p H.264 {long_s // 60} min",
                    "token_budget": budget or None,
                    **{k: r[k] for k in ("rss_mb", "base_rss_mb", "decode_s", "keyframes", "motion", "policy",
                                         "resize")},
                }
            )
            print(
                f"  RSS 1080p {long_s // 60} min, token budget {budget or 'none'} [{r['resize']}]: "
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
