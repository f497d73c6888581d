"""On CUDA, uint8 frames go to the device and are converted and normalised there (``modeling/pixels.py``):
the key frames from host memory chunk by chunk (``ModelInputs.model_kwargs``), the motion frames already on
the device (the motion encoder's chunks); both within the official arithmetic's tolerance of the CPU path,
over every uint8 level. Skipped without a CUDA GPU (never faked)."""

from __future__ import annotations

import pytest
import torch
from test_pixels import NORMS, all_levels, official

from vqa2cli.pipeline.inputs import pixel_tensor

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("name", sorted(NORMS))
@pytest.mark.parametrize("on_device", [False, True], ids=["keyframes-from-host", "motion-on-device"])
def test_cuda_conversion_matches_the_cpu_path(name, on_device):
    frames = all_levels(40)  # more than one chunk of 32
    cuda = torch.device("cuda")
    source = frames.to(cuda) if on_device else frames
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        got = pixel_tensor(source, NORMS[name], dtype, cuda)
        cpu = pixel_tensor(frames, NORMS[name], dtype, torch.device("cpu"))
        assert got.device.type == "cuda" and got.dtype == dtype and got.shape == cpu.shape
        # at most one unit in the last place of the dtype apart (an fp32 FMA rounding before the cast)
        torch.testing.assert_close(got.cpu(), cpu, rtol=torch.finfo(dtype).eps, atol=1e-6)
        if dtype == torch.float32:
            assert (got.cpu() - official(frames, NORMS[name])).abs().max().item() <= 1e-6
