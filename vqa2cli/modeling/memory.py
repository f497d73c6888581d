"""Memory: the preflight (what a checkpoint will take on a device, computed before any weight is read),
anonymous RSS, and the peak CUDA memory of a model call.

The estimate reads only each shard's safetensors *header* (the 8-byte length and the JSON table of
names, dtypes and shapes at the start of the file; the format is documented at
https://huggingface.co/docs/safetensors), never the tensor data. From those shapes, the chosen
quantization/dtype and the clip's token count it adds up, in bytes:

* ``weights_anon``: parameters that are converted or quantized while loading (anonymous memory / VRAM).
  bitsandbytes NF4 with double quantization holds 0.5 byte per weight + one uint8 absmax per 64-weight
  block + one fp32 absmax per 256 blocks; LLM.int8() holds 1 byte per weight + one fp32 scale per row.
  Only the language model's Linear weights are quantized (``quantization.SKIP_MODULES``).
* ``weights_mapped``: on the CPU, tensors whose stored dtype already is the load dtype stay memory-mapped
  from the shard files (file-backed page cache, not anonymous memory) but must still be resident to run.
* ``activations``: one scoring forward at the clip's token count: eager attention's
  ``heads x T^2`` score matrix (in the compute dtype plus its fp32 softmax), the MLP's ``T x intermediate``
  tensors, the KV cache, SigLIP's per-key-frame activations and SlowFast's fast-pathway feature maps.
* ``overhead``: a fixed margin for the allocator and the framework's work buffers (:data:`OVERHEAD_BYTES`).

Available memory: ``psutil.virtual_memory().available`` (capped by a cgroup ``memory.max``) for the CPU,
``torch.cuda.mem_get_info`` for CUDA. Test/debug hooks: ``VQA2_FAKE_AVAILABLE_MEMORY_GB`` replaces the
measured figure; ``VQA2_SKIP_MEMORY_CHECK=1`` loads whatever the estimate says (see ``precision``).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError

GB = 1e9
FAKE_AVAILABLE_ENV = "VQA2_FAKE_AVAILABLE_MEMORY_GB"
OVERHEAD_BYTES = 300_000_000  # allocator slack, framework work buffers, logits: measured 0.1-0.25 GB here
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header
SAFETENSORS_BYTES = {
    "F64": 8,
    "F32": 4,
    "BF16": 2,
    "F16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "U16": 2,
    "U32": 4,
    "U64": 8,
}
SAFETENSORS_DTYPE = {"BF16": "bf16", "F16": "fp16", "F32": "fp32"}
DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
NF4_BLOCK, NF4_NESTED_BLOCK = 64, 256  # bitsandbytes' 4-bit blocksize and its double-quantization blocksize
# Quantized weights that a load from the quantized-weights cache (quant_cache.py) leaves memory-mapped on the
# CPU: bitsandbytes keeps pre-quantized int8 and packed 4-bit tensors as loaded (views of the file; checked by
# data pointer against /proc/self/maps, tests/test_quant_cache.py). bitsandbytes' CPU 4-bit kernel repacks
# each weight into new (anonymous) memory at its first forward, so from the first clip on a cached 4-bit model
# holds them as a fresh one does: the total is the same, only the split moves.
MAPPED_WHEN_CACHED = ("8bit", "4bit")
REFERENCE_CLIP = (300, 30.0)  # (n_frames, avg_fps): a 10-second 30 fps clip, used when no clip is known


@dataclass(frozen=True)
class TensorSpec:
    """One tensor as a shard header describes it: checkpoint key, shape, safetensors dtype (``BF16``...)."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a model needs on its device (see the module docstring for each part)."""

    device: str  # "cpu", "cuda:0", "mps"
    quant: str
    dtype: str  # of the unquantized modules
    weights_anon: int
    weights_mapped: int
    activations: int
    overhead: int = OVERHEAD_BYTES

    @property
    def total(self) -> int:
        return self.weights_anon + self.weights_mapped + self.activations + self.overhead

    @property
    def total_gb(self) -> float:
        return round(self.total / GB, 2)


def shard_files(folder: Path) -> list[Path]:
    """The shards named by ``model.safetensors.index.json`` (or every ``*.safetensors`` without an index)."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, AttributeError) as exc:
            raise CheckpointError(
                f"{index}: unreadable safetensors index: {exc}".splitlines()[0],
                "re-download the checkpoint (vqa2 models pull NAME)",
            ) from exc
        return [folder / n for n in names]
    return sorted(folder.glob("*.safetensors"))


def read_header(path: Path) -> dict:
    """The JSON header of one .safetensors file (reads its first 8 + N bytes only)."""
    fix = "re-download the checkpoint (vqa2 models pull NAME)"
    try:
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > MAX_HEADER_BYTES:
                raise ValueError(f"header length {size} is not plausible")
            raw = fh.read(size)
        if len(raw) != size:
            raise ValueError("file ends inside the header")
        return json.loads(raw)
    except FileNotFoundError as exc:
        raise CheckpointError(f"{path}: shard named in the index is missing", fix) from exc
    except (OSError, ValueError, struct.error) as exc:
        raise CheckpointError(
            f"{path}: corrupt or truncated .safetensors file: {exc}".splitlines()[0], fix
        ) from exc


def read_tensor_specs(folder: Path) -> list[TensorSpec]:
    """Every tensor of the checkpoint in ``folder`` (names, shapes, dtypes) from the shard headers alone."""
    specs: list[TensorSpec] = []
    for shard in shard_files(folder):
        for name, meta in read_header(shard).items():
            if name != "__metadata__":
                specs.append(TensorSpec(name, tuple(int(d) for d in meta["shape"]), str(meta["dtype"])))
    return specs


def stored_dtype(specs: list[TensorSpec]) -> str:
    """The floating dtype holding most of the checkpoint's bytes: ``bf16``, ``fp16`` or ``fp32``."""
    totals: dict[str, int] = {}
    for s in specs:
        if s.dtype in SAFETENSORS_DTYPE:
            totals[s.dtype] = totals.get(s.dtype, 0) + s.numel
    return SAFETENSORS_DTYPE[max(totals, key=totals.get)] if totals else "fp32"


def is_quantized(name: str, shape: tuple[int, ...], quant: str) -> bool:
    """Whether bitsandbytes quantizes this tensor (``name`` in our module layout): LM Linear weights only."""
    from .quantization import SKIP_MODULES

    if quant == "none" or len(shape) != 2 or not name.endswith(".weight") or "embed_tokens" in name:
        return False
    return not any(name == p or name.startswith(p + ".") for p in SKIP_MODULES)


def quantized_bytes(shape: tuple[int, ...], quant: str) -> int:
    """Bytes bitsandbytes holds for one quantized ``(out, in)`` weight."""
    numel = math.prod(shape)
    if quant == "4bit":
        blocks = math.ceil(numel / NF4_BLOCK)
        return math.ceil(numel / 2) + blocks + 4 * math.ceil(blocks / NF4_NESTED_BLOCK)
    return numel + 4 * shape[0]  # 8bit: int8 weight + fp32 row scales (SCB)


def weight_bytes(
    specs: list[TensorSpec], quant: str, dtype: str, load_dtype: str, device_type: str
) -> tuple[int, int]:
    """(anonymous, memory-mapped) bytes of the loaded weights. Dropped official keys are not loaded."""
    from .checkpoint_keys import is_dropped, to_ours

    anon = mapped = 0
    for spec in specs:
        if is_dropped(spec.name) or spec.name.endswith("num_batches_tracked"):
            continue
        name = to_ours(spec.name)
        if is_quantized(name, spec.shape, quant):
            anon += quantized_bytes(spec.shape, quant)
            continue
        if spec.dtype not in SAFETENSORS_DTYPE:  # integer buffers keep their own dtype
            anon += spec.numel * SAFETENSORS_BYTES.get(spec.dtype, 4)
            continue
        size = spec.numel * DTYPE_BYTES[dtype]  # quantized loads upcast the unquantized parts after loading
        if device_type == "cpu" and SAFETENSORS_DTYPE[spec.dtype] == dtype == load_dtype:
            mapped += size  # kept as a view of the mmap'd shard
        else:
            anon += size
    return anon, mapped


def clip_tokens(config, settings, clip: tuple[int, float], text_tokens: int = 160) -> tuple[int, int, int]:
    """(key frames, motion frames, total tokens) of one clip ``(n_frames, avg_fps)``, planned as decoding will."""
    from ..video.planning import sampling_args
    from ..video.sampling import plan_sampling

    video = settings.video
    copies = 2 if settings.model.motion_layout == "duplicated" else 1
    args = {
        **sampling_args(video, token_budget=video.max_tokens - text_tokens, motion_copies=copies),
        "tokens_per_keyframe": config.tokens_per_keyframe,
        "policy": "stride",
    }  # every sampling setting
    plan = plan_sampling(max(1, int(clip[0])), float(clip[1]) if clip[1] and clip[1] > 0 else 30.0, **args)
    k, t = len(plan.keyframe_indices), len(plan.motion_indices)
    return k, t, min(video.max_tokens, config.keyframe_block_length(k) + t * copies + text_tokens)


def activation_bytes(
    config, keyframes: int, motion_frames: int, tokens: int, dtype: str, motion_size: int = 384
) -> int:
    """Peak bytes of one scoring forward (batch 1, ``logits_to_keep=1``): the largest stage plus the KV cache."""
    b = DTYPE_BYTES[dtype]
    text, vision = config.text_config, config.vision_config
    eager = getattr(config, "_attn_implementation", "eager") in (None, "eager")
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
    kv_cache = 2 * text.num_hidden_layers * tokens * text.num_key_value_heads * head_dim * b
    scores = text.num_attention_heads * tokens * tokens * (b + 4) if eager else 0  # + fp32 softmax
    lm_layer = tokens * (5 * text.hidden_size + 3 * text.intermediate_size) * b + scores
    patches = (vision.image_size // vision.patch_size) ** 2
    v_scores = vision.num_attention_heads * patches * patches * (b + 4) if eager else 0
    siglip = keyframes * (patches * (5 * vision.hidden_size + 2 * vision.intermediate_size) * b + v_scores)
    from .motion_encoder import chunk_input_frames  # the fast pathway runs one temporal chunk at a time

    chunk = chunk_input_frames(motion_frames, config.motion_stage_depths)
    fast = chunk * 4 * config.motion_stem_dim * (motion_size // 4) ** 2 * 3 * b  # res2 maps, 3 alive
    embeds = tokens * text.hidden_size * b * 3  # inputs_embeds, spliced copy, residual
    return kv_cache + embeds + max(lm_layer, siglip, fast)


def cached_split(specs: list[TensorSpec], estimate: MemoryEstimate, device_type: str) -> MemoryEstimate:
    """``estimate`` for a load from the quantized-weights cache: same total, with the quantized weights that
    stay memory-mapped (:data:`MAPPED_WHEN_CACHED`, CPU only) moved from anonymous to mapped."""
    from dataclasses import replace

    from .checkpoint_keys import is_dropped, to_ours

    if device_type != "cpu" or estimate.quant not in MAPPED_WHEN_CACHED:
        return estimate
    q = sum(
        quantized_bytes(s.shape, estimate.quant)
        for s in specs
        if not is_dropped(s.name) and is_quantized(to_ours(s.name), s.shape, estimate.quant)
    )
    return replace(
        estimate, weights_anon=estimate.weights_anon - q, weights_mapped=estimate.weights_mapped + q
    )


def estimate_memory(
    specs: list[TensorSpec],
    config,
    settings,
    *,
    device_type: str,
    device_name: str,
    quant: str,
    dtype: str,
    load_dtype: str,
    clip: tuple[int, float] = REFERENCE_CLIP,
) -> MemoryEstimate:
    """The :class:`MemoryEstimate` of loading ``specs`` with this quant/dtype and scoring ``clip``."""
    anon, mapped = weight_bytes(specs, quant, dtype, load_dtype, device_type)
    k, t, tokens = clip_tokens(config, settings, clip)
    compute = load_dtype if quant != "none" else dtype
    act = activation_bytes(config, k, t, tokens, compute, settings.video.motion_size)
    return MemoryEstimate(device_name, quant, dtype, anon, mapped, act)


CGROUP_FILES = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),  # cgroup v2
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
)  # v1


def _cgroup_available() -> int | None:
    """Bytes the container's cgroup still allows (limit less usage), None without a limit (or off Linux)."""
    for limit_file, used_file in CGROUP_FILES:
        try:
            limit = Path(limit_file).read_text().strip()
            used = int(Path(used_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit == "max" or not limit.isdigit() or int(limit) >= 1 << 60:  # v1 writes a huge number for none
            return None
        return max(0, int(limit) - used)
    return None


def system_ram() -> tuple[int | None, int | None]:
    """(available, total) RAM in bytes from ``psutil.virtual_memory()`` (Linux, macOS, Windows: so CPU and
    MPS users get a verdict everywhere), the available part capped by a cgroup limit (a container's
    ``memory.max``). ``(None, None)`` when it cannot be measured."""
    try:
        import psutil

        memory = psutil.virtual_memory()
        avail, total = int(memory.available), int(memory.total)
    except (ImportError, OSError, RuntimeError):  # psutil is a dependency; a broken install gives no verdict
        return None, None
    cgroup = _cgroup_available()
    if cgroup is not None:
        avail = min(avail, cgroup)
    return avail, total


def available_memory(device) -> tuple[int | None, str]:
    """(bytes available, what it is: "RAM" / "GPU memory") on ``device``; None when it cannot be measured."""
    fake = os.environ.get(FAKE_AVAILABLE_ENV)
    what = "GPU memory" if device.type == "cuda" else "RAM"
    if fake:
        try:
            return int(float(fake) * GB), what
        except ValueError:
            from ..errors import UsageError

            raise UsageError(f"{FAKE_AVAILABLE_ENV}={fake!r} is not a number of GB") from None
    if device.type == "cuda":
        import torch

        free, _total = torch.cuda.mem_get_info(device)
        return int(free), what
    if device.type == "mps":
        import torch

        limit = getattr(torch.mps, "recommended_max_memory", None)
        if limit is not None:
            return int(limit() - torch.mps.driver_allocated_memory()), "GPU memory"
    return system_ram()[0], what


def anon_rss_bytes() -> int | None:
    """This process's anonymous resident memory (``RssAnon`` of /proc/self/status), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def release_freed_memory() -> None:
    """Hand the heap that loading freed back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Quantizing frees each half-precision weight after packing it; glibc keeps those freed chunks in the
    process heap, so without this the anonymous RSS after a 4/8-bit load stays up to 3x the model's size
    (measured on the 31 MB test checkpoint: 18.9 MB → 6.4 MB for 4-bit, 46.5 MB → 11.8 MB for 8-bit).
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        return


# Peak accelerator memory of one model call: the ``peak_gpu_mem_gb`` of every record. Measured with
# ``torch.cuda.max_memory_allocated`` (tensors the caching allocator handed out, not the reserved pool
# nvidia-smi shows). Other devices are not measured: ``None``, never a guess.


def _is_cuda(device) -> bool:
    import torch

    return getattr(device, "type", str(device)).startswith("cuda") and torch.cuda.is_available()


def reset_peak_memory(device) -> None:
    """Start a new peak measurement on ``device`` (a no-op off CUDA)."""
    import torch

    if _is_cuda(device):
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device) -> int | None:
    """Peak CUDA memory allocated on ``device`` since the last reset, in bytes (``None`` off CUDA)."""
    import torch

    if _is_cuda(device):
        return int(torch.cuda.max_memory_allocated(device))
    return None
