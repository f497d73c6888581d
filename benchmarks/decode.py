"""Decode speed and memory of vqa2's ``decode_clip`` against the ``ffmpeg`` command line.

For each clip, in one run with interleaved repetitions:

* vqa2: a fresh ``python`` process runs ``decode_clip(clip, VideoSection(S, S))`` (probe pass + one decode
  pass, planned frames resized to S×S); we time the whole process and read its peak RSS (``ru_maxrss``);
* ffmpeg: ``ffmpeg -i CLIP -vf scale=S:S:flags=bicubic -f rawvideo -pix_fmt rgb24 -y /dev/null``, i.e.
  decoding and scaling every frame to the size vqa2 produces, output discarded.

Prints medians, the ratio vqa2/ffmpeg (target ≤ 1.3; also as CPU time, which background load on a shared
machine disturbs less than wall time) and vqa2's peak RSS on a 10-minute 1080p clip
(target < 1.5 GB). Clips are generated with ffmpeg (testsrc2 pattern, H.264) under ``--workdir``.

    python benchmarks/decode.py --quick            # 5 s 1080p, 1 min 240p, 1 min 1080p RSS clip
    python benchmarks/decode.py                    # 10 s 1080p, 10 min 240p, 10 min 1080p (slow to generate)
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
t0 = time.perf_counter()
from vqa2cli.config import VideoSection
from vqa2cli.video.decode import decode_clip
size, budget = int(sys.argv[2]), (int(sys.argv[3]) or None)
clip = decode_clip(sys.argv[1], VideoSection(keyframe_size=size, motion_size=size), token_budget=budget)
print(json.dumps({"decode_s": clip.decode_s, "process_s": time.perf_counter() - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "keyframes": int(clip.keyframes.shape[0]), "motion": int(clip.motion_frames.shape[0]),
                  "frames": clip.info.n_frames, "policy": clip.plan.policy}))
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


def run_vqa2(clip: Path, size: int, budget: int) -> dict:
    started, cpu = time.perf_counter(), children_cpu()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(clip), str(size), str(budget)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.perf_counter() - started
    result["cpu_s"] = children_cpu() - cpu
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


def compare(name: str, clip: Path, size: int, reps: int) -> dict:
    ours, theirs = [], []
    for _ in range(reps):  # interleaved, so background load hits both alike
        ours.append(run_vqa2(clip, size, 0))
        theirs.append(run_ffmpeg(clip, size))
    vqa2_s = statistics.median(r["wall_s"] for r in ours)
    decode_s = statistics.median(r["decode_s"] for r in ours)
    ffmpeg_s = statistics.median(t for t, _ in theirs)
    cpu_ratio = statistics.median(r["cpu_s"] for r in ours) / statistics.median(c for _, c in theirs)
    row = {
        "clip": name,
        "frames": ours[0]["frames"],
        "keyframes": ours[0]["keyframes"],
        "motion": ours[0]["motion"],
        "policy": ours[0]["policy"],
        "vqa2_process_s": vqa2_s,
        "vqa2_decode_clip_s": decode_s,
        "ffmpeg_s": ffmpeg_s,
        "ratio": vqa2_s / ffmpeg_s,
        "ratio_decode_clip": decode_s / ffmpeg_s,
        "cpu_ratio": cpu_ratio,
        "vqa2_cpu_s": [round(r["cpu_s"], 2) for r in ours],
        "ffmpeg_cpu_s": [round(c, 2) for _, c in theirs],
        "vqa2_rss_mb": max(r["rss_mb"] for r in ours),
        "all_vqa2_s": [round(r["wall_s"], 3) for r in ours],
        "all_ffmpeg_s": [round(t, 3) for t, _ in theirs],
    }
    print(
        f"  {name}: vqa2 {vqa2_s:.2f} s (decode_clip {decode_s:.2f} s) vs ffmpeg {ffmpeg_s:.2f} s -> ratio "
        f"{row['ratio']:.2f} ({row['ratio_decode_clip']:.2f} in-process, CPU-time ratio {cpu_ratio:.2f}); "
        f"K={row['keyframes']} T={row['motion']} "
        f"policy={row['policy']} rss={row['vqa2_rss_mb']:.0f} MB",
        flush=True,
    )
    return row


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
        "runs": [compare(name, path, args.size, args.reps) for name, path in clips.items()],
    }
    if not args.skip_rss:
        rss_clip = make_clip(work / f"hd_{long_s}s.mp4", "1920x1080", long_s, "ultrafast")
        for budget in (0, 10_000):
            r = run_vqa2(rss_clip, args.size, budget)
            results.setdefault("rss", []).append(
                {
                    "clip": f"1080p H.264 {long_s // 60} min",
                    "token_budget": budget or None,
                    **{k: r[k] for k in ("rss_mb", "wall_s", "keyframes", "motion", "policy")},
                }
            )
            print(
                f"  RSS 1080p {long_s // 60} min, token budget {budget or 'none'}: {r['rss_mb']:.0f} MB peak "
                f"(K={r['keyframes']}, T={r['motion']}, {r['policy']}, {r['wall_s']:.1f} s)",
                flush=True,
            )
    results["load_average_end"] = os.getloadavg()[0]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
