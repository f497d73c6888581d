"""KV-cache reuse for several questions about one clip (``vqa2 ask``).

In every assistant prompt the question comes after both video blocks, so the tokens up to the end of the
last placeholder block (system turn, the prompt's opening text with the duration and frame counts, the key
frame block, the motion block(s)) are the same for every question: up to 99 % of the prompt (about 9,840 of
9,920 tokens on long clips). :func:`prefill_prefix` runs the model once over that prefix, with the pixel
tensors, SigLIP and SlowFast, and keeps transformers' KV cache; each question then starts ``generate`` from a
**copy** of that cache (``copy.deepcopy``, the recipe of transformers' cache documentation: generation
appends to the cache it is given, so the shared one is never handed out), with the full prompt ids, so only
the remaining text is prefilled and logits processors see the same ids as without the cache.

The prefix is taken only up to the end of the last block because the text after it is tokenised together
with the question (BPE may merge across the boundary); whether a cached prefix applies is decided by
comparing its ids with the new prompt's, never assumed.

Greedy answers are token-identical to the uncached path (tests/test_prefix_cache.py, both motion layouts);
the logits differ only by float rounding of attention split over two calls.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass
from typing import Any


@dataclass
class VideoPrefix:
    """A prefilled prompt prefix: ``ids`` (the prefix's token ids), ``cache`` (transformers ``Cache`` holding
    ``len(ids)`` positions; never mutated once built), built from the clip that ``clip_ref`` points to."""

    clip_ref: Any  # weakref.ref to the DecodedClip
    ids: tuple[int, ...]
    cache: Any

    def matches(self, clip, ids: list[int]) -> bool:
        """True when this prefix was built from ``clip`` (the same object) and ``ids`` start with it."""
        n = len(self.ids)
        return self.clip_ref() is clip and len(ids) > n and tuple(ids[:n]) == self.ids


def prefix_length(ids: list[int], config) -> int:
    """Tokens up to and including the last keyframe/motion placeholder id (0 when the prompt has none),
    kept below ``len(ids)`` so at least one token is left for ``generate`` to prefill."""
    placeholders = {config.video_token_id, config.motion_token_id}
    last = next((i for i in range(len(ids) - 1, -1, -1) if ids[i] in placeholders), -1)
    return min(last + 1, len(ids) - 1) if last >= 0 else 0


def prefill_prefix(model, kwargs: dict[str, Any], clip, n: int) -> VideoPrefix:
    """Run ``model`` over the first ``n`` prompt tokens with the pixel inputs in ``kwargs`` (as from
    ``ModelInputs.model_kwargs``); returns the cached prefix. Raises what the model forward raises."""
    import torch

    from ..modeling.modeling_vqa2 import CACHE_FIELD

    prefix = dict(
        kwargs, input_ids=kwargs["input_ids"][:, :n], attention_mask=kwargs["attention_mask"][:, :n]
    )
    with torch.inference_mode():
        out = model(**prefix, use_cache=True, logits_to_keep=1)
    cache = out[CACHE_FIELD]
    if cache is None or cache.get_seq_length() != n:
        raise RuntimeError(f"the model returned no KV cache of {n} positions for the prompt prefix")
    ids = tuple(int(t) for t in prefix["input_ids"][0].tolist())
    return VideoPrefix(weakref.ref(clip), ids, cache)


def continue_kwargs(prefix: VideoPrefix, ids: list[int], device) -> dict[str, Any]:
    """``generate`` keyword arguments for the full prompt ``ids`` starting from a copy of ``prefix.cache``
    (no pixel inputs: the prefix already holds the video)."""
    import torch

    from ..modeling.modeling_vqa2 import CACHE_FIELD

    return {
        "input_ids": torch.tensor([ids], dtype=torch.long, device=device),
        "attention_mask": torch.ones(1, len(ids), dtype=torch.long, device=device),
        CACHE_FIELD: copy.deepcopy(prefix.cache),
    }
