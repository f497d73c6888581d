"""Where a record's time goes: seconds per model stage, measured with forward hooks (no model code changed).

Stages (keys of a record's ``timing``, all wall seconds):

* ``pixels_s``: uint8 key frames → normalised float tensors on the model's device (``pixel_tensor``),
  measured by the caller around that call (the motion frames go to the model as uint8 and are converted
  inside the motion encoder, chunk by chunk: that time is in ``motion_s``);
* ``vision_s``: SigLIP (``vision_tower``) + the projector (``multi_modal_projector``) on the key frames;
* ``motion_s``: the SlowFast fast pathway (``motion_extractor``) + ``motion_projector`` on the dense frames;
* ``prefill_s``: language-model calls over more than one token (the prompt, or the rest of it after a
  reused KV-cache prefix);
* ``generate_s``: language-model calls over one token (each generated token after the first).

On CUDA each hook synchronises the device first, so kernels queued by one stage are not billed to the next
(this costs one sync per stage call; ``generate`` synchronises every step anyway).
"""

from __future__ import annotations

import time
from typing import Any

STAGE_KEYS = ("pixels_s", "vision_s", "motion_s", "prefill_s", "generate_s")
_HOOKED = {
    "vision_tower": "vision_s",
    "multi_modal_projector": "vision_s",
    "motion_extractor": "motion_s",
    "motion_projector": "motion_s",
    "language_model": "lm",
}


class StageTimer:
    """Context manager adding the seconds spent in each model stage while it is open.

    ``model`` is a ``Vqa2ForConditionalGeneration`` (its ``.model`` holds the stage modules). ``seconds``
    maps each of :data:`STAGE_KEYS` to seconds (0.0 for stages that did not run); ``add(key, s)`` adds
    time measured by the caller (``pixels_s``).
    """

    def __init__(self, model):
        self.base = model.model
        self.seconds: dict[str, float] = dict.fromkeys(STAGE_KEYS, 0.0)
        self._handles: list[Any] = []
        self._started: dict[int, tuple[float, str]] = {}
        self._cuda = next(model.parameters()).device.type == "cuda"

    def add(self, key: str, seconds: float) -> None:
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def __enter__(self) -> StageTimer:
        for name, key in _HOOKED.items():
            module = getattr(self.base, name, None)
            if module is None:
                continue
            self._handles.append(module.register_forward_pre_hook(self._pre(key), with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._post, with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _sync(self) -> None:
        if self._cuda:
            import torch

            torch.cuda.synchronize()

    def _pre(self, key: str):
        def hook(module, args, kwargs):
            if key == "lm":
                embeds = kwargs.get("inputs_embeds")
                if embeds is None and args:
                    embeds = args[0]
                tokens = embeds.shape[1] if embeds is not None and embeds.dim() >= 2 else 1
                key_now = "prefill_s" if tokens > 1 else "generate_s"
            else:
                key_now = key
            self._sync()
            self._started[id(module)] = (time.perf_counter(), key_now)

        return hook

    def _post(self, module, args, kwargs, output):
        started = self._started.pop(id(module), None)
        if started is not None:
            self._sync()
            self.add(started[1], time.perf_counter() - started[0])


def startup_timing(import_s: float, load_s: float) -> dict[str, float]:
    """The per-process costs put on a process's first record: ``import_s`` (torch, transformers and the
    model code, 0 if already imported) and ``load_s`` (reading the weights onto the device)."""
    return {"import_s": import_s, "load_s": load_s}


def format_timing(timing: dict[str, float]) -> str:
    """One stderr line for ``-v``: ``decode 0.41 s · pixels 0.02 s · vision 0.30 s · ...`` (non-zero only)."""
    order = ("import_s", "load_s", "decode_s", *STAGE_KEYS, "infer_s")
    names = [k for k in order if k in timing] + [k for k in timing if k not in order]
    parts = [f"{k[:-2]} {timing[k]:.3f} s" for k in names if timing[k] or k in ("decode_s", "infer_s")]
    return "timing: " + ", ".join(parts)
