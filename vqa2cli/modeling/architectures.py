"""Sizes and memory verdicts before any download: a card's ``[checkpoint]`` section (``models/*.toml``:
``architecture``, ``parameters``, ``size_bytes``, ``dtype``) and the architectures it may name.

An architecture is the official ``llava_qwen`` config.json of the published weights (spec §1: Qwen2-7B text
model, SigLIP-so400m with 26 layers, SlowFast-R50's fast pathway; the fields that differ from a tiny test
checkpoint's). :func:`declared_specs` builds our model from it on PyTorch's ``meta`` device (shapes only, no
memory, about 1 s) and lists the tensors a load reads, in the dtype the card declares: the same
:class:`~vqa2cli.modeling.memory.TensorSpec` list the preflight reads from shard headers once the weights
are local. The verdict then comes from the one estimator (modeling/memory.py, modeling/precision.py).
No network, no weights: ``vqa2 doctor`` and the memory preflight of a model not yet downloaded use it.
"""

from __future__ import annotations

import functools
from typing import Any

# Official llava_qwen config.json of the 7B VQA² checkpoints (spec §1, read in QS|QI|FT/config.json).
LLAVA_OV_QWEN2_7B = {
    "model_type": "llava_qwen",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
    "hidden_act": "silu",
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
    "mm_hidden_size": 1152,
    "image_token_index": 151646,
}
ARCHITECTURES: dict[str, dict[str, Any]] = {"llava-onevision-qwen2-7b+slowfast-r50": LLAVA_OV_QWEN2_7B}
SAFETENSORS_NAME = {"bf16": "BF16", "fp16": "F16", "fp32": "F32"}


def declared(card) -> dict[str, Any] | None:
    """The card's ``[checkpoint]`` section when it names a known architecture, else None."""
    checkpoint = getattr(card, "checkpoint", None) or {}
    return checkpoint if checkpoint.get("architecture") in ARCHITECTURES else None


@functools.lru_cache(maxsize=4)
def _shapes(architecture: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    import torch

    from .configuration_vqa2 import config_from_official
    from .modeling_vqa2 import Vqa2ForConditionalGeneration

    with torch.device("meta"):
        model = Vqa2ForConditionalGeneration(config_from_official(ARCHITECTURES[architecture]))
    return tuple(
        (k, tuple(v.shape)) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    )


def declared_specs(card) -> list:
    """The tensors a load of ``card``'s published weights reads (our key names, the card's dtype), without
    the weights. Raises KeyError when the card declares no known architecture."""
    from .memory import TensorSpec

    checkpoint = declared(card)
    if checkpoint is None:
        raise KeyError(
            f"model card {getattr(card, 'name', card)!r} declares no known [checkpoint] architecture"
        )
    dtype = SAFETENSORS_NAME[checkpoint.get("dtype", "bf16")]
    return [TensorSpec(name, shape, dtype) for name, shape in _shapes(checkpoint["architecture"])]


def declared_config(card, settings):
    """The :class:`~vqa2cli.modeling.configuration_vqa2.Vqa2Config` of ``card``'s architecture, with the
    attention implementation of ``settings`` (as ``loading.read_config`` gives for local weights)."""
    from .configuration_vqa2 import config_from_official

    return config_from_official(
        ARCHITECTURES[declared(card)["architecture"]], attn_implementation=settings.model.attn_implementation
    )


def declared_verdict(card, settings, device) -> dict[str, Any]:
    """``vqa2 doctor``'s verdict for weights not downloaded: :func:`precision.preflight_verdict` on the
    declared shapes, marked ``"source": "card"``."""
    from .precision import preflight_verdict

    verdict = preflight_verdict(declared_specs(card), declared_config(card, settings), settings, device)
    return {**verdict, "source": "card"}


def preflight_before_download(ref, settings, clips=None) -> None:
    """The memory preflight of a Hub model that is not in the cache yet, from its card's declared shapes:
    raises :class:`~vqa2cli.errors.ModelRuntimeError` (exit 4) naming what would fit BEFORE a 16 GB download.
    Does nothing for a local folder, cached weights, a repo other than the card's, or a card without a
    declared architecture (the preflight then runs on the shard headers after the download, as before)."""
    from .hub import cached_folder
    from .loading import resolve_device
    from .precision import plan_memory

    card = ref.card
    if ref.local_dir is not None or card is None or declared(card) is None or ref.repo != card.repo:
        return
    if cached_folder(ref) is not None:
        return
    device = resolve_device(settings.runtime.device)
    plan_memory(
        declared_specs(card),
        declared_config(card, settings),
        settings,
        device,
        clips=clips,
        source=f"{ref.repo} (not downloaded; sizes from the card {card.name})",
    )
