"""`score --explain`: peak memory of the two-phase run (scorer released before the assistant loads) against
holding both models, side by side in one run.

A random checkpoint (tests/tiny_checkpoint.py, language model widened with ``--width``: ~100 M parameters at
1024) as scorer and assistant, a 6.5 s lossless clip in 2 s
windows, the worst window explained. Each mode runs in its own child process, so its peaks are its own:

* ``two-phase``: what `score --explain` does (``vqa2cli.explain(records, scorer=scorer)`` releases it);
* ``both-held``: the scorer kept alive while the assistant loads and answers.

Reported per mode: the peak resident memory (``VmRSS`` sampled every 2 ms: the weights may stay memory-mapped; on CUDA also
``torch.cuda.max_memory_allocated``) above the baseline taken after the imports, wall and CPU seconds; then
the ratio two-phase / both-held of the increments above the baseline (target: about 1/2 when the two models
are the same size and their weights dominate, as with the two 7B checkpoints).

    python benchmarks/explain.py                  # CPU
    python benchmarks/explain.py --device cuda    # GPU (CUDA peak from torch's allocator)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def rss_bytes() -> int:
    """This process's resident memory (``VmRSS``: anonymous + file pages, e.g. memory-mapped weights)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Peak of ``VmRSS`` sampled in a thread every 2 ms."""

    def __init__(self):
        self.read, self.peak, self.stop = rss_bytes, rss_bytes(), False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop:
            self.peak = max(self.peak, self.read() or 0)
            time.sleep(0.002)

    def close(self) -> int:
        self.stop = True
        self.thread.join()
        return self.peak


def child(mode: str, model_dir: str, clip: str, config: str, device: str) -> dict:
    import gc

    import torch

    import vqa2cli
    import vqa2cli.modeling.modeling_vqa2

    gc.collect()
    base, sampler = rss_bytes(), Sampler()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    wall, cpu = time.perf_counter(), time.process_time()
    scorer = vqa2cli.load_scorer(model_dir, config=config, device=device).configure(window_s=2.0)
    records = list(scorer.score_files([clip]))
    if mode == "two-phase":
        forwards = vqa2cli.explain(records, model_dir, scorer=scorer, config=config, device=device)
    else:
        asker = vqa2cli.load_assistant(model_dir, config=config, device=device)
        forwards = vqa2cli.explain(records, asker=asker, config=config, device=device)
    out = {
        "mode": mode,
        "forwards": forwards,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "rss_peak_above_base_mb": (sampler.close() - base) / 1e6,
        "cuda_peak_mb": torch.cuda.max_memory_allocated() / 1e6 if cuda else None,
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--width",
        type=int,
        default=1024,
        help="the language model's hidden size (weights grow "
        "with its square: 1024 = ~100 M parameters, so the weights dominate the process)",
    )
    parser.add_argument("--child", nargs=4, metavar=("MODE", "MODEL", "CLIP", "CONFIG"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.device)))
        return
    from clips import make_lossless_frames
    from tiny_checkpoint import write_tiny_official_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = write_tiny_official_checkpoint(
            tmp / "tiny",
            text={
                "hidden_size": args.width,
                "intermediate_size": 4 * args.width,
                "num_hidden_layers": 6,
                "num_attention_heads": 8,
                "num_key_value_heads": 4,
            },
        )
        clip = make_lossless_frames(tmp / "long.mkv", 0, 52)
        config = tmp / "small.toml"
        config.write_text("[video]\nmotion_size = 64\n[generation]\nmax_new_tokens = 8\n")
        results = {}
        for mode in ("two-phase", "both-held"):
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--device",
                    args.device,
                    "--child",
                    mode,
                    str(model),
                    str(clip),
                    str(config),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in results.values():
        cuda = "" if r["cuda_peak_mb"] is None else f", CUDA peak {r['cuda_peak_mb']:.1f} MB"
        print(
            f"{r['mode']:>9}: {r['forwards']} forward(s), RSS peak +{r['rss_peak_above_base_mb']:.1f} MB"
            f"{cuda}, wall {r['wall_s']:.2f} s, CPU {r['cpu_s']:.2f} s"
        )
    two, both = results["two-phase"], results["both-held"]
    print(
        f"ratio two-phase / both-held: RSS peak {two['rss_peak_above_base_mb'] / both['rss_peak_above_base_mb']:.2f}"
        + (
            ""
            if two["cuda_peak_mb"] is None
            else f", CUDA peak {two['cuda_peak_mb'] / both['cuda_peak_mb']:.2f}"
        )
    )


if __name__ == "__main__":
    main()
