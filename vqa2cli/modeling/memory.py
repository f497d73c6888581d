"""Peak accelerator memory of one model call: the ``peak_gpu_mem_gb`` of every record.

Measured with ``torch.cuda.max_memory_allocated`` (tensors the caching allocator handed out, not the
reserved pool nvidia-smi shows). Other devices are not measured: ``None``, never a guess.
"""

from __future__ import annotations


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
