"""`Vqa2Config`: LLaVA-OneVision config plus the SlowFast motion branch (spec §2, §11).

Two ways in:
- our own layout (``model_type`` ``vqa2_llava_onevision``, written by ``save_pretrained``) loads with
  ``Vqa2Config.from_pretrained`` / ``from_dict``;
- the official ``llava_qwen`` config.json goes through :func:`config_from_official`, which reads the Qwen2
  fields and fills in the SigLIP so400m vision config the official file only names
  (``mm_vision_tower: google/siglip-so400m-patch14-384``).
"""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers.models.llava_onevision.configuration_llava_onevision import LlavaOnevisionConfig

OFFICIAL_MODEL_TYPE = "llava_qwen"

# spec §11: SigLIP so400m/14 at 384 px with the last layer removed (26 of 27), no pooling head.
# 16 heads: the library's docstring example says 14, the checkpoint has 16.
SIGLIP_SO400M_26 = {
    "model_type": "siglip_vision_model",
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 26,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 384,
    "num_channels": 3,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "attention_dropout": 0.0,
    "vision_use_head": False,
}

# Optional fields of an official-style config.json, used only by the tiny test fixture to shrink the model.
EXTRA_VISION_FIELD = "vqa2_vision_config"
EXTRA_MOTION_FIELD = "vqa2_motion_config"

# SlowFast-R50 fast pathway (alpha 4, beta 1/8): stem width 8, bottleneck stages of depth 3/4/6/3.
R50_FAST_MOTION = {"stem_dim": 8, "stage_depths": [3, 4, 6, 3]}

_QWEN2_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "tie_word_embeddings",
    "attention_dropout",
    "bos_token_id",
    "eos_token_id",
    "initializer_range",
)


@strict
class Vqa2Config(LlavaOnevisionConfig):
    r"""
    LLaVA-OneVision + SlowFast-R50 fast pathway. Extra fields over [`LlavaOnevisionConfig`]:

    motion_token_index (`int`, defaults to 151648):
        Placeholder id filled with one motion token per dense frame.
    motion_max_frames (`int`, defaults to 2000):
        Rows of the learned motion position table (the official cap on dense frames).
    motion_stem_dim (`int`, defaults to 8):
        Fast-pathway stem width (R50: 8). Stage widths follow: inner `stem*2**i`, out `4*stem*2**i`.
    motion_stage_depths (`list[int]`, defaults to `[3, 4, 6, 3]`):
        Bottleneck blocks per fast-pathway stage (R50).
    """

    model_type = "vqa2_llava_onevision"
    attribute_map = {
        "image_token_id": "image_token_index",
        "video_token_id": "video_token_index",
        "motion_token_id": "motion_token_index",
    }

    motion_token_index: int = 151648
    motion_max_frames: int = 2000
    motion_stem_dim: int = 8
    motion_stage_depths: list | None = None

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        if self.motion_stage_depths is None:
            self.motion_stage_depths = list(R50_FAST_MOTION["stage_depths"])
        if len(self.motion_stage_depths) != 4 or min(self.motion_stage_depths) < 1:
            raise ValueError(f"motion_stage_depths must be 4 positive ints, got {self.motion_stage_depths}")
        if self.motion_stem_dim < 1 or self.motion_max_frames < 1:
            raise ValueError("motion_stem_dim and motion_max_frames must be positive")

    @property
    def motion_dim(self) -> int:
        """Width of one motion token before the projector: 4*stem*2**3 (R50 fast: 256)."""
        return self.motion_stem_dim * 32

    @property
    def tokens_per_keyframe(self) -> int:
        """Pooled tokens per keyframe at the vision tower's input size (384/14: 196), see
        :func:`vqa2cli.video.sampling.tokens_per_keyframe`."""
        from ..video.sampling import tokens_per_keyframe

        return tokens_per_keyframe(self.vision_config.image_size, self.vision_config.patch_size)

    def keyframe_block_length(self, n_keyframes: int) -> int:
        """K*tokens_per_keyframe + 1: the keyframe tokens, frame-major, then ONE image_newline."""
        return n_keyframes * self.tokens_per_keyframe + 1


def _text_config(official: dict[str, Any]) -> dict[str, Any]:
    text = {key: official[key] for key in _QWEN2_KEYS if key in official}
    text["model_type"] = "qwen2"
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": float(official.get("rope_theta", 1e6))}
    text["use_sliding_window"] = bool(official.get("use_sliding_window", False))
    return text


def config_from_official(official: dict[str, Any], *, attn_implementation: str | None = None) -> Vqa2Config:
    """Build a :class:`Vqa2Config` from an official ``llava_qwen`` config.json (spec §1, §11)."""
    if official.get("model_type") != OFFICIAL_MODEL_TYPE:
        raise ValueError(f"expected model_type '{OFFICIAL_MODEL_TYPE}', got {official.get('model_type')!r}")
    vision = dict(SIGLIP_SO400M_26)
    vision.update(official.get(EXTRA_VISION_FIELD) or {})
    motion = dict(R50_FAST_MOTION)
    motion.update(official.get(EXTRA_MOTION_FIELD) or {})
    image_token = int(official.get("image_token_index", 151646))
    config = Vqa2Config(
        text_config=_text_config(official),
        vision_config=vision,
        image_token_index=image_token,
        # spec §11: <video> and <motion> take the two ids after <image> (151647/151648 < 152064, no resize).
        video_token_index=image_token + 1,
        motion_token_index=image_token + 2,
        projector_hidden_act="gelu",  # exact GELU, as the official nn.GELU in mlp2x_gelu
        vision_feature_select_strategy="full",  # SigLIP has no CLS token: keep all 729 patches
        vision_feature_layer=-1,  # last of the 26 kept layers == the official layer -2
        multimodal_projector_bias=True,
        tie_word_embeddings=bool(official.get("tie_word_embeddings", False)),
        motion_max_frames=int(motion.get("max_frames", 2000)),
        motion_stem_dim=int(motion["stem_dim"]),
        motion_stage_depths=[int(d) for d in motion["stage_depths"]],
    )
    if attn_implementation:
        config._attn_implementation = attn_implementation
    return config
