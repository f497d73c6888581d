"""What a process start costs a CI hook: `vqa2 --help`, `probe`, `score` (tiny model) and `score --server`.

For each command, ``--reps`` runs interleaved (every command once per round, so background load hits all
alike): wall and CPU seconds of the whole process (``RUSAGE_CHILDREN``), the heavy packages it imported
(``python -X importtime``, one extra run per command) and the import time they took, next to two yardsticks
measured in the same rounds: a bare ``python -c pass`` and, for ``score``/``probe``, ffmpeg decoding the same
clip (``ffmpeg -i CLIP -f null -``) when the ffmpeg CLI is present. The server for ``--server`` is started
once, with the tiny model, before the rounds (its load is not counted: that is what a server is for).

    python benchmarks/startup.py               # 5 rounds, 4 s 320x240 clip, tiny random checkpoint
    python benchmarks/startup.py --reps 9 --clip-size 1920x1080

Prints one table; figures go to benchmarks/RESULTS.md ("Process start") by hand with the conditions.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(HERE)]

HEAVY = (
    "torch",
    "transformers",
    "av",
    "numpy",
    "scipy",
    "httpx",
    "matplotlib",
    "PIL",
    "pytorchvideo",
    "sympy",
    "accelerate",
    "bitsandbytes",
    "fastapi",
    "uvicorn",
    "rich",
    "typer",
)


def timed(args: list[str], env: dict) -> tuple[float, float, int]:
    """Wall s, CPU s (user + system of the child) and exit code of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    code = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), code


def imports(args: list[str], env: dict) -> dict[str, float]:
    """Top-level package → cumulative import seconds of its first import, from ``-X importtime``."""
    done = subprocess.run([args[0], "-X", "importtime", *args[1:]], env=env, capture_output=True, text=True)
    out: dict[str, float] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line.split("|")
        name = name.strip()
        if "." not in name and name not in out:  # a package's first import, at whatever depth
            out[name] = int(cumulative) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--clip-size", default="320x240")
    args = parser.parse_args()
    from clips import make_clip
    from serve import start_server
    from tiny_checkpoint import write_tiny_official_checkpoint

    work = Path(tempfile.mkdtemp(prefix="vqa2-startup-"))
    width, height = map(int, args.clip_size.split("x"))
    clip = make_clip(work / "clip.mp4", seconds=4, fps=25, width=width, height=height)
    model = work / "tiny"
    write_tiny_official_checkpoint(model)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    proc, url = start_server(model, work, work / "serve.log", "cpu")
    py = [sys.executable]
    commands = {
        "python -c pass": [*py, "-c", "pass"],
        "vqa2 --help": [*py, "-m", "vqa2cli", "--help"],
        "vqa2 probe": [*py, "-m", "vqa2cli", "probe", str(clip)],
        "vqa2 score (tiny model)": [*py, "-m", "vqa2cli", "score", str(clip), "--model", str(model), "-q"],
        # the same command with the collector left on during the start (vqa2cli/startup.py switched off)
        "vqa2 score, GC on at start": [
            *py,
            "-c",
            "import sys; from vqa2cli import startup; "
            "startup.pause = lambda: None; from vqa2cli.cli.app import main; "
            "sys.argv[0] = 'vqa2'; main()",
            "score",
            str(clip),
            "--model",
            str(model),
            "-q",
        ],
        "vqa2 score --server": [
            *py,
            "-m",
            "vqa2cli",
            "score",
            str(clip),
            "--server",
            url,
            "--server-paths",
            "-q",
        ],
    }
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg:
        commands["ffmpeg decode (yardstick)"] = [ffmpeg, "-v", "error", "-i", str(clip), "-f", "null", "-"]
    try:
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for r in range(args.reps):
            order = list(commands) if r % 2 == 0 else list(reversed(commands))
            for name in order:
                wall, cpu, code = timed(commands[name], env)
                if code != 0:
                    raise SystemExit(f"{name} exited {code}")
                times[name].append((wall, cpu))
        loaded = {name: imports(cmd, env) for name, cmd in commands.items() if cmd[0] == sys.executable}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    base_cpu = statistics.median(c for _, c in times["python -c pass"])
    print(
        f"load average {os.getloadavg()[0]:.1f}; {args.reps} interleaved rounds; median wall / CPU s; clip "
        f"{args.clip_size} 4 s; python {sys.version.split()[0]}"
    )
    print("| command | wall s | CPU s | CPU − bare python | heavy packages imported (import s) |")
    print("|---|---|---|---|---|")
    for name, rows in times.items():
        wall = statistics.median(w for w, _ in rows)
        cpu = statistics.median(c for _, c in rows)
        heavy = loaded.get(name, {})
        listed = ", ".join(f"{p} {heavy[p]:.2f}" for p in HEAVY if p in heavy) or "—"
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {cpu - base_cpu:+.2f} | {listed} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
