"""bitsandbytes 4/8-bit for the language model only.

Only the Qwen2 decoder's Linear layers are quantized. The vision tower, the SlowFast fast pathway, both
projectors and ``lm_head`` stay in the compute dtype (``llm_int8_skip_modules``): they are small, and the
scoring logits come straight out of ``lm_head``. The official loader quantizes every Linear and then
calls ``.half()``/``.to('cuda')`` on the bnb model, which transformers refuses (spec §10); this path
works on CUDA and, with bitsandbytes >= 0.45's CPU backend, on the CPU.

A missing or broken bitsandbytes is a :class:`QuantizationUnavailableError`, never a silent fallback.
"""

from __future__ import annotations

from typing import Any

from ..config import CHOICES
from ..errors import QuantizationUnavailableError

QUANT_CHOICES = CHOICES[("runtime", "quant")]  # auto: precision.plan_memory picks

# Module-name prefixes kept out of quantization (matched from the start of the module path).
SKIP_MODULES = [
    "lm_head",
    "model.vision_tower",
    "model.multi_modal_projector",
    "model.image_newline",
    "model.motion_extractor",
    "model.motion_projector",
]


def check_bitsandbytes(quant: str, device_type: str) -> None:
    """Import bitsandbytes and accelerate and run one tiny quantize op on ``device_type``; raise if broken."""
    fix = "install a working bitsandbytes (pip install 'bitsandbytes>=0.45' accelerate) or use --quant none"
    if device_type == "mps":
        raise QuantizationUnavailableError(
            f"--quant {quant} is not supported on Apple MPS by bitsandbytes",
            "use --device cpu or cuda, or --quant none",
        )
    try:
        import accelerate  # noqa: F401
    except Exception as exc:  # missing or broken install: report, never fall back
        raise QuantizationUnavailableError(
            f"--quant {quant} needs accelerate: {exc}".splitlines()[0], fix
        ) from exc
    try:
        import bitsandbytes as bnb
        import torch

        probe = torch.randn(64, 64, device=device_type, dtype=torch.float32)
        bnb.functional.quantize_4bit(probe, quant_type="nf4")
    except Exception as exc:  # import error, missing native library, no backend for this device
        raise QuantizationUnavailableError(
            f"--quant {quant} needs bitsandbytes on {device_type}: {type(exc).__name__}: {exc}".splitlines()[
                0
            ],
            fix,
        ) from exc


def bnb_config(quant: str, compute_dtype: Any):
    """transformers ``BitsAndBytesConfig``: NF4 + double quantization for 4-bit, LLM.int8() for 8-bit."""
    from transformers import BitsAndBytesConfig

    if quant == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
            llm_int8_skip_modules=list(SKIP_MODULES),
        )
    if quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=list(SKIP_MODULES))
    raise ValueError(f"quant must be 8bit or 4bit here, got {quant!r}")
