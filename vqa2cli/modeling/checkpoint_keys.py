"""Official (``llava_qwen``) ↔ vqa2 state-dict key mapping (spec §1 prefixes, §11 table).

The official checkpoints are loaded directly: ``from_pretrained(..., key_mapping=KEY_MAPPING)`` renames
each official key while the shards stream in (regexes, applied with ``re.sub``). Our own layout (a
``save_pretrained`` output) matches none of the patterns, so the same call loads both layouts.

Keys the official checkpoint carries that vqa2 does not use (:data:`DROPPED`) are the SlowFast *slow*
pathway and the fast→slow fusion convolutions: the official forward keeps only the fast output and fusion
never changes it (spec §2). Every other missing or unexpected key is a hard :class:`CheckpointError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import CheckpointError

KEY_MAPPING: dict[str, str] = {
    r"^model\.embed_tokens\.": "model.language_model.embed_tokens.",
    r"^model\.layers\.": "model.language_model.layers.",
    r"^model\.norm\.": "model.language_model.norm.",
    r"^model\.vision_tower\.vision_tower\.vision_model\.": "model.vision_tower.",
    r"^model\.mm_projector\.0\.": "model.multi_modal_projector.linear_1.",
    r"^model\.mm_projector\.2\.": "model.multi_modal_projector.linear_2.",
    r"^model\.slowfast\.feature_extraction\.(\d+)\.multipathway_blocks\.1\.": r"model.motion_extractor.fast.\1.",
    r"^model\.slowfast\.position_embedding\.": "model.motion_extractor.pos_embed.",
    r"^model\.slowfast_projector\.0\.": "model.motion_projector.linear_1.",
    r"^model\.slowfast_projector\.2\.": "model.motion_projector.linear_2.",
}

DROPPED: tuple[str, ...] = (
    r"^model\.slowfast\.feature_extraction\.\d+\.multipathway_blocks\.0\.",  # slow pathway (unused output)
    r"^model\.slowfast\.feature_extraction\.\d+\.multipathway_fusion\.",  # fast→slow fusion (slow side only)
)

# Ours: buffers that are rebuilt from the config, never stored (SigLIP position_ids is non-persistent).
IGNORABLE_MISSING: tuple[str, ...] = (r"\.position_ids$", r"num_batches_tracked$")
IGNORABLE_UNEXPECTED: tuple[str, ...] = (r"\.position_ids$", r"num_batches_tracked$")


def to_ours(key: str) -> str:
    """Rename one official key (identity for a key already in our layout)."""
    for pattern, target in KEY_MAPPING.items():
        new, count = re.subn(pattern, target, key)
        if count:
            return new
    return key


def is_dropped(key: str) -> bool:
    return any(re.search(p, key) for p in DROPPED)


def _filter(keys: Iterable[str], allowed: tuple[str, ...]) -> list[str]:
    return sorted(k for k in keys if not any(re.search(p, k) for p in allowed))


def check_load_report(
    folder: str, missing: Iterable[str], unexpected: Iterable[str], mismatched: Iterable = ()
) -> None:
    """Raise :class:`CheckpointError` naming keys that are missing, unexpected, or of the wrong shape."""
    bad_missing = _filter(missing, IGNORABLE_MISSING)
    bad_unexpected = [k for k in _filter(unexpected, IGNORABLE_UNEXPECTED) if not is_dropped(k)]
    bad_shapes = [str(m[0]) if isinstance(m, (tuple, list)) else str(m) for m in mismatched]
    problems = []
    if bad_missing:
        problems.append(f"{len(bad_missing)} missing key(s): {_show(bad_missing)}")
    if bad_unexpected:
        problems.append(f"{len(bad_unexpected)} unexpected key(s): {_show(bad_unexpected)}")
    if bad_shapes:
        problems.append(f"{len(bad_shapes)} key(s) with the wrong shape: {_show(bad_shapes)}")
    if problems:
        raise CheckpointError(
            f"{folder}: checkpoint does not match the VQA² architecture: " + "; ".join(problems),
            "re-download the checkpoint (vqa2 models pull NAME) or check that the folder is a VQA² model",
        )


def _show(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")
