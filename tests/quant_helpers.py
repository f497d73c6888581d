"""Test helper: which Linear layers bitsandbytes replaced (the product never needs to ask)."""

from __future__ import annotations


def quantized_linear_names(model) -> dict[str, str]:
    """``{module path: class name}`` of every bitsandbytes Linear in ``model``."""
    return {
        name: type(mod).__name__
        for name, mod in model.named_modules()
        if type(mod).__name__ in ("Linear4bit", "Linear8bitLt")
    }
