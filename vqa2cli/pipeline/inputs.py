"""DecodedClip + prompt → model inputs: token ids with the placeholder blocks spliced in, pixel tensors.

Tokenisation follows the official ``tokenizer_image_token``: the chat text is split at ``<image>``,
each text piece is tokenised on its own (no BOS), and each marker is replaced by a block of placeholder
ids — the keyframe block (K·tokens_per_keyframe + 1 ids: K frames of 196 tokens and ONE newline) and
the motion block (T ids). The model fills those slots with features (modeling/modeling_vqa2.py).
Training uses the same function with the answer appended and ``labels`` built for the assistant turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import UsageError
from ..modeling.pixels import pixel_tensor  # noqa: F401  (re-exported: callers import it from here)
from .prompts import IMAGE, SYSTEM, Prompt, Stalling, build_prompt, chat

IGNORE_INDEX = -100
MOTION_NORMS = {
    "siglip": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "kinetics": ((0.45, 0.45, 0.45), (0.225, 0.225, 0.225)),
}
KEYFRAME_NORM = MOTION_NORMS["siglip"]  # SigLIP: x/255, mean = std = 0.5


@dataclass
class ModelInputs:
    input_ids: list[int]
    keyframes: Any  # torch.uint8 [K, S, S, 3]
    motion: Any | None  # torch.uint8 [T, s, s, 3]; None when the prompt has no motion block
    prompt: Prompt
    n_visual_tokens: int
    n_motion_tokens: int
    labels: list[int] | None = None

    def model_kwargs(self, device, dtype, motion_norm: str = "siglip") -> dict[str, Any]:
        import torch

        kwargs = {
            "input_ids": torch.tensor([self.input_ids], dtype=torch.long, device=device),
            "attention_mask": torch.ones(1, len(self.input_ids), dtype=torch.long, device=device),
            "pixel_values_videos": pixel_tensor(self.keyframes, KEYFRAME_NORM, dtype, device),
        }
        if self.motion is not None:  # uint8 [1, T, s, s, 3]: the motion encoder converts it chunk by chunk
            kwargs["motion_pixel_values"] = torch.as_tensor(self.motion).unsqueeze(0).to(device)
            kwargs["motion_pixel_norm"] = MOTION_NORMS[motion_norm]
        return kwargs


def placeholder_blocks(
    config, n_keyframes: int, n_motion: int, n_markers: int, motion_layout: str
) -> list[list[int]]:
    """The id block spliced at each ``<image>`` marker, in order."""
    visual = [config.video_token_id] * config.keyframe_block_length(n_keyframes)
    motion = [config.motion_token_id] * n_motion
    if n_markers == 1:  # official streaming eval: the motion block is dropped
        return [visual]
    if n_markers != 2:
        raise UsageError(f"a prompt must carry one or two {IMAGE} markers, found {n_markers}")
    if motion_layout == "duplicated":  # QI assistant code: entry 0 = visual + motion, entry 1 = motion
        return [visual + motion, motion]
    return [visual, motion]


def encode_chat(tokenizer, text: str, blocks: list[list[int]]) -> list[int]:
    pieces = text.split(IMAGE)
    if len(pieces) - 1 != len(blocks):
        raise UsageError(f"prompt has {len(pieces) - 1} {IMAGE} markers but {len(blocks)} blocks were given")
    ids: list[int] = []
    for i, piece in enumerate(pieces):
        if piece:
            ids.extend(tokenizer(piece, add_special_tokens=False)["input_ids"])
        if i < len(blocks):
            ids.extend(blocks[i])
    return ids


def assistant_labels(tokenizer, ids: list[int], answer_start: int, unmask_special: bool = False) -> list[int]:
    """Supervise the assistant turn (from its ``<|im_start|>assistant\\n`` header to the end). The official
    loader also unmasks every newline, ``<|im_start|>`` and ``<|im_end|>`` token anywhere: ``unmask_special``."""
    labels = [IGNORE_INDEX] * answer_start + ids[answer_start:]
    if unmask_special:
        special = {tokenizer.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>")}
        special.update(tokenizer("\n", add_special_tokens=False)["input_ids"])
        labels = [tok if tok in special else lab for tok, lab in zip(ids, labels)]
    return labels


# Tokens kept free under ``video.max_tokens`` beyond the counted prompt text. The official code has no
# budget: it silently truncates the spliced sequence at 10000 embeddings (spec §2, llava_arch.py), which vqa2
# must never do (spec "Do NOT copy"). The prompt is counted with the widest numbers a clip can have (a
# 7-character duration, 5-digit frame counts: Qwen2 tokenises digits one per token), so the count does not
# fall short; these 8 tokens are a safety margin on top for what that rendering cannot foresee, chosen by
# us, not taken from the paper or the official code. Changing it changes which long clips get subsampled.
BUDGET_MARGIN_TOKENS = 8


def count_text_tokens(tokenizer, prompt: Prompt) -> int:
    """Text tokens of a rendered chat prompt without its ``<image>`` blocks (system, user, answer prefix)."""
    return len(encode_chat(tokenizer, chat(prompt), [[] for _ in range(prompt.n_images)]))


def token_budget(
    tokenizer, settings: Settings, *, question: str | None = None, stalling: Stalling | None = None
) -> int:
    """Tokens left for the keyframe and motion blocks under ``video.max_tokens`` (official: 10000):
    max_tokens − the prompt's text tokens − ``BUDGET_MARGIN_TOKENS`` − the stalling string's length."""
    probe = build_prompt(
        settings.model.prompt,
        duration_s=12345.6,
        n_keyframes=99999,
        n_motion=99999,
        question=question or "?",
        stalling=stalling,
    )
    slack = len(stalling.flags) if stalling else 0  # a 0/1 stalling string tokenises to ≤ 1 token per char
    return settings.video.max_tokens - count_text_tokens(tokenizer, probe) - BUDGET_MARGIN_TOKENS - slack


def build_inputs(
    tokenizer,
    config,
    settings: Settings,
    clip,
    *,
    question: str | None = None,
    stalling: Stalling | None = None,
    answer: str | None = None,
    user_text: str | None = None,
    unmask_special: bool = False,
) -> ModelInputs:
    """One clip → ids and uint8 frame tensors. For training pass ``answer`` (the whole assistant text,
    e.g. ``The quality of this video is poor.``; the card's prefix is then not used) and optionally
    ``user_text`` (a dataset's human turn with its ``<image>`` markers); ``labels`` are then built."""
    import torch

    k, t = len(clip.plan.keyframe_indices), len(clip.plan.motion_indices)
    if user_text is not None:
        prompt = Prompt(user_text, "")
    else:
        prompt = build_prompt(
            settings.model.prompt,
            duration_s=clip.info.duration_s,
            n_keyframes=k,
            n_motion=t,
            question=question,
            stalling=stalling,
        )
    blocks = placeholder_blocks(config, k, t, prompt.n_images, settings.model.motion_layout)
    labels = None
    if answer is not None:
        head = encode_chat(tokenizer, chat(Prompt(prompt.user, "")), blocks)
        ids = head + tokenizer(answer + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
        header = len(tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"])
        labels = assistant_labels(tokenizer, ids, len(head) - header, unmask_special)
    else:
        ids = encode_chat(tokenizer, chat(prompt), blocks)
    n_motion_tokens = sum(b.count(config.motion_token_id) for b in blocks)
    return ModelInputs(
        input_ids=ids,
        labels=labels,
        prompt=prompt,
        keyframes=torch.from_numpy(clip.keyframes),
        motion=torch.from_numpy(clip.motion_frames) if n_motion_tokens else None,
        n_visual_tokens=config.keyframe_block_length(k),
        n_motion_tokens=n_motion_tokens,
    )


__all__ = ["ModelInputs", "build_inputs", "token_budget", "pixel_tensor", "encode_chat", "SYSTEM"]
