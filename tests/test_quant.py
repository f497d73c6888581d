"""bitsandbytes 4/8-bit on the CPU with the tiny model: only the language model is quantized."""

from __future__ import annotations

import sys

import pytest
import torch
from quant_helpers import quantized_linear_names

from vqa2cli.config import Settings
from vqa2cli.errors import ExitCode, QuantizationUnavailableError
from vqa2cli.modeling.loading import load_model
from vqa2cli.modeling.memory import peak_memory_bytes

LM_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _score_logits(model):
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor(
        [[5, 6] + [cfg.video_token_id] * cfg.keyframe_block_length(1) + [cfg.motion_token_id] * 4 + [7, 8]]
    )
    with torch.no_grad():
        return (
            model(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                pixel_values_videos=torch.rand(1, 1, 3, 384, 384, generator=g) * 2 - 1,
                motion_pixel_values=torch.rand(1, 4, 3, 32, 32, generator=g) * 2 - 1,
            )
            .logits[0, -1]
            .float()
        )


@pytest.fixture(scope="module")
def full_logits(tiny_model_dir):
    return _score_logits(
        load_model(tiny_model_dir, Settings().replace(runtime={"dtype": "fp32", "quant": "none"})).model
    )


@pytest.mark.parametrize("quant,cls", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_only_the_language_model_is_quantized(tiny_model_dir, full_logits, quant, cls):
    loaded = load_model(tiny_model_dir, Settings().replace(runtime={"quant": quant}))
    model = loaded.model
    assert loaded.quant == quant
    quantized = quantized_linear_names(model)
    n_layers = model.config.text_config.num_hidden_layers
    expected = {
        f"model.language_model.layers.{i}.{grp}.{name}"
        for i in range(n_layers)
        for grp, names in (("self_attn", LM_LINEARS[:4]), ("mlp", LM_LINEARS[4:]))
        for name in names
    }
    assert quantized == {name: cls for name in expected}
    plain = {n: m for n, m in model.named_modules() if type(m) is torch.nn.Linear}
    assert {"lm_head", "model.multi_modal_projector.linear_1", "model.motion_projector.linear_2"} <= set(
        plain
    )
    assert any(n.startswith("model.vision_tower.") for n in plain)
    assert {m.weight.dtype for m in plain.values()} == {loaded.dtype}
    motion = model.model.motion_extractor
    assert {p.dtype for p in motion.parameters()} == {loaded.dtype}
    assert not any(type(m).__name__.endswith(("4bit", "8bitLt")) for m in motion.modules())
    logits = _score_logits(model)
    assert torch.isfinite(logits).all()
    # Quantized, not silently full precision: close to the fp32 model, but not identical.
    assert not torch.equal(logits, full_logits)
    assert torch.nn.functional.cosine_similarity(logits, full_logits, dim=0) > 0.9


def test_4bit_is_nf4_with_double_quantization(tiny_model_dir):
    model = load_model(tiny_model_dir, Settings().replace(runtime={"quant": "4bit"})).model
    layer = model.model.language_model.layers[0].self_attn.q_proj
    assert layer.weight.quant_type == "nf4"
    assert layer.weight.quant_state.nested  # double quantization of the absmax statistics
    assert model.config.quantization_config.llm_int8_skip_modules


def test_missing_bitsandbytes_is_a_usage_error_not_a_fallback(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # `import bitsandbytes` now raises ImportError
    with pytest.raises(QuantizationUnavailableError, match="needs bitsandbytes") as err:
        load_model(tiny_model_dir, Settings().replace(runtime={"quant": "4bit"}))
    assert err.value.exit_code == ExitCode.USAGE and "--quant none" in err.value.fix


def test_broken_bitsandbytes_is_a_usage_error(tiny_model_dir, monkeypatch):
    import bitsandbytes

    def broken(*_args, **_kwargs):
        raise RuntimeError("libbitsandbytes_cpu.so: cannot open shared object file")

    monkeypatch.setattr(bitsandbytes.functional, "quantize_4bit", broken)
    with pytest.raises(QuantizationUnavailableError, match="libbitsandbytes"):
        load_model(tiny_model_dir, Settings().replace(runtime={"quant": "8bit"}))


def test_missing_accelerate_is_a_usage_error(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)
    with pytest.raises(QuantizationUnavailableError, match="needs accelerate"):
        load_model(tiny_model_dir, Settings().replace(runtime={"quant": "8bit"}))


def test_peak_memory_is_not_measured_off_cuda():
    assert peak_memory_bytes(torch.device("cpu")) is None
