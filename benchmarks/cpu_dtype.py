"""Is bf16 compute worth it on this CPU? One Qwen2-7B-sized projection (3584 x 3584) on 512 tokens, side by side.

    python benchmarks/cpu_dtype.py

Prints wall and CPU seconds per product for: fp32; bf16; bf16 storage upcast to fp32 at each call; and a
bitsandbytes NF4 layer with compute dtype bf16 vs fp32. The answer decides ``--dtype auto`` on the CPU
(modeling/precision.py): without native bf16 (AVX512-BF16/AMX), fp32 compute is the faster choice.
"""

from __future__ import annotations

import time


def timed(fn, n: int = 5) -> tuple[float, float]:
    fn()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    return (time.perf_counter() - wall) / n, (time.process_time() - cpu) / n


def main() -> None:
    import bitsandbytes as bnb
    import torch

    torch.manual_seed(0)
    x32, w32 = torch.randn(512, 3584), torch.randn(3584, 3584) * 0.02
    x16, w16 = x32.bfloat16(), w32.bfloat16()
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    print(f"CPU capability {torch.backends.cpu.get_cpu_capability()}, native bf16: {native}")
    rows = {
        "fp32": timed(lambda: x32 @ w32.T),
        "bf16": timed(lambda: x16 @ w16.T),
        "bf16 storage, fp32 compute": timed(lambda: x32 @ w16.float().T),
    }
    for compute in (torch.bfloat16, torch.float32):
        layer = bnb.nn.Linear4bit(3584, 3584, bias=False, compute_dtype=compute, quant_type="nf4")
        layer.weight = bnb.nn.Params4bit(w16, requires_grad=False, quant_type="nf4")
        layer = layer.to("cpu")
        with torch.inference_mode():
            rows[f"nf4, compute {str(compute).removeprefix('torch.')}"] = timed(
                lambda layer=layer: layer(x16), 3
            )
    base = rows["fp32"][1]
    for name, (wall, cpu) in rows.items():
        print(f"{name:28} wall {wall:6.3f} s  cpu {cpu:6.3f} s  cpu / fp32 {cpu / base:5.2f}")


if __name__ == "__main__":
    main()
