"""Quantization and dtype chosen together from the memory preflight (``--quant auto``, ``--dtype auto``).

Rules (docs/models.md "Memory and precision"):

* CUDA / MPS: ``dtype auto`` = fp16, the official inference precision (spec §3).
* CPU: ``dtype auto`` = bf16 where the CPU computes bf16 natively (AVX512-BF16/AMX, as oneDNN reports);
  elsewhere fp32 when it fits, bf16 (the published shards' dtype: no copy, no conversion) when it does not.
  Measured on this project's AVX2 machine: a bf16 matmul costs 6.3x the CPU time of fp32 (benchmarks/cpu_dtype.py).
* Quantized loads read the weights in the checkpoint's half dtype (bf16) and quantize from it: nothing is
  upcast to fp32 before quantization. The unquantized parts (vision tower, projectors, lm_head, SlowFast)
  stay in that half dtype unless ``--dtype fp32`` is asked for (then they are upcast after loading). The
  4-bit compute dtype is that half dtype, or fp32 on CPUs without native bf16 (5x less CPU time); 8-bit
  (LLM.int8()) has none: int8 products from inputs cast to fp16 (:func:`compute_label`).
* ``quant auto`` tries none, then 8bit, then 4bit (8/4-bit only where bitsandbytes works on the device) and
  takes the first whose estimate fits the available memory. Nothing fits, or an explicit choice does not
  fit: :class:`ModelRuntimeError` (exit 4) naming the estimate and the memory available (same decimals, enough
  to tell them apart), the options that would fit on that device, or, when none does, what would help there
  (RAM on the CPU, GPU memory on a GPU). ``VQA2_SKIP_MEMORY_CHECK=1`` loads anyway (for an estimate you know to be pessimistic).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from ..errors import ModelRuntimeError, QuantizationUnavailableError
from .memory import (
    GB,
    REFERENCE_CLIP,
    MemoryEstimate,
    available_memory,
    clip_tokens,
    estimate_memory,
    stored_dtype,
)

SKIP_CHECK_ENV = "VQA2_SKIP_MEMORY_CHECK"
AUTO_ORDER = ("none", "8bit", "4bit")


@dataclass(frozen=True)
class Precision:
    """How the weights are held: ``dtype`` of unquantized modules (and inputs), ``load_dtype`` passed to
    ``from_pretrained``, ``compute_dtype`` of the 4-bit layers (``bnb_4bit_compute_dtype``; 8-bit layers take
    none: :func:`compute_label` says what they compute in)."""

    quant: str
    dtype: str
    load_dtype: str
    compute_dtype: str

    @property
    def flags(self) -> str:
        return f"--quant {self.quant} --dtype {self.dtype}"


@dataclass(frozen=True)
class MemoryPlan:
    """The precision picked, its estimate, and what was available (None: could not be measured)."""

    precision: Precision
    estimate: MemoryEstimate
    available: int | None
    what: str  # "RAM" or "GPU memory"
    tokens: int  # the clip token count the activations were sized for
    note: str  # one line for stderr


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN's check: AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def candidates(device_type: str, dtype: str, quant: str, stored: str) -> list[Precision]:
    """The precisions to try, in order of preference, for the requested ``dtype``/``quant`` (``auto`` or explicit)."""
    quants = AUTO_ORDER if quant == "auto" else (quant,)
    if device_type == "mps":
        quants = tuple(q for q in quants if q == "none") or quants  # bitsandbytes has no MPS backend
    native_half = device_type != "cpu" or cpu_has_bf16()
    if dtype != "auto":
        plain = [dtype]
    elif device_type != "cpu":
        plain = ["fp16"]
    else:
        plain = ["bf16"] if native_half else ["fp32", "bf16"]
    out: list[Precision] = []
    for q in quants:
        if q == "none":
            out += [Precision("none", d, d, d) for d in plain]
            continue
        half = (
            dtype
            if dtype in ("bf16", "fp16")
            else ("fp16" if device_type != "cpu" else (stored if stored in ("bf16", "fp16") else "bf16"))
        )
        compute = "fp32" if dtype == "fp32" or not native_half else half
        out.append(Precision(q, "fp32" if dtype == "fp32" else half, half, compute))
    return out


def _bnb_works(device_type: str) -> bool:
    from .quantization import check_bitsandbytes

    try:
        check_bitsandbytes("4bit", device_type)
    except QuantizationUnavailableError:
        return False
    return True


def plan_memory(
    specs, config, settings, device, *, clips: list[tuple[int, float]] | None = None, source: str = ""
) -> MemoryPlan:
    """Pick the precision for ``settings.runtime`` (``auto`` or explicit) that fits ``device``.

    ``clips``: ``(n_frames, avg_fps)`` of the inputs (the one with the most tokens sizes the activations);
    None = a 10-second 30 fps clip. Raises :class:`ModelRuntimeError` when the choice cannot fit.
    """
    runtime = settings.runtime
    clip = max(clips or [REFERENCE_CLIP], key=lambda c: clip_tokens(config, settings, c)[2])
    tokens = clip_tokens(config, settings, clip)[2]
    stored = stored_dtype(specs)
    available, what = available_memory(device)
    name = str(device)

    def estimate(p: Precision) -> MemoryEstimate:
        return estimate_memory(
            specs,
            config,
            settings,
            device_type=device.type,
            device_name=name,
            quant=p.quant,
            dtype=p.dtype,
            load_dtype=p.load_dtype,
            clip=clip,
        )

    tried = [(p, estimate(p)) for p in candidates(device.type, runtime.dtype, runtime.quant, stored)]
    bnb = functools.cache(lambda: _bnb_works(device.type))
    for p, est in tried:
        if runtime.quant == "auto" and p.quant != "none" and not bnb():
            continue  # auto never picks what cannot run; an explicit --quant reports why it cannot
        if available is None or est.total <= available:
            return MemoryPlan(p, est, available, what, tokens, _note(p, est, available, what, runtime))
    p, est = tried[0]
    if os.environ.get(SKIP_CHECK_ENV, "") not in ("", "0"):
        return MemoryPlan(
            p,
            est,
            available,
            what,
            tokens,
            _note(p, est, available, what, runtime) + f" — does not fit, loading anyway ({SKIP_CHECK_ENV})",
        )
    raise _refusal(
        p,
        est,
        available,
        what,
        tokens,
        device.type,
        source,
        [
            (q, estimate(q))
            for q in candidates(device.type, "auto", "auto", stored) + _fp32_options(device.type)
        ],
        bnb(),
    )


def _refusal(
    p: Precision,
    est: MemoryEstimate,
    available: int,
    what: str,
    tokens: int,
    device_type: str,
    source: str,
    others: list[tuple[Precision, MemoryEstimate]],
    bnb: bool,
) -> ModelRuntimeError:
    """The one-line refusal: the estimate and the memory available in the same number of decimals (enough to
    tell them apart), then the options that fit on this device, or what to do when none does (RAM on the
    CPU, GPU memory on an accelerator)."""
    need, have = gb_figures(est.total, available)
    fits = [
        f"{q.flags} ({e.total_gb:g} GB)"
        for q, e in others
        if e.total <= available and (q.quant == "none" or bnb)
    ]
    if fits:
        fix = f"options that fit: {'; '.join(dict.fromkeys(fits))}"
    else:
        quantized = sorted({q.quant for q, e in others if q.quant != "none" and e.total <= available})
        unusable = (
            f"--quant {'/'.join(quantized)} would fit but bitsandbytes does not work on {device_type}; "
            if quantized
            else ""
        )
        fix = f"nothing fits: {unusable}{NOTHING_FITS.get(device_type, NOTHING_FITS['cuda'])}"
    where = f"{source}: " if source else ""
    return ModelRuntimeError(
        f"{where}the model does not fit: {p.flags} needs about {need} GB of {what} for a {tokens}-token clip, "
        f"{have} GB available",
        f"{fix}; {SKIP_CHECK_ENV}=1 loads anyway",
    )


NOTHING_FITS = {  # what frees or saves memory where nothing fits, per device type
    "cpu": "free RAM (close other programs), lower --max-motion-frames, or run on a GPU (--device cuda)",
    "cuda": "free GPU memory (other processes on the GPU), use a GPU with more memory, or lower "
    "--max-motion-frames",
    "mps": "free memory (close other programs), lower --max-motion-frames, or run on the CPU (--device cpu)",
}


def gb_figures(*sizes: int) -> list[str]:
    """Byte counts as GB with one shared number of decimals: the fewest (at least 2, at most 6) that show
    different sizes as different figures and no non-zero size as 0 (``0.33`` / ``0.30``, not ``0.3`` /
    ``0.3``; ``0.327`` / ``0.325`` when two decimals would print the same figure)."""
    for decimals in range(2, 7):
        shown = [f"{size / GB:.{decimals}f}" for size in sizes]
        distinct = len(set(shown)) == len(set(sizes))
        if distinct and all(size == 0 or float(text) > 0 for size, text in zip(sizes, shown)):
            break
    return shown


def _fp32_options(device_type: str) -> list[Precision]:
    return [Precision("none", "fp32", "fp32", "fp32")] if device_type == "cpu" else []


def compute_label(p: Precision) -> str:
    """What the quantized Linear layers really compute in, for the load line.

    4-bit: ``bnb_4bit_compute_dtype`` (:attr:`Precision.compute_dtype`). 8-bit (LLM.int8()) takes no compute
    dtype: bitsandbytes' ``MatMul8bitLt`` casts its inputs to fp16 whatever their dtype, quantizes them to int8,
    multiplies int8 x int8 (int32 sums), and computes the outlier columns (|x| > 6) and the dequantized output
    in the inputs' dtype (``p.dtype``) (bitsandbytes 0.48 ``autograd/_functions.py``, ``backends/default/ops.py``)."""
    if p.quant == "8bit":
        return f"compute int8 (inputs cast to fp16; outliers and output {p.dtype})"
    return f"compute {p.compute_dtype}"


def _note(p: Precision, est: MemoryEstimate, available: int | None, what: str, runtime) -> str:
    picked = [
        f"quant {p.quant}" + (" (auto)" if runtime.quant == "auto" else ""),
        f"dtype {p.dtype}" + (" (auto)" if runtime.dtype == "auto" else ""),
    ]
    if p.quant != "none":
        picked.append(compute_label(p))
    need, have = gb_figures(est.total, available) if available is not None else (f"{est.total_gb:g}", None)
    have = f"{have} GB" if have is not None else "unknown"
    return f"{', '.join(picked)}: estimated {need} GB of {what} on {est.device}, {have} available"


VERDICTS = {"none": "fits", "8bit": "fits with 8-bit", "4bit": "fits with 4-bit"}


def preflight_verdict(specs, config, settings, device) -> dict:
    """For ``vqa2 doctor``: the smallest estimate per quant (dtype auto) on ``device`` and the verdict
    ``fits`` / ``fits with 8-bit`` / ``fits with 4-bit`` / ``does not fit`` (``bitsandbytes unusable`` noted),
    with ``precision`` the flags picked (``--quant 8bit --dtype bf16``; None when nothing fits)."""
    clip = REFERENCE_CLIP
    tokens = clip_tokens(config, settings, clip)[2]
    available, what = available_memory(device)
    bnb = _bnb_works(device.type) if device.type != "mps" else False
    estimates: dict[str, float] = {}
    verdict, precision = "does not fit", None
    for p in candidates(device.type, "auto", "auto", stored_dtype(specs)):
        est = estimate_memory(
            specs,
            config,
            settings,
            device_type=device.type,
            device_name=str(device),
            quant=p.quant,
            dtype=p.dtype,
            load_dtype=p.load_dtype,
            clip=clip,
        )
        fits = available is None or est.total <= available
        estimates[p.quant] = min(estimates.get(p.quant, est.total_gb), est.total_gb)
        if fits and verdict == "does not fit" and (p.quant == "none" or bnb):
            verdict, precision = VERDICTS[p.quant], p.flags
    return {
        "device": str(device),
        "memory": what,
        "available_gb": None if available is None else round(available / GB, 2),
        "tokens": tokens,
        "estimates_gb": estimates,
        "bitsandbytes": bnb,
        "verdict": verdict,
        "precision": precision,
    }  # the flags `--quant auto --dtype auto` would pick; None: nothing fits
