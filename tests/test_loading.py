"""load_model on the tiny official-layout checkpoint: the same path users' folders take."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from vqa2cli.config import Settings
from vqa2cli.errors import CheckpointError, UsageError
from vqa2cli.modeling.checkpoint_keys import is_dropped, to_ours
from vqa2cli.modeling.loading import LoadedModel, load_model

K, T = 2, 8
FP32 = Settings().replace(runtime={"dtype": "fp32", "quant": "none"})


@pytest.fixture(scope="module")
def loaded(tiny_model_dir) -> LoadedModel:
    return load_model(tiny_model_dir, FP32)  # reference comparisons pin fp32 (dtype auto depends on the CPU)


def _inputs(config, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = [5, 6, 7] + [config.video_token_id] * config.keyframe_block_length(K) + [8, 9]
    ids += [config.motion_token_id] * T + [10, 11, 12]
    ids = torch.tensor([ids])
    return {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "pixel_values_videos": torch.rand(1, K, 3, 384, 384, generator=g) * 2 - 1,
        "motion_pixel_values": torch.rand(1, T, 3, 64, 64, generator=g) * 2 - 1,
    }


def _logits(model, inputs):
    with torch.no_grad():
        return model(**inputs).logits.float()


def _official_tensors(folder: Path) -> dict[str, torch.Tensor]:
    out = {}
    for shard in sorted(folder.glob("*.safetensors")):
        out.update(load_file(str(shard)))
    return out


def test_official_layout_loads_with_real_geometry(loaded, tiny_model_dir):
    cfg = loaded.model.config
    assert cfg.tokens_per_keyframe == 196  # 384 px / patch 14 → 27×27 → bilinear 14×14
    assert cfg.keyframe_block_length(3) == 3 * 196 + 1
    assert loaded.dtype == torch.float32 and loaded.device.type == "cpu" and loaded.quant == "none"
    assert loaded.source == str(tiny_model_dir) and loaded.revision == "local"
    tok = loaded.tokenizer
    assert tok.convert_tokens_to_ids("<image>") == cfg.image_token_id
    assert tok.convert_tokens_to_ids(["<video>", "<motion>"]) == [cfg.video_token_id, cfg.motion_token_id]
    assert cfg.video_token_id == cfg.image_token_id + 1 and cfg.motion_token_id < cfg.text_config.vocab_size
    for word in (" high", " good", " fair", " poor", " low"):
        assert len(tok.encode(word, add_special_tokens=False)) == 1, word
    assert not loaded.model.training


def test_every_official_tensor_lands_in_the_renamed_parameter(loaded, tiny_model_dir):
    ours = loaded.model.state_dict()
    used = 0
    for key, tensor in _official_tensors(tiny_model_dir).items():
        if is_dropped(key):
            assert "multipathway_blocks.0" in key or "multipathway_fusion" in key
            continue
        target = to_ours(key)
        assert target in ours, f"{key} → {target}"
        assert torch.equal(ours[target].float(), tensor.float()), target
        used += 1
    assert used == len([k for k in ours if not k.endswith("num_batches_tracked")])


def test_round_trip_save_load_gives_identical_logits(loaded, tmp_path):
    inputs = _inputs(loaded.model.config)
    before = _logits(loaded.model, inputs)
    loaded.model.save_pretrained(tmp_path)
    loaded.tokenizer.save_pretrained(tmp_path)
    again = load_model(tmp_path, FP32)
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "vqa2_llava_onevision"
    assert torch.equal(before, _logits(again.model, inputs))
    assert again.tokenizer.convert_tokens_to_ids("<motion>") == loaded.model.config.motion_token_id


def test_our_own_key_names_load_too(loaded, tiny_model_dir, tmp_path):
    """A folder holding our module names (e.g. a training run saving its raw state dict) loads the same."""
    for name in (
        "config.json",
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
        "added_tokens.json",
        "special_tokens_map.json",
    ):
        shutil.copy(tiny_model_dir / name, tmp_path / name)
    state = {k: v.contiguous() for k, v in loaded.model.state_dict().items() if "num_batches" not in k}
    save_file(state, str(tmp_path / "model.safetensors"))
    again = load_model(tmp_path, FP32)
    inputs = _inputs(loaded.model.config, seed=1)
    assert torch.equal(_logits(loaded.model, inputs), _logits(again.model, inputs))


def _copy_with(tiny_model_dir: Path, dest: Path, drop=(), add=None) -> Path:
    for item in tiny_model_dir.iterdir():
        if not item.name.endswith((".safetensors", ".index.json")):
            shutil.copy(item, dest / item.name)
    tensors = {k: v for k, v in _official_tensors(tiny_model_dir).items() if k not in drop}
    tensors.update(add or {})
    save_file(tensors, str(dest / "model.safetensors"))
    return dest


def test_missing_key_is_a_checkpoint_error_naming_it(tiny_model_dir, tmp_path):
    folder = _copy_with(tiny_model_dir, tmp_path, drop={"model.slowfast_projector.0.weight"})
    with pytest.raises(CheckpointError, match=r"missing key.*model\.motion_projector\.linear_1\.weight"):
        load_model(folder, Settings())


def test_unexpected_key_is_a_checkpoint_error_naming_it(tiny_model_dir, tmp_path):
    folder = _copy_with(tiny_model_dir, tmp_path, add={"model.vision_resampler.weight": torch.zeros(3)})
    with pytest.raises(CheckpointError, match=r"unexpected key.*model\.vision_resampler\.weight"):
        load_model(folder, Settings())


def test_wrong_shape_is_a_checkpoint_error(tiny_model_dir, tmp_path):
    folder = _copy_with(tiny_model_dir, tmp_path, add={"model.image_newline": torch.zeros(7)})
    with pytest.raises(CheckpointError, match="image_newline"):
        load_model(folder, Settings())


def test_pickle_only_folder_is_refused(tiny_model_dir, tmp_path):
    shutil.copy(tiny_model_dir / "config.json", tmp_path / "config.json")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(CheckpointError, match="pickle files are never loaded"):
        load_model(tmp_path, Settings())


def test_foreign_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="model_type 'bert'"):
        load_model(tmp_path, Settings())


def test_missing_folder_and_bad_device(tiny_model_dir, tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope", Settings())
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA GPU"):
            load_model(tiny_model_dir, Settings().replace(runtime={"device": "cuda"}))


def test_explicit_dtype_is_applied(tiny_model_dir):
    got = load_model(tiny_model_dir, Settings().replace(runtime={"dtype": "bf16"}))
    assert got.dtype == torch.bfloat16
    assert {p.dtype for p in got.model.parameters()} == {torch.bfloat16}
    logits = _logits(got.model, _inputs(got.model.config))
    assert torch.isfinite(logits).all()


def test_split_fair_fixture_for_refusal_tests(tmp_path):
    from tiny_checkpoint import write_tiny_official_checkpoint
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(write_tiny_official_checkpoint(tmp_path, split_fair=True)))
    assert len(tok.encode(" fair", add_special_tokens=False)) > 1
    assert all(len(tok.encode(w, add_special_tokens=False)) == 1 for w in (" high", " good", " poor", " low"))


def test_truncated_or_missing_shard_is_a_checkpoint_error(tiny_model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    first = sorted(broken.glob("model-*.safetensors"))[0]
    first.write_bytes(first.read_bytes()[:4096])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_model(broken, Settings())
    gone = tmp_path / "gone"
    shutil.copytree(tiny_model_dir, gone)
    sorted(gone.glob("model-*.safetensors"))[-1].unlink()
    with pytest.raises(CheckpointError, match=str(gone)):
        load_model(gone, Settings())


@pytest.mark.parametrize(
    "drop,named",
    [
        (("vocab.json",), "vocab.json"),
        (("merges.txt",), "merges.txt"),
        (("vocab.json", "merges.txt"), "vocab.json, merges.txt"),
        (
            (
                "vocab.json",
                "merges.txt",
                "tokenizer_config.json",
                "added_tokens.json",
                "special_tokens_map.json",
            ),
            "vocab.json, merges.txt",
        ),
    ],
)
def test_missing_tokenizer_files_are_named(tiny_model_dir, tmp_path, drop, named):
    """The real cause (which tokenizer files are missing), not a placeholder-id mismatch; before the weights load."""
    folder = _copy_with(tiny_model_dir, tmp_path)
    for name in drop:
        (folder / name).unlink()
    with pytest.raises(CheckpointError, match=rf"tokenizer files missing or empty: {named} \(") as info:
        load_model(folder, Settings())
    assert "placeholder" not in str(info.value)


def test_empty_or_folder_tokenizer_file_counts_as_missing(tiny_model_dir, tmp_path):
    folder = _copy_with(tiny_model_dir, tmp_path)
    (folder / "merges.txt").write_bytes(b"")
    (folder / "vocab.json").unlink()
    (folder / "vocab.json").mkdir()
    with pytest.raises(CheckpointError, match="missing or empty: vocab.json, merges.txt"):
        load_model(folder, Settings())


def test_tokenizer_json_alone_is_enough(loaded, tiny_model_dir, tmp_path):
    from vqa2cli.modeling.loading import check_tokenizer_files

    loaded.tokenizer.save_pretrained(tmp_path)  # writes tokenizer.json
    for name in ("vocab.json", "merges.txt"):
        (tmp_path / name).unlink(missing_ok=True)
    assert (tmp_path / "tokenizer.json").is_file()
    check_tokenizer_files(tmp_path)  # no error
