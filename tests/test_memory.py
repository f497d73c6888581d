"""Memory preflight (modeling/memory.py, modeling/precision.py): estimates from the shard headers, the
refusal before any weight is read, --quant auto's choices, and the estimate against measured RssAnon."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from vqa2cli.config import Settings
from vqa2cli.errors import CheckpointError, ExitCode, ModelRuntimeError
from vqa2cli.modeling import precision
from vqa2cli.modeling.loading import load_model, read_config
from vqa2cli.modeling.memory import (
    FAKE_AVAILABLE_ENV,
    GB,
    TensorSpec,
    read_tensor_specs,
    stored_dtype,
    weight_bytes,
)
from vqa2cli.modeling.precision import candidates, plan_memory

ROOT = Path(__file__).resolve().parent.parent


def _header_only_copy(src: Path, dest: Path) -> Path:
    """A copy whose shards keep their header and lose every tensor byte: loading any weight would fail."""
    shutil.copytree(src, dest)
    for shard in dest.glob("*.safetensors"):
        raw = shard.read_bytes()
        (size,) = struct.unpack("<Q", raw[:8])
        shard.write_bytes(raw[: 8 + size])
    return dest


@pytest.fixture
def no_weight_reads(monkeypatch):
    """Any attempt to read tensors fails the test loudly."""
    import safetensors
    import safetensors.torch

    from vqa2cli.modeling.modeling_vqa2 import Vqa2ForConditionalGeneration

    def boom(*_a, **_k):
        raise AssertionError("a weight file was opened")

    monkeypatch.setattr(safetensors, "safe_open", boom)
    monkeypatch.setattr(safetensors.torch, "load_file", boom)
    monkeypatch.setattr(Vqa2ForConditionalGeneration, "from_pretrained", boom)


def test_header_specs_match_safetensors(tiny_model_dir):
    specs = {s.name: s for s in read_tensor_specs(tiny_model_dir)}
    seen = 0
    for shard in tiny_model_dir.glob("*.safetensors"):
        with safe_open(str(shard), framework="pt") as fh:
            for key in fh.keys():
                t = fh.get_tensor(key)
                assert specs[key].shape == tuple(t.shape) and specs[key].dtype == "BF16"
                seen += 1
    assert seen == len(specs) > 100
    assert stored_dtype(list(specs.values())) == "bf16"


def test_fp32_weight_bytes_equal_the_loaded_parameters(tiny_model_dir):
    loaded = load_model(tiny_model_dir, Settings().replace(runtime={"dtype": "fp32", "quant": "none"}))
    params = sum(
        t.numel() * t.element_size() for t in loaded.model.state_dict().values() if t.is_floating_point()
    )
    anon, mapped = weight_bytes(read_tensor_specs(tiny_model_dir), "none", "fp32", "fp32", "cpu")
    assert mapped == 0
    assert anon == params  # every parameter and persistent buffer, at 4 bytes, nothing dropped counted
    assert loaded.memory.estimate.weights_anon == anon and loaded.memory.estimate.activations > 0


def test_bf16_on_cpu_counts_the_mapped_shards(tiny_model_dir):
    specs = read_tensor_specs(tiny_model_dir)
    anon, mapped = weight_bytes(specs, "none", "bf16", "bf16", "cpu")
    assert anon == 0 and mapped > 0
    anon4, mapped4 = weight_bytes(specs, "4bit", "bf16", "bf16", "cpu")
    assert 0 < anon4 < mapped and mapped4 < mapped  # decoder Linears quantized, the rest stays mapped


def test_refusal_names_estimate_available_and_options_before_any_weight_read(
    tiny_model_dir, tmp_path, monkeypatch, no_weight_reads
):
    folder = _header_only_copy(tiny_model_dir, tmp_path / "headers-only")
    settings = Settings().replace(runtime={"quant": "none", "dtype": "fp32"})
    config = read_config(folder)
    est = plan_memory(read_tensor_specs(folder), config, settings, torch.device("cpu")).estimate
    monkeypatch.setenv(FAKE_AVAILABLE_ENV, str(est.total / GB * 0.9))
    with pytest.raises(ModelRuntimeError) as err:
        load_model(folder, settings)
    line = err.value.one_line()
    assert err.value.exit_code == ExitCode.RUNTIME and "\n" not in line
    need = re.search(r"needs about ([0-9.]+) GB of RAM", line)
    assert need and abs(float(need.group(1)) - est.total / GB) < 0.01 and "available" in line
    assert "options that fit: --quant none --dtype bf16" in line and "--quant 4bit" in line


def test_cli_refuses_with_exit_4_and_one_line(tiny_model_dir, tmp_path, make_clip, monkeypatch, capsys):
    """`vqa2 score` (in this process, tests/cli_run.py: the command's own exit-code mapping) refuses a model
    that does not fit with exit 4 and one line, before any weight is read (a header-only copy)."""
    from cli_run import run

    folder = _header_only_copy(tiny_model_dir, tmp_path / "headers-only")
    clip = make_clip("mem.mp4", seconds=1.0, fps=8, width=64, height=48)
    monkeypatch.setenv(FAKE_AVAILABLE_ENV, "0.05")
    code, out, err = run(["score", str(clip), "--model", str(folder), "--quant", "none"], capsys)
    assert code == 4, err
    errors = [ln for ln in err.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "does not fit" in errors[0] and "0.05 GB available" in errors[0]
    assert "nothing fits" in errors[0] and "corrupt" not in err
    assert out == ""


def test_mismatched_tokenizer_is_reported_before_weights_or_preflight(
    tiny_model_dir, tmp_path, monkeypatch, no_weight_reads
):
    folder = _header_only_copy(tiny_model_dir, tmp_path / "badtok")
    config = json.loads((folder / "config.json").read_text())
    config["image_token_index"] += 1  # the tokenizer's <image> id no longer matches the config
    (folder / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv(
        FAKE_AVAILABLE_ENV, "0.0001"
    )  # the preflight would refuse too: the tokenizer comes first
    with pytest.raises(CheckpointError, match="tokenizer"):
        load_model(folder, Settings())


def _big_specs() -> list[TensorSpec]:
    """A 7B-sized decoder (28 layers x 3584) in official key names, on the tiny config's activations."""
    specs = [
        TensorSpec("model.embed_tokens.weight", (152064, 3584), "BF16"),
        TensorSpec("lm_head.weight", (152064, 3584), "BF16"),
    ]
    for i in range(28):
        for name, shape in (
            ("self_attn.q_proj", (3584, 3584)),
            ("self_attn.k_proj", (512, 3584)),
            ("self_attn.v_proj", (512, 3584)),
            ("self_attn.o_proj", (3584, 3584)),
            ("mlp.gate_proj", (18944, 3584)),
            ("mlp.up_proj", (18944, 3584)),
            ("mlp.down_proj", (3584, 18944)),
        ):
            specs.append(TensorSpec(f"model.layers.{i}.{name}.weight", shape, "BF16"))
    return specs


@pytest.mark.parametrize("fraction,quant", [(1.05, "none"), (0.8, "8bit"), (0.5, "4bit")])
def test_quant_auto_picks_the_first_that_fits(tiny_model_dir, monkeypatch, fraction, quant):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)  # one dtype per quant, whatever this CPU
    monkeypatch.setenv(FAKE_AVAILABLE_ENV, "1000")  # the estimates below, whatever this machine has free
    config, specs, cpu = read_config(tiny_model_dir), _big_specs(), torch.device("cpu")
    decoder = 28 * (2 * 3584 * 3584 + 2 * 512 * 3584 + 3 * 18944 * 3584)  # the quantized Linear weights
    est = {
        q: plan_memory(specs, config, Settings().replace(runtime={"quant": q}), cpu).estimate
        for q in ("none", "8bit", "4bit")
    }
    assert est["none"].weights_mapped == 2 * (decoder + 2 * 152064 * 3584) and est["none"].weights_anon == 0
    assert est["4bit"].weights_anon == pytest.approx(decoder * (0.5 + 1 / 64 + 4 / (64 * 256)), rel=1e-4)
    assert est["8bit"].weights_anon == pytest.approx(decoder, rel=1e-3)  # int8 + fp32 row scales
    assert est["4bit"].weights_mapped == est["8bit"].weights_mapped == 2 * 2 * 152064 * 3584  # embed, lm_head
    full = plan_memory(specs, config, Settings().replace(runtime={"quant": "none"}), cpu).estimate.total
    monkeypatch.setenv(FAKE_AVAILABLE_ENV, str(full * fraction / GB))
    plan = plan_memory(specs, config, Settings(), cpu)
    assert plan.precision.quant == quant and plan.precision.dtype == "bf16"
    assert plan.estimate.total <= full * fraction and "(auto)" in plan.note


def test_quant_auto_refuses_when_even_4bit_does_not_fit(tiny_model_dir, monkeypatch):
    monkeypatch.setenv(FAKE_AVAILABLE_ENV, "1.0")
    with pytest.raises(ModelRuntimeError, match="does not fit.*nothing fits"):
        plan_memory(_big_specs(), read_config(tiny_model_dir), Settings(), torch.device("cpu"))
    monkeypatch.setenv(precision.SKIP_CHECK_ENV, "1")
    plan = plan_memory(_big_specs(), read_config(tiny_model_dir), Settings(), torch.device("cpu"))
    assert plan.precision.quant == "none" and "loading anyway" in plan.note


def test_candidates_per_device(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    cpu = [
        (p.quant, p.dtype, p.load_dtype, p.compute_dtype) for p in candidates("cpu", "auto", "auto", "bf16")
    ]
    assert cpu == [
        ("none", "fp32", "fp32", "fp32"),
        ("none", "bf16", "bf16", "bf16"),
        ("8bit", "bf16", "bf16", "fp32"),
        ("4bit", "bf16", "bf16", "fp32"),
    ]
    fp32_4bit = candidates("cpu", "fp32", "4bit", "bf16")[0]
    assert (fp32_4bit.dtype, fp32_4bit.load_dtype) == ("fp32", "bf16")  # quantized from bf16, never from fp32
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert [p.dtype for p in candidates("cpu", "auto", "none", "bf16")] == ["bf16"]
    cuda = candidates("cuda", "auto", "auto", "bf16")
    assert [(p.quant, p.dtype, p.compute_dtype) for p in cuda] == [
        ("none", "fp16", "fp16"),
        ("8bit", "fp16", "fp16"),
        ("4bit", "fp16", "fp16"),
    ]
    assert [p.quant for p in candidates("mps", "auto", "auto", "bf16")] == ["none"]


def test_estimates_of_the_wide_model_by_quantization(wide_model_dir, monkeypatch):
    """fp32 (all anonymous), 8-bit and 4-bit (quantized decoder anonymous, bf16 rest mapped) on a 31 MB model:
    the estimate's structure. How close it is to the measured RssAnon moves with the machine's load, so that
    figure is printed by benchmarks/memory_estimate.py (benchmarks/RESULTS.md), not asserted here."""
    monkeypatch.setenv(FAKE_AVAILABLE_ENV, "1000")  # every choice fits: only the estimates matter here
    specs, config = read_tensor_specs(wide_model_dir), read_config(wide_model_dir)
    anon = {}
    for quant in ("none", "8bit", "4bit"):
        settings = Settings().replace(
            runtime={"quant": quant, "dtype": "fp32" if quant == "none" else "auto"}
        )
        est = plan_memory(specs, config, settings, torch.device("cpu")).estimate
        assert est.weights_anon > 5e6 and est.activations > 0, (quant, est)
        anon[quant] = est.weights_anon
        if quant != "none":
            assert est.weights_mapped > 0, est  # the bf16 rest stays mapped from the shards
    assert anon["none"] > anon["8bit"] > anon["4bit"], anon
