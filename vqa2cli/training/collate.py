"""One training sample → model tensors, reusing the inference path (video.decode + pipeline.inputs).

Decoding happens here, inside the DataLoader workers. The answer is supervised from the assistant
header on (``pipeline.inputs.assistant_labels``); the official loader's quirk of also unmasking every
newline / ``<|im_start|>`` / ``<|im_end|>`` is ``unmask_newlines`` (off by default).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..errors import ConfigError, DataError, InputError
from .datasets import TrainSample


def scoring_answer(style: str, level: str) -> str:
    """CSV samples: the scoring prompt's answer prefix + the level (``The quality of the video is good.``)."""
    from ..pipeline.prompts import SCORING_STYLES, build_prompt

    prefix = ""
    if style in SCORING_STYLES:
        prefix = build_prompt(style, duration_s=1.0, n_keyframes=1, n_motion=4).prefix
    if not prefix:
        raise ConfigError(
            f"prompt style '{style}' is no scoring prompt with an answer prefix: "
            "CSV (path,mos) data cannot be turned into its answers",
            "use --prompt ugc_init or streaming, or give an instruction .json",
        )
    return f"{prefix} {level}."


@dataclass
class TrainCollator:
    """``collate([sample])`` → input_ids, attention_mask, labels, pixel_values_videos, motion_pixel_values.

    Pixels are float32 here; the trainer casts them to the vision tower's dtype before the forward.
    """

    tokenizer: Any
    model_config: Any
    settings: Settings
    source: str  # data file, for error messages
    unmask_newlines: bool = False
    max_tokens: int = 0  # 0 = settings.video.max_tokens

    def _budget(self, sample: TrainSample, answer: str) -> int:
        from ..pipeline.inputs import BUDGET_MARGIN_TOKENS, count_text_tokens, token_budget
        from ..pipeline.prompts import Prompt

        limit = self.max_tokens or self.settings.video.max_tokens
        answer_tokens = len(self.tokenizer(answer + "<|im_end|>\n", add_special_tokens=False)["input_ids"])
        if sample.user is None:
            shrink = self.settings.video.max_tokens - limit
            return token_budget(self.tokenizer, self.settings) - answer_tokens - shrink
        prompt_tokens = count_text_tokens(self.tokenizer, Prompt(sample.user, ""))
        return limit - prompt_tokens - answer_tokens - BUDGET_MARGIN_TOKENS

    def encode(self, sample: TrainSample) -> dict[str, Any]:
        import torch

        from ..pipeline.inputs import KEYFRAME_NORM, MOTION_NORMS, build_inputs, pixel_tensor
        from ..video.decode import decode_clip

        answer = scoring_answer(self.settings.model.prompt, sample.level) if sample.level else sample.answer
        try:  # video.resize travels inside the video settings: training decodes as score and eval do
            clip = decode_clip(
                str(sample.media),
                self.settings.video,
                token_budget=self._budget(sample, answer),
                motion_copies=self.settings.model.motion_copies,
            )
        except InputError as exc:
            raise DataError(
                f"{self.source}: record {sample.index}: {exc.one_line()}",
                "fix or drop the record; `vqa2 train --validate-data` checks every file",
            ) from exc
        inputs = build_inputs(
            self.tokenizer,
            self.model_config,
            self.settings,
            clip,
            answer=answer,
            user_text=sample.user,
            unmask_special=self.unmask_newlines,
        )
        batch = {
            "input_ids": torch.tensor([inputs.input_ids], dtype=torch.long),
            "attention_mask": torch.ones(1, len(inputs.input_ids), dtype=torch.long),
            "labels": torch.tensor([inputs.labels], dtype=torch.long),
            "pixel_values_videos": pixel_tensor(inputs.keyframes, KEYFRAME_NORM, torch.float32, "cpu"),
        }
        if inputs.motion is not None:
            norm = MOTION_NORMS[self.settings.video.motion_norm]
            batch["motion_pixel_values"] = pixel_tensor(inputs.motion, norm, torch.float32, "cpu")
        return batch

    def __call__(self, samples: list[TrainSample]) -> dict[str, Any]:
        if len(samples) != 1:
            raise ConfigError(
                f"per-device batch size must be 1 (clips differ in length), got {len(samples)}",
                "raise grad_accum instead of per_device_batch_size",
            )
        return self.encode(samples[0])
