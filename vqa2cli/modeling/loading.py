"""`load_model(local_dir, settings) → LoadedModel`: config, weights, dtype, device and bitsandbytes in ONE place.

One path for every folder: an official ``llava_qwen`` checkpoint (keys renamed while loading with
``checkpoint_keys.KEY_MAPPING``) and our own ``save_pretrained`` layout (``vqa2_llava_onevision``).
safetensors only (``use_safetensors=True``): pickled ``.bin`` files are never read, and remote code is
never trusted. The load report is checked: any missing/unexpected key outside the documented dropped
SlowFast slow-pathway/fusion keys is a :class:`CheckpointError`. 8/4-bit loads go through the
quantized-weights cache (``quant_cache.py``): quantized once, read back bit-identical on later loads.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import startup
from ..errors import CheckpointError, ModelRuntimeError, UsageError
from .checkpoint_keys import KEY_MAPPING, check_load_report
from .hf_logging import quiet_transformers as _quiet_transformers
from .quantization import bnb_config, check_bitsandbytes

PLACEHOLDER_TOKENS = ("<video>", "<motion>")  # spec §11: the ids right after <image>


@dataclass
class LoadedModel:
    model: Any  # Vqa2ForConditionalGeneration, in eval mode
    tokenizer: Any  # Qwen2Tokenizer with <video>/<motion> added
    device: Any  # torch.device
    dtype: Any  # torch.dtype of the unquantized modules (and the bnb compute dtype)
    quant: str  # none | 8bit | 4bit
    source: str  # Hub repo id, or the local folder
    revision: str  # commit SHA of a Hub snapshot, or "local"
    memory: Any = None  # precision.MemoryPlan: what the preflight estimated and picked
    quant_cache: str | None = None  # hit | written | failed | off (quant_cache.py); None: not quantized
    notes: tuple[str, ...] = ()  # lines for stderr about the load (the cache written, a stale entry rebuilt)


def resolve_device(name: str):
    """``auto`` → cuda, then mps, then cpu. An explicit device that is not there is a usage error."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", name):
        raise UsageError(f"unknown device '{name}'", "use auto, cpu, cuda, cuda:N or mps")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA GPU is available", "use --device cpu (or auto)")
    if name == "cuda":
        return torch.device("cuda", torch.cuda.current_device())  # an explicit index for device_map
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError("--device mps: Apple MPS is not available", "use --device cpu (or auto)")
    return torch.device(name)


def resolve_dtype(name: str, device):
    """A dtype name as a torch dtype. ``auto`` is resolved by ``precision.plan_memory``; here (where only
    the device is known) it means fp16 on CUDA/MPS (the official inference precision, spec §3), fp32 on the CPU."""
    import torch

    if name == "auto":
        return torch.float32 if device.type == "cpu" else torch.float16
    return _torch_dtype(name)  # the name was validated with the settings (config.CHOICES)


def read_config(local_dir: Path, attn_implementation: str | None = None):
    """The folder's config.json as a :class:`Vqa2Config` (official ``llava_qwen`` or our own layout)."""
    from .configuration_vqa2 import OFFICIAL_MODEL_TYPE, Vqa2Config, config_from_official

    path = Path(local_dir) / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{path}: config.json not found", "point --model at a VQA² checkpoint folder")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read config.json: {exc}") from exc
    model_type = raw.get("model_type")
    try:
        if model_type == OFFICIAL_MODEL_TYPE:
            config = config_from_official(raw)
        elif model_type == Vqa2Config.model_type:
            config = Vqa2Config.from_dict(raw)
        else:
            raise CheckpointError(
                f"{path}: model_type '{model_type}' is not a VQA² checkpoint",
                f"expected '{OFFICIAL_MODEL_TYPE}' (official) or '{Vqa2Config.model_type}' (vqa2 train output)",
            )
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: invalid config: {exc}".splitlines()[0]) from exc
    if attn_implementation:
        config._attn_implementation = attn_implementation
    return config


def _check_weight_files(local_dir: Path) -> None:
    if any(local_dir.glob("*.safetensors")):
        return
    pickled = sorted(p.name for p in local_dir.glob("*.bin")) + sorted(
        p.name for p in local_dir.glob("*.pt*")
    )
    hint = f" (found {', '.join(pickled[:3])}: pickle files are never loaded)" if pickled else ""
    raise CheckpointError(
        f"{local_dir}: no .safetensors weights{hint}",
        "download the safetensors checkpoint (vqa2 models pull NAME)",
    )


def _source_and_revision(local_dir: Path, settings) -> tuple[str, str]:
    """A Hub cache snapshot (``.../snapshots/<sha>``) reports its repo and commit; any other folder is local."""
    parts = local_dir.resolve().parts
    if len(parts) >= 2 and parts[-2] == "snapshots" and re.fullmatch(r"[0-9a-f]{40}", parts[-1]):
        return settings.model.repo, parts[-1]
    return str(local_dir), "local"


TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"))  # either set loads a Qwen2 tokenizer


def check_tokenizer_files(local_dir: Path) -> None:
    """CheckpointError naming the missing (or empty) tokenizer files, unless the folder holds ``tokenizer.json``
    or both ``vocab.json`` and ``merges.txt``. Without this check transformers builds an empty tokenizer and
    the failure surfaces later as mismatched placeholder ids."""

    def present(name: str) -> bool:
        path = Path(local_dir) / name
        return path.is_file() and path.stat().st_size > 0

    if any(all(present(n) for n in names) for names in TOKENIZER_FILES):
        return
    missing = [n for names in TOKENIZER_FILES[1:] for n in names if not present(n)]
    raise CheckpointError(
        f"{local_dir}: tokenizer files missing or empty: {', '.join(missing)} "
        "(a checkpoint needs vocab.json + merges.txt, or tokenizer.json)",
        "copy the checkpoint's tokenizer files into the folder or re-download it (vqa2 models pull NAME)",
    )


def load_tokenizer(local_dir: Path, config):
    """The folder's Qwen2 tokenizer, plus ``<video>``/``<motion>`` at the config's placeholder ids.
    Raises CheckpointError when the tokenizer files are missing (:func:`check_tokenizer_files`) or broken."""
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    check_tokenizer_files(local_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(local_dir), trust_remote_code=False)
    except Exception as exc:  # missing/corrupt tokenizer files: name the folder
        raise CheckpointError(
            f"{local_dir}: cannot load the tokenizer: {exc}".splitlines()[0],
            "the folder needs vocab.json + merges.txt or tokenizer.json",
        ) from exc
    vocab = tokenizer.get_vocab()
    missing = [t for t in PLACEHOLDER_TOKENS if t not in vocab]
    if missing:
        tokenizer.add_tokens(
            [AddedToken(t, special=True, normalized=False) for t in missing], special_tokens=True
        )
    want = {
        "<image>": config.image_token_id,
        "<video>": config.video_token_id,
        "<motion>": config.motion_token_id,
    }
    got = {t: tokenizer.convert_tokens_to_ids(t) for t in want}
    if got != want:
        raise CheckpointError(
            f"{local_dir}: tokenizer placeholder ids {got} do not match the config {want}",
            "the tokenizer files do not belong to this checkpoint",
        )
    return tokenizer


def _register_auto_classes() -> None:
    from transformers import AutoConfig

    from .configuration_vqa2 import Vqa2Config

    AutoConfig.register(Vqa2Config.model_type, Vqa2Config, exist_ok=True)


def _suppress_padding_rows(model) -> None:
    """Quirk (spec §9): the official builder calls ``resize_token_embeddings(len(tokenizer))`` = 151647, so the
    official model can never emit the 417 padding rows (151647..152063) of the 152064-row embedding/lm_head.
    We keep the rows (the <video>/<motion> placeholders live there) and suppress them in ``generate`` instead.
    Scoring reads the five level-word logits directly and is unaffected."""
    first, vocab = model.config.video_token_id, model.config.text_config.vocab_size
    if first < vocab:
        model.generation_config.suppress_tokens = list(range(first, vocab))


def _from_pretrained(local_dir: Path, kwargs: dict[str, Any]):
    """transformers' loader, with its failures turned into one-line errors that name the folder."""
    import torch
    from safetensors import SafetensorError

    from .modeling_vqa2 import Vqa2ForConditionalGeneration

    fix = "re-download the checkpoint (vqa2 models pull NAME)"
    try:
        with _quiet_transformers():  # its load report is replaced by check_load_report
            return Vqa2ForConditionalGeneration.from_pretrained(str(local_dir), **kwargs)
    except torch.OutOfMemoryError as exc:
        raise ModelRuntimeError(
            f"{local_dir}: out of memory while loading the model",
            "try --quant 4bit (or 8bit), a smaller --dtype, or --device cpu",
        ) from exc
    except SafetensorError as exc:
        raise CheckpointError(f"{local_dir}: corrupt or truncated .safetensors file: {exc}", fix) from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{local_dir}: cannot load the weights: {exc}".splitlines()[0], fix) from exc


def load_model(local_dir: Path, settings, *, clips: list[tuple[int, float]] | None = None) -> LoadedModel:
    """Load a VQA² checkpoint folder for inference, as ``settings.runtime`` asks (device, dtype, quant).

    Order: every cheap check (folder, config, weight files, tokenizer), then the memory preflight from the
    shard headers (``precision.plan_memory``; ``clips`` = the inputs' ``(n_frames, avg_fps)``, sizing the
    activations), and only then the weights. Raises :class:`CheckpointError`, :class:`UsageError`,
    :class:`QuantizationUnavailableError`, or :class:`ModelRuntimeError` when the model cannot fit.
    """
    from .memory import cached_split, read_tensor_specs, release_freed_memory
    from .precision import plan_memory

    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise CheckpointError(
            f"{local_dir}: model folder not found", "check --model or run vqa2 models pull NAME"
        )
    _register_auto_classes()
    runtime = settings.runtime
    device = resolve_device(
        runtime.device
    )  # dtype and quant were validated with the settings (config.CHOICES)
    config = read_config(local_dir, settings.model.attn_implementation)
    _check_weight_files(local_dir)
    check_tokenizer_files(local_dir)  # before the weights load: a missing file must not cost the load time
    with _quiet_transformers():
        tokenizer = load_tokenizer(local_dir, config)  # seconds, before minutes of weights
    specs = read_tensor_specs(local_dir)
    plan = plan_memory(specs, config, settings, device, clips=clips, source=str(local_dir))
    precision = plan.precision
    dtype, load_dtype = _torch_dtype(precision.dtype), _torch_dtype(precision.load_dtype)
    kwargs: dict[str, Any] = {
        "config": config,
        "dtype": load_dtype,
        "key_mapping": KEY_MAPPING,
        "use_safetensors": True,
        "trust_remote_code": False,
        "output_loading_info": True,
        "ignore_mismatched_sizes": True,  # reported back and turned into a CheckpointError naming the keys
    }
    cache_state, notes = None, []
    if precision.quant != "none":
        check_bitsandbytes(precision.quant, device.type)
        kwargs["device_map"] = {"": device}
        model, info, cache_state = _load_quantized(
            local_dir, kwargs, plan, device, runtime.quant_cache, notes
        )
        if cache_state == "hit":  # what stays memory-mapped differs from a fresh quantization
            plan = dataclasses.replace(plan, estimate=cached_split(specs, plan.estimate, device.type))
    else:
        if device.type == "cuda":
            kwargs["device_map"] = {"": device}
        model, info = _from_pretrained(local_dir, kwargs)
    check_load_report(
        str(local_dir),
        info.get("missing_keys", ()),
        info.get("unexpected_keys", ()),
        info.get("mismatched_keys", ()),
    )
    if precision.quant == "none" and device.type != "cuda":
        model = model.to(device)
    elif precision.quant != "none" and dtype != load_dtype:
        upcast_unquantized(model, dtype)
    model.eval()
    release_freed_memory()
    _suppress_padding_rows(model)
    source, revision = _source_and_revision(local_dir, settings)
    startup.resume()  # the loaded model ends the process start (vqa2cli/startup.py)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=dtype,
        quant=precision.quant,
        source=source,
        revision=revision,
        memory=plan,
        quant_cache=cache_state,
        notes=tuple(notes),
    )


def _load_quantized(local_dir: Path, kwargs: dict[str, Any], plan, device, use_cache: bool, notes: list[str]):
    """(model, load report, cache state): from the quantized-weights cache (``quant_cache.py``) when it holds
    this checkpoint + precision, else quantized from ``local_dir`` and written to the cache. A stale entry is
    rebuilt and an unwritable cache is the uncached load, each with a warning in ``notes``."""
    from . import quant_cache

    precision = plan.precision
    qconfig = bnb_config(precision.quant, _torch_dtype(precision.compute_dtype))
    fresh = {**kwargs, "quantization_config": qconfig}
    if not use_cache:
        return (*_from_pretrained(local_dir, fresh), "off")
    try:
        key, fields = quant_cache.cache_key(local_dir, qconfig.to_dict(), precision.load_dtype, device.type)
        entry = quant_cache.entry_dir(key)
        problem = quant_cache.check_entry(entry, key) if entry.is_dir() else "absent"
    except OSError as exc:
        notes.append(f"Warning: quantized-weights cache unusable ({exc}); quantizing without it")
        return (*_from_pretrained(local_dir, fresh), "failed")
    if problem is None:
        try:
            cached = {**kwargs, "config": read_config(entry, kwargs["config"]._attn_implementation)}
            model, info = _from_pretrained(entry, cached)
            check_load_report(
                str(entry),
                info.get("missing_keys", ()),
                info.get("unexpected_keys", ()),
                info.get("mismatched_keys", ()),
            )
            return model, info, "hit"
        except CheckpointError as exc:
            problem = f"unreadable: {exc.message}"
    if problem != "absent":
        notes.append(f"Warning: quantized-weights cache entry {entry} {problem}: rebuilding it")
        quant_cache.remove_entry(entry)
    model, info = _from_pretrained(local_dir, fresh)
    try:  # before any forward: see quant_cache's docstring
        notes.append(
            quant_cache.write_entry(
                model,
                key,
                fields,
                source=str(local_dir),
                quant=precision.quant,
                size_hint=plan.estimate.weights_anon + plan.estimate.weights_mapped,
            )
        )
        return model, info, "written"
    except Exception as exc:  # OSError (read-only, disk full, lock timeout) or a save_pretrained refusal
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        notes.append(
            f"Warning: cannot write the quantized-weights cache ({why.splitlines()[0]}); "
            "this load stays uncached"
        )
        return model, info, "failed"


def _torch_dtype(name: str):
    import torch

    from ..config import DTYPES

    return getattr(torch, DTYPES[name])


def upcast_unquantized(model, dtype) -> None:
    """Cast every floating parameter/buffer outside the bitsandbytes layers to ``dtype`` (``--dtype fp32
    --quant``): the decoder was quantized from the stored half precision, never from an fp32 copy."""
    for module in model.modules():
        if type(module).__name__ in ("Linear4bit", "Linear8bitLt"):
            continue
        for tensors in (module._parameters, module._buffers):
            for tensor in tensors.values():
                if tensor is not None and tensor.is_floating_point() and tensor.dtype != dtype:
                    tensor.data = tensor.data.to(dtype)
