"""Real CUDA forwards of the tiny model in fp16/bf16/8-bit/4-bit (skipped without a GPU, never faked).

Run on a GPU machine with ``python -m pytest -m gpu tests/test_gpu_model.py -s``: ``-s`` shows the peak memory
and seconds per forward that go into benchmarks/RESULTS.md ("Model (GPU)").
"""

from __future__ import annotations

import time

import pytest
import torch
from quant_helpers import quantized_linear_names

from vqa2cli.config import Settings
from vqa2cli.modeling.loading import load_model
from vqa2cli.modeling.memory import peak_memory_bytes, reset_peak_memory

pytestmark = pytest.mark.gpu

K, T = 3, 88  # a 3 s, 30 fps clip: 3 keyframes, 88 dense frames


def _inputs(cfg, device, dtype):
    g = torch.Generator().manual_seed(0)
    ids = (
        [5, 6]
        + [cfg.video_token_id] * cfg.keyframe_block_length(K)
        + [7]
        + [cfg.motion_token_id] * T
        + [8, 9]
    )
    ids = torch.tensor([ids], device=device)
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values_videos": (torch.rand(1, K, 3, 384, 384, generator=g) * 2 - 1).to(device, dtype),
        "motion_pixel_values": (torch.rand(1, T, 3, 384, 384, generator=g) * 2 - 1).to(device, dtype),
    }


@pytest.fixture(scope="module")
def cpu_reference(tiny_model_dir):
    model = load_model(
        tiny_model_dir, Settings().replace(runtime={"device": "cpu", "dtype": "fp32", "quant": "none"})
    ).model
    with torch.no_grad():
        return model(**_inputs(model.config, "cpu", torch.float32)).logits[0, -1].float()


@pytest.mark.parametrize(
    "dtype,quant", [("fp16", "none"), ("bf16", "none"), ("fp16", "8bit"), ("bf16", "4bit")]
)
def test_cuda_forward(tiny_model_dir, cpu_reference, dtype, quant):
    loaded = load_model(
        tiny_model_dir, Settings().replace(runtime={"device": "cuda", "dtype": dtype, "quant": quant})
    )
    model = loaded.model
    assert loaded.device.type == "cuda" and next(model.parameters()).device.type == "cuda"
    assert loaded.dtype == {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype]
    assert bool(quantized_linear_names(model)) == (quant != "none")
    inputs = _inputs(model.config, loaded.device, loaded.dtype)
    reset_peak_memory(loaded.device)
    with torch.no_grad():
        model(**inputs)  # warm-up (cuDNN autotune, bnb kernels)
        torch.cuda.synchronize()
        start = time.perf_counter()
        logits = model(**inputs).logits[0, -1].float().cpu()
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = peak_memory_bytes(loaded.device)
    print(
        f"\n[gpu] dtype={dtype} quant={quant} forward={seconds * 1000:.1f} ms peak={peak / 2**20:.1f} MiB "
        f"device={torch.cuda.get_device_name(loaded.device)}"
    )
    assert peak and peak > 0
    assert torch.isfinite(logits).all()
    similarity = torch.nn.functional.cosine_similarity(logits, cpu_reference, dim=0)
    assert similarity > (0.99 if quant == "none" else 0.9)


def test_cuda_generate_greedy(tiny_model_dir):
    loaded = load_model(tiny_model_dir, Settings().replace(runtime={"device": "cuda", "quant": "4bit"}))
    inputs = _inputs(loaded.model.config, loaded.device, loaded.dtype)
    with torch.no_grad():
        out = loaded.model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 4
