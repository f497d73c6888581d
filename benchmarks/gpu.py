"""The GPU benchmark, ready to run on a CUDA machine with no network (issue 27 §4).

    python benchmarks/gpu.py                       # one H100: everything below, about 8-9 minutes (sizing below)
    python benchmarks/gpu.py --modes bf16,4bit     # a subset of precisions
    python benchmarks/gpu.py --smoke --device cpu  # a 2-minute dry run of the whole flow on the CPU (shrunk model)

Steps, all in one run, with the load average and the device's name beside the figures:

1. writes the real-shape random checkpoint locally (``benchmarks/scale.py write``: Qwen2-7B + SigLIP-so400m +
   SlowFast-R50 in the official key layout, 16.2 GB; no Hub) under ``--workdir`` unless it is already there;
2. makes the clips with PyAV (no ffmpeg needed): one 10 s 1080p 30 fps H.264 clip copied to ``--clips`` names,
   and a 10-minute clip made by re-muxing that clip 60 times end to end (no re-encode: seconds, not minutes);
3. for each precision (bf16, 8-bit, 4-bit: ``--quant none/8bit/4bit`` with the card's dtype), in a fresh
   process: load time (wall and CPU), peak VRAM (``torch.cuda.max_memory_allocated`` over the whole mode),
   end-to-end seconds per 10 s clip for ``--clips`` clips in one process (``load_scorer().score_files``: decode,
   preprocessing and the forward; the first clip is a warm-up and is not counted), windows per second on the
   10-minute clip (``configure(window_s=10)``: 60 windows), and ``ask`` with 1 vs 4 questions on one clip
   (``load_assistant``, greedy, ``--ask-tokens`` new tokens each: the random weights never stop on their own);
4. through ``vqa2 serve`` (a server per precision, ``--serve-modes``, default bf16 only to stay inside the 10
   minutes): ``vqa2 score CLIPS --server URL --server-paths`` in a client process, seconds per clip;
5. appends a table with the device's name, date and conditions to ``benchmarks/RESULTS.md`` (``--no-record``
   to leave it alone).

A mode that fails on a CUDA machine is not skipped: its error is printed and written into the table, and the
script exits 1 after recording the rest. Without CUDA it exits 2 at once (``--device cpu`` with ``--smoke`` is
the one CPU route, for checking the script itself).

Sizing for one H100 (estimated, not yet measured: no GPU was lent when this was written): checkpoint write
~1.5 min (8.1 B random bf16 values, 16 cores) + per precision a load (~20-40 s; 8/4-bit quantize on the GPU),
16 clips (~10-20 s at the 2 clips/s target incl. warm-up), 60 windows (~30-60 s), ask 1 + 4 questions with 32
tokens (~20 s), the assistant's load (~20-40 s) ≈ 2-2.5 min per precision ≈ 6-7.5 min for three, + one
server (bf16: load + 16 clips ≈ 1 min) ≈ 8.5-10 min. ``--budget-s`` (default 570) stops before a step that the
estimate says would not fit and says so in the table; ``--clips 8`` or ``--modes`` shorten it.

Targets reported against (issue 27): bf16 ≥ 2 clips/s end to end (10 s 1080p, one H100, 16 cores); 4-bit peak
VRAM ≤ 8 GB; no mode slower than the official code's fp16 path would be (the same forward in fp16 without
bitsandbytes: the bf16 row is that figure, since bf16 and fp16 run the same kernels on Hopper).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(HERE)]

MODES = {
    "bf16": ("none", "bf16"),
    "fp16": ("none", "fp16"),
    "8bit": ("8bit", "auto"),
    "4bit": ("4bit", "auto"),
}
QUESTIONS = ("Is there stutter?", "How sharp is it?", "Is there banding?", "Is the exposure right?")
SMOKE = {"layers": 1, "vocab": 2048, "clip_s": 2.0, "width": 320, "height": 180, "fps": 10, "long_copies": 4}
FULL = {
    "layers": 28,
    "vocab": 152064,
    "clip_s": 10.0,
    "width": 1920,
    "height": 1080,
    "fps": 30,
    "long_copies": 60,
}


def cpu_s() -> float:
    """User + system seconds of this process and its waited-for children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def make_clips(workdir: Path, size: dict, n: int) -> tuple[list[Path], Path]:
    """``n`` names of one 10 s clip (hard links) and the long clip (the same clip re-muxed end to end)."""
    from clips import make_clip

    base = workdir / f"clip-{size['width']}x{size['height']}-{size['clip_s']:g}s.mp4"
    if not base.is_file():
        make_clip(base, seconds=size["clip_s"], fps=size["fps"], width=size["width"], height=size["height"])
    names = []
    for i in range(n):
        name = workdir / f"c{i:02d}-{base.name}"
        if not name.exists():
            os.link(base, name)
        names.append(name)
    long_clip = workdir / f"long-{size['long_copies']}x-{base.name}"
    if not long_clip.is_file():
        concat_remux(base, long_clip, size["long_copies"])
    return names, long_clip


def concat_remux(src: Path, dst: Path, copies: int) -> None:
    """``copies`` copies of ``src``'s video stream end to end, packets copied with shifted timestamps (no
    re-encode). Every copy starts with a key frame (``src`` is a fresh encode), so the result decodes cleanly."""
    import av

    with av.open(str(src)) as probe:
        stream = probe.streams.video[0]
        span = max(p.pts + (p.duration or 0) for p in probe.demux(stream) if p.pts is not None)
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        out_stream = None
        for k in range(copies):
            with av.open(str(src)) as inp:
                stream = inp.streams.video[0]
                if out_stream is None:
                    out_stream = out.add_stream_from_template(stream)
                for packet in inp.demux(stream):
                    if packet.dts is None:
                        continue
                    packet.pts += k * span
                    packet.dts += k * span
                    packet.stream = out_stream
                    out.mux(packet)
    tmp.rename(dst)


def child(
    folder: Path, mode: str, clips: list[Path], long_clip: Path, device: str, ask_tokens: int, processes: int
) -> dict:
    """One precision in this (fresh) process; returns the row. Raises on any failure (the parent reports it)."""
    import torch

    import vqa2cli

    quant, dtype = MODES[mode]
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    row: dict = {"mode": mode}
    wall, cpu = time.perf_counter(), cpu_s()
    scorer = vqa2cli.load_scorer(
        str(folder),
        device=device,
        dtype=dtype,
        quant=quant,
        offline=True,
        workers=max(4, processes),
        decode_processes=processes,  # decode in worker processes beside the model (issue 27 §3)
    )
    row.update(load_s=time.perf_counter() - wall, load_cpu_s=cpu_s() - cpu)
    list(scorer.score_files([str(clips[0])]))  # warm-up: kernels, allocator, the decode threads
    wall, cpu = time.perf_counter(), cpu_s()
    records = list(scorer.score_files([str(c) for c in clips[1:]]))
    took = time.perf_counter() - wall
    bad = [r for r in records if getattr(r, "status", "ok") != "ok"]
    if bad:
        raise RuntimeError(f"{len(bad)} clip(s) failed: {bad[0].to_dict().get('error')}")
    row.update(
        s_per_clip=took / len(records),
        clips_per_s=len(records) / took,
        cpu_s_per_clip=(cpu_s() - cpu) / len(records),
    )
    wall = time.perf_counter()
    record = scorer.configure(window_s=10.0).score(str(long_clip))
    took = time.perf_counter() - wall
    n_windows = len(record.to_dict().get("segments") or [])
    row.update(windows=n_windows, windows_per_s=n_windows / took if n_windows else None)
    del scorer, record
    if cuda:
        row["peak_vram_gb_scorer"] = torch.cuda.max_memory_allocated() / 1e9
    _release(cuda)
    asker = vqa2cli.load_assistant(
        str(folder),
        device=device,
        dtype=dtype,
        quant=quant,
        offline=True,
        settings={"generation": {"max_new_tokens": ask_tokens}},
    )
    asker.ask(str(clips[0]), QUESTIONS[0])  # warm-up
    times = {}
    for n in (1, 4):
        wall = time.perf_counter()
        asker.ask(str(clips[1 % len(clips)]), list(QUESTIONS[:n]))
        times[n] = time.perf_counter() - wall
    row.update(ask1_s=times[1], ask4_s=times[4], ask4_over_1=times[4] / times[1])
    if cuda:
        row["peak_vram_gb"] = torch.cuda.max_memory_allocated() / 1e9
    return row


def _release(cuda: bool) -> None:
    import gc

    gc.collect()
    if cuda:
        import torch

        torch.cuda.empty_cache()


def run_mode(
    folder: Path, mode: str, clips: list[Path], long_clip: Path, device: str, ask_tokens: int, processes: int
) -> dict:
    """The mode in a fresh process (its own peak VRAM, no allocator left-overs); an error becomes the row."""
    args = [
        sys.executable,
        __file__,
        "_child",
        str(folder),
        mode,
        device,
        str(long_clip),
        str(ask_tokens),
        str(processes),
        *map(str, clips),
    ]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"mode": mode, "error": tail[:300]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_serve(folder: Path, mode: str, clips: list[Path], device: str, workdir: Path, processes: int) -> dict:
    """``vqa2 serve`` with this precision, then one client process scoring the clips by path."""
    from serve import start_server

    quant, dtype = MODES[mode]
    log = workdir / f"serve-{mode}.log"
    wall = time.perf_counter()
    proc, url = start_server(
        folder,
        workdir,
        log,
        device,
        extra=["--quant", quant, "--dtype", dtype, "--decode-processes", str(processes)],
    )
    row = {"mode": f"{mode} (serve)", "load_s": time.perf_counter() - wall}
    try:
        client = [
            sys.executable,
            "-m",
            "vqa2cli",
            "score",
            "--server",
            url,
            "--server-paths",
            "-f",
            "json",
            "-q",
        ]
        subprocess.run([*client, str(clips[0])], capture_output=True, check=True)  # warm-up
        wall, before = time.perf_counter(), cpu_s()
        done = subprocess.run([*client, *map(str, clips[1:])], capture_output=True, text=True)
        took = time.perf_counter() - wall
        if done.returncode != 0:
            return {
                **row,
                "error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300],
            }
        row.update(
            s_per_clip=took / (len(clips) - 1),
            clips_per_s=(len(clips) - 1) / took,
            client_cpu_s=cpu_s() - before,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return row


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores"
    return f"CPU ({platform.processor() or platform.machine()}), {os.cpu_count()} cores"


def table(rows: list[dict], header: str) -> str:
    def f(value, digits=2):
        return "—" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))

    out = [
        header,
        "",
        "| mode | load s (CPU s) | peak VRAM GB | s / 10 s clip | clips/s | windows/s (60 × 10 s) | "
        "ask 1 q s | ask 4 q s | 4/1 | error |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        load = (
            f"{f(r.get('load_s'))} ({f(r.get('load_cpu_s'))})"
            if r.get("load_cpu_s") is not None
            else f(r.get("load_s"))
        )
        out.append(
            f"| {r['mode']} | {load} | {f(r.get('peak_vram_gb') or r.get('peak_vram_gb_scorer'))} | "
            f"{f(r.get('s_per_clip'), 3)} | {f(r.get('clips_per_s'))} | {f(r.get('windows_per_s'))} | "
            f"{f(r.get('ask1_s'))} | {f(r.get('ask4_s'))} | {f(r.get('ask4_over_1'))} | {r.get('error', '')} |"
        )
    return "\n".join(out) + "\n"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        _, _, folder, mode, device, long_clip, ask_tokens, processes, *clips = sys.argv
        row = child(
            Path(folder),
            mode,
            [Path(c) for c in clips],
            Path(long_clip),
            device,
            int(ask_tokens),
            int(processes),
        )
        print(json.dumps(row))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/vqa2-gpu-bench"))
    parser.add_argument("--modes", default="bf16,8bit,4bit", help=f"comma list of {', '.join(MODES)}")
    parser.add_argument(
        "--serve-modes", default="bf16", help="precisions also measured through vqa2 serve ('' none)"
    )
    parser.add_argument(
        "--clips", type=int, default=16, help="10 s clips scored in one process (first = warm-up)"
    )
    parser.add_argument("--ask-tokens", type=int, default=32)
    parser.add_argument(
        "--decode-processes",
        type=int,
        default=max(0, min(8, (os.cpu_count() or 1) - 4)),
        help="decode worker processes beside the model (default: CPUs - 4, at most 8; 0 = threads only)",
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument(
        "--smoke", action="store_true", help="shrunk model and clips: checks the flow, not figures"
    )
    parser.add_argument("--budget-s", type=float, default=570.0, help="stop starting new steps after this")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes + args.serve_modes.split(",") if m and m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {unknown}: choose from {', '.join(MODES)}")
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "gpu.py: no CUDA device here; run it on a GPU machine (or --smoke --device cpu to check the flow)",
            file=sys.stderr,
        )
        return 2
    if not args.device.startswith("cuda") and not args.smoke:
        parser.error("--device cpu only with --smoke (the figures are GPU figures)")
    start = time.perf_counter()
    size = SMOKE if args.smoke else FULL
    workdir = args.workdir / ("smoke" if args.smoke else "full")
    workdir.mkdir(parents=True, exist_ok=True)
    folder = workdir / "checkpoint"
    if not (folder / "model.safetensors.index.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"writing the real-shape random checkpoint to {folder} ...", file=sys.stderr, flush=True)
        subprocess.run(
            [
                sys.executable,
                str(HERE / "scale.py"),
                "write",
                str(folder),
                "--layers",
                str(size["layers"]),
                "--vocab-size",
                str(size["vocab"]),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    clips, long_clip = make_clips(workdir, size, max(2, args.clips))
    print(f"ready after {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    rows, per_mode = [], None
    for mode in modes:
        elapsed = time.perf_counter() - start
        if per_mode is not None and elapsed + per_mode > args.budget_s:
            rows.append({"mode": mode, "error": f"not run: {elapsed:.0f} s + ~{per_mode:.0f} s > --budget-s"})
            continue
        t0 = time.perf_counter()
        rows.append(
            run_mode(folder, mode, clips, long_clip, args.device, args.ask_tokens, args.decode_processes)
        )
        per_mode = time.perf_counter() - t0
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    for mode in [m for m in args.serve_modes.split(",") if m]:
        try:
            rows.append(run_serve(folder, mode, clips, args.device, workdir, args.decode_processes))
        except (subprocess.SubprocessError, SystemExit, OSError) as exc:
            rows.append({"mode": f"{mode} (serve)", "error": str(exc)[:300]})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    load = os.getloadavg()
    header = (
        f"### {device_name(args.device)}: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
        f"{' (SMOKE: shrunk model, not figures)' if args.smoke else ''}\n\n`python benchmarks/gpu.py "
        f"{' '.join(sys.argv[1:])}`; {size['layers']} decoder layers, clips {size['width']}x{size['height']} "
        f"{size['fps']} fps {size['clip_s']:g} s, {os.cpu_count()} CPUs, {args.decode_processes} decode processes, load average {load[0]:.1f}/{load[1]:.1f}, whole run "
        f"{time.perf_counter() - start:.0f} s wall, {cpu_s():.0f} s CPU; torch {torch.__version__}."
    )
    text = table(rows, header)
    print(text)
    if not args.no_record:
        with open(HERE / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write("\n" + text)
    return 1 if any("error" in r and not r["error"].startswith("not run") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
