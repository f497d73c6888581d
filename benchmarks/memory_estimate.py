"""How close is the memory preflight's estimate to the anonymous RSS a load really adds? (moved out of
tests/test_memory.py and tests/test_quant_cache.py: the measured figure moves with the machine's load, so no
test asserts it; issue 25.)

A 4-layer 512-wide tiny checkpoint (31 MB, tests/tiny_checkpoint.py) is loaded on the CPU in fresh child
processes, each measuring *in the same run* ``RssAnon`` (/proc/self/status) before and after the load next to
the estimate's ``weights_anon``:

* fresh loads with ``--quant none`` (fp32), ``8bit`` and ``4bit`` (quantized on the fly);
* 8-bit and 4-bit loads through the quantized-weights cache: the first writes the entry, the second reads it
  (the estimate then counts the quantized weights as mapped: almost no anonymous memory).

It prints ``measured / estimate`` for each (target: within 0.8-1.2 for fresh loads; a cached load's measured
anonymous RSS under 20 % of the fresh one's), with wall and CPU seconds of each load. Linux only (RssAnon).

    python benchmarks/memory_estimate.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

CHILD = """
import gc, json, resource, sys, time
from pathlib import Path
from vqa2cli.config import Settings
from vqa2cli.modeling.loading import load_model
from vqa2cli.modeling.memory import anon_rss_bytes, release_freed_memory
tiny, wide, quant = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
settings = Settings().replace(runtime={"device": "cpu", "quant": quant, "dtype": "fp32" if quant == "none" else "auto"})
load_model(tiny, settings)  # imports and one-time allocations out of the way
gc.collect(); release_freed_memory()
before, wall, cpu = anon_rss_bytes(), time.perf_counter(), time.process_time()
loaded = load_model(wide, settings)
print(json.dumps({"state": loaded.quant_cache, "measured": anon_rss_bytes() - before,
                  "anon": loaded.memory.estimate.weights_anon, "wall_s": time.perf_counter() - wall,
                  "cpu_s": time.process_time() - cpu}))
"""


def child(tiny: Path, wide: Path, quant: str, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VQA2_QUANT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(tiny), str(wide), quant],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from test_memory import WIDE
    from tiny_checkpoint import write_tiny_official_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tiny = write_tiny_official_checkpoint(tmp / "tiny")
        wide = write_tiny_official_checkpoint(tmp / "wide", text=WIDE)
        rows = []
        for quant in ("none", "8bit", "4bit"):
            for _ in range(1 if quant == "none" else 2):  # quantized: the cache's write, then its read
                rows.append((quant, child(tiny, wide, quant, tmp / "cache")))
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    print("| quant | cache | estimate (MB) | measured RssAnon (MB) | measured / estimate | wall s | CPU s |")
    print("|---|---|---|---|---|---|---|")
    fresh = {}
    for quant, r in rows:
        ratio = r["measured"] / r["anon"] if r["anon"] > 1e6 else float("nan")
        if r["state"] != "hit":
            fresh[quant] = r["measured"]
        else:
            ratio_text = f"{r['measured'] / fresh[quant]:.3f} of the fresh load's"
        print(
            f"| {quant} | {r['state'] or '-'} | {r['anon'] / 1e6:.1f} | {r['measured'] / 1e6:.1f} | "
            f"{ratio_text if r['state'] == 'hit' else f'{ratio:.3f}'} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} |"
        )


if __name__ == "__main__":
    main()
