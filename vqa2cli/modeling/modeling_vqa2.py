"""`Vqa2ForConditionalGeneration`: transformers' LLaVA-OneVision + the SlowFast motion branch (spec §2).

Composition, not a fork: the vision tower (SigLIP, 26 layers, no head), projector, ``image_newline``,
Qwen2 language model and ``lm_head`` are transformers' own ``LlavaOnevision*`` modules; this file adds
``model.motion_extractor`` (pytorchvideo fast pathway + position table) and ``model.motion_projector`` and
overrides the forward to splice both feature blocks into ``inputs_embeds``.

Token layout (spec §2), given by the prompt's placeholder ids:
- keyframe block: ``K * tokens_per_keyframe + 1`` ids equal to ``config.video_token_id``. transformers'
  video path is the official one: SigLIP ``hidden_states[-1]`` (before post-LN) → projector → bilinear
  27×27 → 14×14 (``apply_pooling``) → frames flattened frame-major → ONE ``image_newline``.
- motion block: ``T`` ids equal to ``config.motion_token_id``, one per dense frame. A prompt may carry the
  block several times (the QI assistant's duplicated layout): every group of ``T`` slots gets the same
  ``T`` features in order.
Position ids are ``arange`` over the spliced sequence, as upstream (the transformers default).

The KV cache is passed through ``**kwargs`` under whatever name the installed transformers uses
(``past_key_values`` up to 5.23, ``cache`` from 5.24), and the outputs take the language model's fields as
they come, so this file names neither; the key-frame features go into the field the installed
``LlavaOnevisionModelOutputWithPast`` has (``video_hidden_states`` up to 5.23, ``video_outputs`` from 5.24).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields

import torch
from torch import nn
from transformers.modeling_utils import slice_logits_to_keep
from transformers.models.llava_onevision.modeling_llava_onevision import (  # the submodule: not the lazy top level
    LlavaOnevisionCausalLMOutputWithPast,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionModel,
    LlavaOnevisionModelOutputWithPast,
    LlavaOnevisionPreTrainedModel,
)
from transformers.utils.generic import can_return_tuple

from .configuration_vqa2 import Vqa2Config
from .motion_encoder import Vqa2MotionEncoder, Vqa2MotionProjector

# Where the installed transformers keeps the projected key-frame features in its outputs.
VIDEO_FIELD = (
    "video_outputs"
    if "video_outputs" in {f.name for f in fields(LlavaOnevisionModelOutputWithPast)}
    else "video_hidden_states"
)

# The name under which the installed transformers passes and returns the KV cache (kwarg and output field).
CACHE_FIELD = (
    "cache"
    if "cache" in {f.name for f in fields(LlavaOnevisionCausalLMOutputWithPast)}
    else "past_key_values"
)

# LLaVA-OneVision's single-image (anyres) path is not part of VQA²'s video models.
UNSUPPORTED_INPUTS = (
    "pixel_values",
    "image_sizes",
    "image_sizes_videos",
    "mm_encoder_outputs",
    "batch_num_images",
)


@dataclass
class Vqa2ModelOutputWithPast(LlavaOnevisionModelOutputWithPast):
    r"""motion_hidden_states (`torch.Tensor` of shape `(batch_size, T, hidden_size)`): projected motion tokens."""

    motion_hidden_states: torch.Tensor | None = None


@dataclass
class Vqa2CausalLMOutputWithPast(LlavaOnevisionCausalLMOutputWithPast):
    r"""motion_hidden_states (`torch.Tensor` of shape `(batch_size, T, hidden_size)`): projected motion tokens."""

    motion_hidden_states: torch.Tensor | None = None


class Vqa2Model(LlavaOnevisionModel):
    """LLaVA-OneVision base model plus ``motion_extractor`` and ``motion_projector``."""

    config_class = Vqa2Config

    def __init__(self, config: Vqa2Config):
        super().__init__(config)
        self.motion_extractor = Vqa2MotionEncoder(
            config.motion_stem_dim, config.motion_stage_depths, config.motion_max_frames
        )
        self.motion_projector = Vqa2MotionProjector(config.motion_dim, config.text_config.hidden_size)
        self.post_init()  # again, now that the motion modules exist (init + bookkeeping cover them too)

    def get_motion_features(self, motion_pixel_values: torch.Tensor, motion_pixel_norm=None) -> torch.Tensor:
        """Dense frames [B, T, 3, s, s] (or uint8 [B, T, s, s, 3] with ``motion_pixel_norm = (mean, std)``,
        converted chunk by chunk) → projected motion tokens [B, T, hidden_size]."""
        return self.motion_projector(self.motion_extractor(motion_pixel_values, motion_pixel_norm))

    def _splice_video(self, input_ids, inputs_embeds, pixel_values_videos):
        """Key-frame features into their placeholders; returns (embeds, {VIDEO_FIELD: features as upstream})."""
        out = self.get_video_features(pixel_values_videos, return_dict=True)
        video = out.pooler_output.flatten(0, 1).to(inputs_embeds.device, inputs_embeds.dtype)
        _, mask = self.get_placeholder_mask(input_ids, inputs_embeds=inputs_embeds, video_features=video)
        field = {VIDEO_FIELD: out if VIDEO_FIELD == "video_outputs" else video}
        return inputs_embeds.masked_scatter(mask, video), field

    def _splice_motion(self, input_ids, inputs_embeds, motion_pixel_values, motion_pixel_norm=None):
        if input_ids is None:
            raise ValueError("motion_pixel_values need input_ids to find the motion placeholder positions")
        motion = self.get_motion_features(motion_pixel_values, motion_pixel_norm)
        motion = motion.to(inputs_embeds.device, inputs_embeds.dtype)
        n_frames = motion.shape[1]
        mask = input_ids == self.config.motion_token_id
        rows = []
        for b in range(input_ids.shape[0]):
            slots = int(mask[b].sum())
            if slots % n_frames:
                raise ValueError(
                    f"row {b}: {slots} motion placeholders is not a multiple of the {n_frames} motion frames"
                )
            rows.append(motion[b].repeat(slots // n_frames, 1))  # each block gets the same T tokens in order
        filled = torch.cat(rows, dim=0)
        return inputs_embeds.masked_scatter(mask.unsqueeze(-1).to(inputs_embeds.device), filled), motion

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        motion_pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        motion_pixel_norm: tuple | None = None,
        **kwargs,  # the KV cache among them (see the module docstring)
    ) -> Vqa2ModelOutputWithPast:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        for name in UNSUPPORTED_INPUTS:  # never silently drop an image input
            if kwargs.pop(name, None) is not None:
                raise ValueError(f"{name} is not supported: VQA² takes keyframes as pixel_values_videos")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        video, motion = {}, None
        if pixel_values_videos is not None:
            inputs_embeds, video = self._splice_video(input_ids, inputs_embeds, pixel_values_videos)
        if motion_pixel_values is not None:
            inputs_embeds, motion = self._splice_motion(
                input_ids, inputs_embeds, motion_pixel_values, motion_pixel_norm
            )
        outputs = self.language_model(
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        return Vqa2ModelOutputWithPast(**outputs, **video, motion_hidden_states=motion)


class Vqa2ForConditionalGeneration(LlavaOnevisionForConditionalGeneration):
    """VQA² (LLaVA-OneVision-7B + SlowFast-R50 fast pathway): ``self.model`` (:class:`Vqa2Model`) + ``lm_head``.

    Example:

    ```python
    >>> out = model(input_ids, attention_mask=mask, pixel_values_videos=keyframes,  # [B, K, 3, S, S]
    ...             motion_pixel_values=dense)                                     # [B, T, 3, s, s]
    >>> out.logits.shape  # [B, L, vocab]
    ```
    """

    config_class = Vqa2Config

    def __init__(self, config: Vqa2Config):
        # Skip the parent's __init__ (it would build a plain LlavaOnevisionModel only to replace it).
        LlavaOnevisionPreTrainedModel.__init__(self, config)
        self.model = Vqa2Model(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_motion_features(self, motion_pixel_values: torch.Tensor, motion_pixel_norm=None) -> torch.Tensor:
        return self.model.get_motion_features(motion_pixel_values, motion_pixel_norm)

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        motion_pixel_values: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        motion_pixel_norm: tuple | None = None,
        **kwargs,  # the KV cache among them
    ) -> Vqa2CausalLMOutputWithPast:
        outputs = self.model(
            input_ids=input_ids,
            pixel_values_videos=pixel_values_videos,
            motion_pixel_values=motion_pixel_values,
            motion_pixel_norm=motion_pixel_norm,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            **kwargs,
        )
        hidden_states = slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep)
        logits = self.lm_head(hidden_states)
        loss = None
        if labels is not None:
            loss = self.loss_function(
                logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs
            )
        rest = {name: value for name, value in outputs.items() if name != "last_hidden_state"}
        return Vqa2CausalLMOutputWithPast(loss=loss, logits=logits, **rest)

    # ``wraps(assigned=())`` copies nothing but ``__wrapped__``, so ``inspect.signature`` (which ``generate``
    # uses to validate its keyword arguments) shows the library's parameters, the KV cache's name among them:
    # a cache handed to ``generate`` (prefix reuse, pipeline/prefix_cache.py) is then accepted.
    @functools.wraps(LlavaOnevisionForConditionalGeneration.prepare_inputs_for_generation, assigned=())
    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool | None = False, **kwargs):
        """As the library's, and the motion frames, like ``pixel_values_videos``, are used at prefill only."""
        model_inputs = super().prepare_inputs_for_generation(
            *args, is_first_iteration=is_first_iteration, **kwargs
        )
        if not is_first_iteration and kwargs.get("use_cache", True):
            model_inputs.pop("motion_pixel_values", None)
            model_inputs.pop("motion_pixel_norm", None)
        return model_inputs
