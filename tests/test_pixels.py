"""The fused uint8 → float conversion (pipeline/inputs.py ``pixel_tensor``) against the official arithmetic:
``x / 255`` in fp32, then ``(x - mean) / std`` (SigLIP processor and the SlowFast branch's normalisation)."""

from __future__ import annotations

import pytest
import torch

from vqa2cli.pipeline.inputs import MOTION_NORMS, pixel_tensor

NORMS = {**MOTION_NORMS, "distinct": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}


def official(frames: torch.Tensor, norm) -> torch.Tensor:
    x = frames.permute(0, 3, 1, 2).to(torch.float32) / 255.0
    mean = torch.tensor(norm[0], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(norm[1], dtype=torch.float32).view(1, 3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


def all_levels(n_frames: int = 5) -> torch.Tensor:
    """Every uint8 level in every channel and position class: [n, 16, 16, 3], channels shifted apart."""
    base = torch.arange(256, dtype=torch.uint8).view(16, 16)
    frames = torch.stack(
        [
            torch.stack([(base + 7 * c + 31 * f).to(torch.uint8) for c in range(3)], -1)
            for f in range(n_frames)
        ]
    )
    return frames


@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("chunk", [1, 2, 32])
def test_fp32_within_1e6_of_official(name, chunk):
    frames = all_levels()
    got = pixel_tensor(frames, NORMS[name], torch.float32, torch.device("cpu"), chunk=chunk)
    want = official(frames, NORMS[name])
    assert got.shape == want.shape == (1, 5, 3, 16, 16) and got.dtype == torch.float32
    assert (got - want).abs().max().item() <= 1e-6


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_is_the_official_value_rounded(dtype):
    frames = all_levels(3)
    norm = NORMS["distinct"]
    got = pixel_tensor(frames, norm, dtype, torch.device("cpu"), chunk=2)
    want = official(frames, norm)
    assert got.dtype == dtype
    # rounding the (≤ 1e-6 off) fp32 value may land one unit in the last place from rounding the official one
    torch.testing.assert_close(got.float(), want.to(dtype).float(), atol=1e-6, rtol=2.0**-7)
    assert (got.float() == want.to(dtype).float()).float().mean() > 0.99
