"""The published model's size on this machine: write a random checkpoint with the real shapes, then measure.

    python benchmarks/scale.py estimate                       # 7B estimates per mode, no files, no weights
    python benchmarks/scale.py write /data/vqa2-7b-random      # ~16.2 GB, 4 shards (official key names)
    python benchmarks/scale.py measure /data/vqa2-7b-random    # read yardstick, then bf16 / 8-bit / 4-bit
    python benchmarks/scale.py write /tmp/small --layers 2 --vocab-size 32768   # a ~2.3 GB check run
    python benchmarks/scale.py measure /data/x --cache-dir /data/x-qcache --modes 4bit/auto,4bit/auto/fwd

``write`` builds the model on the meta device (shapes and names only: Qwen2-7B, SigLIP-so400m with 26
layers, SlowFast-R50 with both pathways, renamed to the official ``llava_qwen`` keys as the tiny test fixture
does) and streams random bf16 tensors into shards of ``--shard-gb``; it never holds more than one shard.
The tokenizer is the tiny test tokenizer (its ``<image>`` id is written into config.json), which changes
nothing about memory or load time. ``--layers``/``--vocab-size`` shrink the language model for a quick run.

``measure`` runs, in one go, the yardstick (reading every shard once, 16 MiB at a time) and then each mode in
a fresh subprocess: load time (wall and CPU), anonymous RSS after the load next to the preflight estimate,
whether the quantized-weights cache was hit or written (``--cache-dir``: a cache folder of its own, emptied
first, so the first quantized load of each mode writes it and the next one reads it), and one scoring forward
on a 1-second clip for the modes marked ``/fwd``. Targets (issue 12): quantized load <= 2x the read time; RssAnon
after load within 10 % of the estimate's anonymous weights; 4-bit <= 7 GB. Results: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

QWEN2_7B = {
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
}
VOCAB = 152064
# quant/dtype[/fwd]: each quantized mode twice, the first load quantizes and writes the quantized-weights
# cache, the second reads it; "/fwd" adds one forward on the 1-second clip after that load.
MODES = ("none/bf16", "8bit/auto", "8bit/auto", "4bit/auto", "4bit/auto/fwd", "auto/auto")


def official_config(layers: int, vocab: int, image_token: int) -> dict:
    """The official llava_qwen config.json at full size (no ``vqa2_*`` shrinking fields)."""
    from tiny_checkpoint import _official_config

    config = _official_config(
        vocab=vocab, image_token=image_token, text={**QWEN2_7B, "num_hidden_layers": layers}
    )
    for key in ("vqa2_vision_config", "vqa2_motion_config"):
        config.pop(key)
    config["mm_hidden_size"] = 1152
    return config


def meta_shapes(official: dict) -> dict[str, tuple[int, ...]]:
    """Official checkpoint key → shape, from the model and pytorchvideo's SlowFast-R50 built on the meta device."""
    import torch
    from tiny_checkpoint import _to_official, official_slowfast

    from vqa2cli.modeling.configuration_vqa2 import config_from_official
    from vqa2cli.modeling.modeling_vqa2 import Vqa2ForConditionalGeneration

    with torch.device("meta"):
        model = Vqa2ForConditionalGeneration(config_from_official(official))
        slowfast = official_slowfast(stem_dim=8, depth=50)
    shapes = {}
    for key, value in model.state_dict().items():
        if not (key.startswith("model.motion_extractor.fast.") or key.endswith("num_batches_tracked")):
            shapes[_to_official(key)] = tuple(value.shape)
    for key, value in slowfast.state_dict().items():  # same renaming as tiny_checkpoint.official_state_dict
        block = int(key.split(".")[1])
        if block <= 4 and not key.endswith("num_batches_tracked"):
            shapes["model.slowfast.feature_extraction." + key.split(".", 2)[2].join([f"{block}.", ""])] = (
                tuple(value.shape)
            )
    return shapes


def write(folder: Path, layers: int, vocab: int, shard_gb: float) -> None:
    import torch
    from safetensors.torch import save_file
    from tiny_checkpoint import _write_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    n_vocab = _write_tokenizer(folder, split_fair=False)
    official = official_config(
        layers, vocab, image_token=n_vocab + 3
    )  # <image> after the tiny tokenizer's specials
    (folder / "config.json").write_text(json.dumps(official, indent=2))
    shapes = meta_shapes(official)
    groups, current, size = [], [], 0
    for key in sorted(shapes):
        current.append(key)
        size += 2 * max(1, _numel(shapes[key]))
        if size >= shard_gb * 1e9:
            groups.append(current)
            current, size = [], 0
    groups += [current] if current else []
    weight_map, total, gen = {}, 0, torch.Generator().manual_seed(0)
    for i, keys in enumerate(groups):
        name = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        part = {k: _random(shapes[k], k, gen) for k in keys}
        save_file(part, str(folder / name), metadata={"format": "pt"})
        total += sum(t.numel() * 2 for t in part.values())
        weight_map.update({k: name for k in keys})
        print(
            f"wrote {name}: {sum(t.numel() for t in part.values()) / 1e9:.3f} B parameters", file=sys.stderr
        )
        del part
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2)
    )
    print(
        json.dumps(
            {
                "folder": str(folder),
                "parameters": sum(_numel(s) for s in shapes.values()),
                "bytes": total,
                "shards": len(groups),
            }
        )
    )


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _random(shape, key: str, gen):
    import torch

    if (
        "running_var" in key
        or key.endswith("norm.weight")
        or "layernorm" in key
        or "ln" in key.split(".")[-2:-1]
    ):
        return torch.ones(shape, dtype=torch.bfloat16)  # variances/scales near 1 keep the forward finite
    return (torch.randn(shape, generator=gen, dtype=torch.float32) * 0.02).to(torch.bfloat16)


def read_yardstick(folder: Path) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    n = 0
    for shard in sorted(folder.glob("*.safetensors")):
        with open(shard, "rb", buffering=0) as fh:
            while chunk := fh.read(16 << 20):
                n += len(chunk)
    return {
        "bytes": n,
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
    }


def touch_weights(model) -> float:
    """Seconds to read one element per 4 KiB page of every parameter and buffer: what a load that leaves
    weights memory-mapped (bf16, a cached 8/4-bit entry) defers to the first forward, paid here instead."""
    import torch

    start = time.perf_counter()
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.numel():
                t.detach().reshape(-1)[:: max(1, 4096 // t.element_size())].float().sum()
    return round(time.perf_counter() - start, 2)


def measure_one(folder: Path, quant: str, dtype: str, clip: Path, forward: bool = True) -> dict:
    """One mode in this process: load, RssAnon and the estimate, one forward on ``clip``."""
    from tiny_checkpoint import write_tiny_official_checkpoint

    from vqa2cli.config import Settings
    from vqa2cli.modeling.loading import load_model
    from vqa2cli.modeling.memory import GB, anon_rss_bytes, release_freed_memory
    from vqa2cli.pipeline.run import Scorer, clip_shapes

    settings = Settings().replace(runtime={"device": "cpu", "quant": quant, "dtype": dtype})
    warm = folder.parent / (folder.name + "-warmup")
    if not (warm / "config.json").is_file():
        write_tiny_official_checkpoint(warm)
    load_model(warm, settings.replace(runtime={"quant_cache": False}))  # imports, one-time allocations
    release_freed_memory()
    before = anon_rss_bytes()
    wall, usage = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)

    loaded = load_model(folder, settings, clips=clip_shapes([clip]))
    after_usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "quant": loaded.quant,
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "requested": f"{quant}/{dtype}",
        "load_s": round(time.perf_counter() - wall, 2),
        "load_user_s": round(after_usage.ru_utime - usage.ru_utime, 2),
        "load_sys_s": round(after_usage.ru_stime - usage.ru_stime, 2),
        "anon_after_load_gb": round((anon_rss_bytes() - before) / GB, 3),
        "quant_cache": loaded.quant_cache,
    }
    out["touch_s"] = touch_weights(loaded.model)
    out["anon_after_touch_gb"] = round((anon_rss_bytes() - before) / GB, 3)
    est = loaded.memory.estimate
    out.update(
        est_anon_gb=round(est.weights_anon / GB, 3),
        est_mapped_gb=round(est.weights_mapped / GB, 3),
        est_activations_gb=round(est.activations / GB, 3),
        est_total_gb=est.total_gb,
        note=loaded.memory.note,
    )
    if not forward:
        return out
    record = Scorer(settings, loaded).score(str(clip))
    out.update(
        forward_infer_s=round(record.timing["infer_s"], 2),
        score=round(record.score, 4),
        anon_after_forward_gb=round((anon_rss_bytes() - before) / GB, 3),
        max_rss_gb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB, 3),
    )
    return out


def measure(folder: Path, modes: list[str], cache_dir: Path | None) -> None:
    import os
    import shutil

    from clips import make_clip

    env = dict(os.environ)
    if cache_dir is not None:
        shutil.rmtree(cache_dir, ignore_errors=True)
        env["VQA2_QUANT_CACHE_DIR"] = str(cache_dir)
    clip = make_clip(folder / "clip-1s.mp4", seconds=1.0, fps=30, width=640, height=360)
    rows = {"read": read_yardstick(folder)}
    print(f"read yardstick: {rows['read']}", file=sys.stderr)
    for i, mode in enumerate(modes):
        quant, dtype, *extra = mode.split("/")
        run = subprocess.run(
            [
                sys.executable,
                __file__,
                "_one",
                str(folder),
                quant,
                dtype,
                str(clip),
                str(int(extra == ["fwd"])),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        row = (
            json.loads(run.stdout.splitlines()[-1])
            if run.returncode == 0
            else {
                "error": run.stderr.strip().splitlines()[-1]
                if run.stderr.strip()
                else f"exit {run.returncode}"
            }
        )
        rows[f"{i + 1}. {quant}/{dtype} ({row.get('quant_cache') or 'no cache'})"] = row
        print(f"{mode}: {row}", file=sys.stderr, flush=True)
    read_s = rows["read"]["wall_s"]
    for row in rows.values():
        if "load_s" in row:
            row["load_over_read"] = round(row["load_s"] / max(read_s, 1e-3), 2)
            row["anon_vs_estimate"] = (
                round(row["anon_after_load_gb"] / max(row["est_anon_gb"], 1e-9), 3)
                if row["est_anon_gb"] > 0
                else None
            )
    print(json.dumps(rows, indent=2))


def estimate_table(layers: int, vocab: int) -> None:
    """Preflight estimates for the full-size model from meta-device shapes: no file is written or read."""
    import torch

    from vqa2cli.config import Settings
    from vqa2cli.modeling.configuration_vqa2 import config_from_official
    from vqa2cli.modeling.memory import REFERENCE_CLIP, TensorSpec, estimate_memory
    from vqa2cli.modeling.precision import candidates

    official = official_config(layers, vocab, image_token=151646)
    specs = [TensorSpec(k, s, "BF16") for k, s in meta_shapes(official).items()]
    config, settings = config_from_official(official), Settings()
    print(f"parameters in the checkpoint: {sum(s.numel for s in specs):,}")
    for device in ("cpu", "cuda"):
        for p in dict.fromkeys(
            candidates(device, "auto", "auto", "bf16") + candidates(device, "fp32", "none", "bf16")
        ):
            for clip, label in ((REFERENCE_CLIP, "10 s 30 fps"), ((30, 30.0), "1 s 30 fps")):
                e = estimate_memory(
                    specs,
                    config,
                    settings,
                    device_type=device,
                    device_name=device,
                    quant=p.quant,
                    dtype=p.dtype,
                    load_dtype=p.load_dtype,
                    clip=clip,
                )
                print(
                    f"{device:5} {p.flags:28} {label:12} weights anon {e.weights_anon / 1e9:6.2f} GB  mapped "
                    f"{e.weights_mapped / 1e9:6.2f} GB  activations {e.activations / 1e9:5.2f} GB  total {e.total_gb:6.2f} GB"
                )
    del torch


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_one":
        _, _, folder, quant, dtype, clip, forward = sys.argv
        print(json.dumps(measure_one(Path(folder), quant, dtype, Path(clip), forward == "1")))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("estimate", "write", "measure"))
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--layers", type=int, default=28, help="decoder layers (28 = Qwen2-7B)")
    parser.add_argument(
        "--vocab-size", type=int, default=VOCAB, help="embedding/lm_head rows (152064 = Qwen2)"
    )
    parser.add_argument("--shard-gb", type=float, default=5.0)
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="comma-separated quant/dtype[/fwd] to measure in this order (fwd: one forward too)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="quantized-weights cache folder for the run (emptied "
        "first; default: the user's cache, VQA2_QUANT_CACHE_DIR or $HF_HOME/vqa2/quantized)",
    )
    args = parser.parse_args()
    if args.action == "estimate":
        estimate_table(args.layers, args.vocab_size)
    elif args.folder is None:
        parser.error(f"{args.action} needs a folder")
    elif args.action == "write":
        write(args.folder, args.layers, args.vocab_size, args.shard_gb)
    else:
        measure(args.folder, args.modes.split(","), args.cache_dir)


if __name__ == "__main__":
    main()
