"""Decode-only clips per second: read-ahead threads vs decode worker processes, at 1 and 2 workers.

The clips are ``--clips`` copies of one ``--seconds`` s H.264 clip at ``--size`` (30 fps, ffmpeg's testsrc2 with
light temporal noise, made with ``/usr/bin/ffmpeg``). Each contender decodes all of them with
``decode_clip(path, VideoSection())`` (the default 384 px key frames and motion frames, every frame decoded,
the planned ones converted and resized) the way ``vqa2 score FILE...``/``batch`` feed the model:

* **threads N**: ``jobs.prefetch.prefetch`` with N threads calling ``decode_clip`` in this process
  (``--decode-processes 0``, the default);
* **processes N**: the same N threads, each handing its clip to one of N worker processes
  (``video.decode_pool.DecodePool``, ``--decode-processes N``); the frames come back over shared memory.
  The pool is started and warmed before the clock starts (its start-up is printed apart).

Per run: wall seconds, CPU seconds (this process's ``process_time``, every thread, plus the workers' user +
system time from ``/proc/PID/stat``) and the 1-minute load average before and after; the contenders run
interleaved, their order reversed every other repetition, so background load on a shared machine hits them
alike. Printed: medians, clips/s, and the ratios side by side (processes / threads at each N, N=2 / N=1 for
each mode). Nothing is asserted.

    python benchmarks/decode_workers.py                      # 4 × 10 s 1080p, 3 repetitions, N = 1 and 2
    python benchmarks/decode_workers.py --clips 8 --workers 1 2 4 8 --reps 5   # on a bigger machine
    python benchmarks/decode_workers.py --decode-threads 1   # FFmpeg single-threaded in every decode
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_clip(path: Path, size: str, seconds: int) -> Path:
    """H.264 testsrc2 at 30 fps with light temporal noise (frames not trivially predictable)."""
    if not path.exists():
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30"]
        cmd += ["-t", str(seconds), "-vf", "noise=alls=6:allf=t", "-c:v", "libx264", "-preset", "veryfast"]
        subprocess.run([*cmd, "-crf", "23", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux ``/proc``); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a live process in MB (``VmRSS``); 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_once(clips: list[str], threads: int, pool, decode_threads: int = 0) -> dict:
    from vqa2cli.config import VideoSection
    from vqa2cli.jobs.prefetch import prefetch
    from vqa2cli.video.decode import decode_clip

    video = VideoSection(decode_threads=decode_threads)
    decode = pool if pool is not None else decode_clip
    pids = pool.pids() if pool is not None else []
    load = os.getloadavg()[0]
    workers_before = sum(proc_cpu(p) for p in pids)
    wall, cpu = time.perf_counter(), time.process_time()
    frames = 0
    for done in prefetch(clips, lambda p: decode(p, video), workers=threads, depth=2 * threads):
        if done.error is not None:
            raise done.error
        frames += done.value.keyframes.shape[0] + done.value.motion_frames.shape[0]
        del done
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu + sum(proc_cpu(p) for p in pids) - workers_before
    return {"wall": wall, "cpu": cpu, "load": (load, os.getloadavg()[0]), "frames": frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=4, help="clips per run")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument(
        "--decode-threads", type=int, default=0, help="video.decode_threads for every contender (0 = auto)"
    )
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "vqa2-decode-workers")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("needs the ffmpeg command line to make the clips")
    args.workdir.mkdir(parents=True, exist_ok=True)
    one = make_clip(args.workdir / f"clip-{args.size}-{args.seconds}s.mp4", args.size, args.seconds)
    clips = []
    for i in range(args.clips):  # copies: every contender decodes the same bytes
        copy = args.workdir / f"copy-{i}.mp4"
        if not copy.exists():
            shutil.copyfile(one, copy)
        clips.append(str(copy))

    from vqa2cli.video.decode_pool import DecodePool, start_method

    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, start {start_method()}"
    )
    print(
        f"{args.clips} × {args.seconds} s {args.size} H.264 per run, {args.reps} repetitions, "
        f"N = {args.workers}, video.decode_threads {args.decode_threads or 'auto'}"
    )
    pools = {}
    for n in args.workers:
        started = time.perf_counter()
        pools[n] = DecodePool(n)
        run_once(clips[:n], n, pools[n])  # every worker started and warm (one clip each)
        rss = [rss_mb(pid) for pid in pools[n].pids()]
        print(
            f"  pool of {n}: started and warmed in {time.perf_counter() - started:.1f} s (one clip each); "
            f"worker RSS {', '.join(f'{r:.0f}' for r in rss)} MB"
        )
    contenders = [(mode, n) for n in args.workers for mode in ("threads", "processes")]
    results: dict[tuple[str, int], list[dict]] = {c: [] for c in contenders}
    try:
        for rep in range(args.reps):
            order = contenders if rep % 2 == 0 else contenders[::-1]
            for mode, n in order:
                r = run_once(clips, n, pools[n] if mode == "processes" else None, args.decode_threads)
                results[(mode, n)].append(r)
                print(
                    f"  rep {rep + 1} {mode:9} N={n}: wall {r['wall']:6.2f} s  CPU {r['cpu']:6.2f} s  "
                    f"load {r['load'][0]:.2f}->{r['load'][1]:.2f}",
                    flush=True,
                )
    finally:
        for pool in pools.values():
            pool.close()
    report(results, args)


def report(results: dict, args) -> None:
    med = {
        c: (statistics.median(r["wall"] for r in rs), statistics.median(r["cpu"] for r in rs))
        for c, rs in results.items()
    }
    print("\n| contender | clips/s | wall s (median) | CPU s (median) | CPU s per clip | load avg (range) |")
    print("|---|---|---|---|---|---|")
    for (mode, n), (wall, cpu) in med.items():
        loads = [x for r in results[(mode, n)] for x in r["load"]]
        print(
            f"| {mode} N={n} | {args.clips / wall:.2f} | {wall:.2f} | {cpu:.2f} | {cpu / args.clips:.2f} "
            f"| {min(loads):.2f}-{max(loads):.2f} |"
        )
    print("\nRatios (medians over the side-by-side repetitions):")
    for n in args.workers:
        pairs = zip(results[("processes", n)], results[("threads", n)], strict=True)
        speed = [t["wall"] / p["wall"] for p, t in pairs]
        cpu = [
            p["cpu"] / t["cpu"]
            for p, t in zip(results[("processes", n)], results[("threads", n)], strict=True)
        ]
        print(
            f"  N={n}: clips/s processes / threads {statistics.median(speed):.2f} "
            f"(min {min(speed):.2f}, max {max(speed):.2f}); CPU processes / threads {statistics.median(cpu):.2f}"
        )
    first = args.workers[0]
    for mode in ("threads", "processes"):
        for n in args.workers[1:]:
            ratio = med[(mode, first)][0] / med[(mode, n)][0]
            print(f"  {mode}: clips/s N={n} / N={first} {ratio:.2f}")


if __name__ == "__main__":
    main()
