"""The preflight's refusal line: the estimate and the memory available with the same decimals, enough to
tell them apart, and advice for the device it is about (RAM on the CPU, GPU memory on a GPU)."""

from __future__ import annotations

import re

import pytest
import torch

from vqa2cli.config import Settings
from vqa2cli.errors import ModelRuntimeError
from vqa2cli.modeling import precision
from vqa2cli.modeling.loading import read_config
from vqa2cli.modeling.memory import FAKE_AVAILABLE_ENV, GB, read_tensor_specs
from vqa2cli.modeling.precision import gb_figures, plan_memory

FIGURES = re.compile(r"needs about (\d+\.\d+) GB of (RAM|GPU memory) .*?, (\d+\.\d+) GB available")


@pytest.mark.parametrize(
    "need,have",
    [
        (0.33, 0.30),
        (0.3274, 0.3251),
        (16.43, 15.8),
        (0.57, 0.05),
        (1.0, 0.0),
        (0.004, 0.0031),
        (120.0, 119.99),
    ],
)
def test_figures_share_decimals_and_differ(need, have):
    shown = gb_figures(int(need * GB), int(have * GB))
    assert len({len(s.split(".")[1]) for s in shown}) == 1  # same precision both sides
    assert shown[0] != shown[1]
    for text, value in zip(shown, (need, have)):
        assert abs(float(text) - value) <= 0.5 * 10 ** -len(text.split(".")[1]) + 1e-12
        assert value == 0 or float(text) > 0
    assert gb_figures(int(0.33 * GB), int(0.30 * GB)) == ["0.33", "0.30"]


def refusal(
    tiny_model_dir, monkeypatch, device: str, fraction: float, quant: str = "none", bnb: bool = False
) -> str:
    monkeypatch.setattr(precision, "_bnb_works", lambda device_type: bnb)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    specs, config = read_tensor_specs(tiny_model_dir), read_config(tiny_model_dir)
    settings = Settings().replace(runtime={"quant": quant, "dtype": "fp32" if device == "cpu" else "fp16"})
    monkeypatch.delenv(precision.SKIP_CHECK_ENV, raising=False)
    monkeypatch.setenv(FAKE_AVAILABLE_ENV, "1000")  # the estimate first (it fits), on any machine
    total = plan_memory(specs, config, settings, torch.device(device)).estimate.total
    monkeypatch.setenv(FAKE_AVAILABLE_ENV, repr(total * fraction / GB))
    with pytest.raises(ModelRuntimeError) as err:
        plan_memory(specs, config, settings, torch.device(device))
    return err.value.one_line()


@pytest.mark.parametrize("fraction", [0.92, 0.985, 0.3, 0.02])
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_refusal_figures_are_comparable(tiny_model_dir, monkeypatch, device, fraction):
    line = refusal(tiny_model_dir, monkeypatch, device, fraction)
    need, what, have = FIGURES.search(line).groups()
    assert len(need.split(".")[1]) == len(have.split(".")[1]) >= 2 and float(need) > float(have) > 0
    assert what == ("RAM" if device == "cpu" else "GPU memory")


def test_cpu_refusal_speaks_of_ram_not_a_larger_gpu(tiny_model_dir, monkeypatch):
    line = refusal(tiny_model_dir, monkeypatch, "cpu", 0.02)
    assert "GB of RAM" in line and "nothing fits: free RAM" in line
    assert "larger GPU" not in line and "GPU memory" not in line
    with_bnb = refusal(tiny_model_dir, monkeypatch, "cpu", 0.02, bnb=True)
    assert "nothing fits: free RAM" in with_bnb


def test_cpu_refusal_names_the_options_that_fit_on_the_cpu(tiny_model_dir, monkeypatch):
    line = refusal(tiny_model_dir, monkeypatch, "cpu", 0.98)  # fp32 asked; bf16 (mapped) fits
    assert "options that fit: --quant none --dtype bf16" in line and "--dtype fp16" not in line


@pytest.mark.parametrize("bnb", [False, True])
def test_quantized_options_name_bitsandbytes_when_it_cannot_run(bnb):
    from vqa2cli.modeling.memory import MemoryEstimate
    from vqa2cli.modeling.precision import Precision, _refusal

    full = Precision("none", "bf16", "bf16", "bf16")
    four = Precision("4bit", "bf16", "bf16", "bf16")
    est = {
        p: MemoryEstimate("cpu", p.quant, "bf16", int(gb * GB), 0, 0, 0)
        for p, gb in ((full, 15.2), (four, 4.9))
    }
    err = _refusal(full, est[full], int(8 * GB), "RAM", 2000, "cpu", "", list(est.items()), bnb)
    line = err.one_line()
    assert "needs about 15.20 GB of RAM for a 2000-token clip, 8.00 GB available" in line
    if bnb:
        assert "options that fit: --quant 4bit --dtype bf16 (4.9 GB)" in line
    else:
        assert "nothing fits: --quant 4bit would fit but bitsandbytes does not work on cpu; free RAM" in line


def test_gpu_refusal_speaks_of_gpu_memory(tiny_model_dir, monkeypatch):
    line = refusal(tiny_model_dir, monkeypatch, "cuda", 0.02)
    assert "GB of GPU memory" in line and "free GPU memory" in line and "GPU with more memory" in line
    assert "RAM" not in line
