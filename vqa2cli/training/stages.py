"""Training stages as data: ``stages/*.yaml`` shipped in the package, layered into a :class:`TrainConfig`.

Precedence (later wins): :class:`TrainConfig` defaults (the official hyper-parameters, spec §6) ← the
stage file ← ``--config FILE`` ← command-line flags. Unknown keys fail with a close-match suggestion;
values are type-checked. ``TrainConfig.to_dict()`` is saved as ``vqa2-train.yaml`` with every checkpoint.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import CHOICES as SETTINGS_CHOICES
from ..config import coerce_value, load_config_file, suggest_key
from ..errors import ConfigError

STAGES_DIR = Path(__file__).with_name("stages")
ENGINES_DIR = Path(__file__).with_name("engines")
RESOLVED_CONFIG_FILE = "vqa2-train.yaml"

# Parameter groups a stage may train (trainer.py maps them to module names of the model).
MODULE_GROUPS = (
    "vision_tower",
    "projector",
    "image_newline",
    "motion_encoder",
    "motion_projector",
    "language_model",
    "lm_head",
)


@dataclass(frozen=True)
class TrainConfig:
    """Every key of a training run. Comments give the meaning; defaults are the official scripts' values."""

    stage: str = ""  # stage name (the file under stages/)
    description: str = ""
    data_kind: str = "video"  # video | image: what the stage's records must be
    trainable: tuple[str, ...] = ("all",)  # MODULE_GROUPS, or "all"; everything else is frozen
    init_from: str = ""  # model used when --model is not given ("" = --model required)
    task: str = "score"  # the output card's task: score | ask
    prompt: str = "ugc_init"  # prompt style for CSV-derived samples and the output card
    motion_layout: str = "plain"  # plain | duplicated (written to the output card)
    data: str = ""  # instruction .json or path,mos .csv
    media_root: str = ""  # folder relative media paths start from ("" = the data file's folder)
    mos_range: tuple[float, ...] = ()  # (low, high) for CSV MOS normalisation; () = data min/max
    output_dir: str = ""
    learning_rate: float = 1e-5
    vision_tower_lr: float = 2e-6  # official --mm_vision_tower_lr
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    optimizer: str = "adamw_torch"  # any transformers `optim` name
    max_grad_norm: float = 1.0
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    per_device_batch_size: int = 1
    grad_accum: int = 1
    precision: str = "bf16"  # bf16 | fp16 | fp32
    tf32: bool = True  # CUDA only (ignored without a GPU)
    gradient_checkpointing: bool = True
    engine: str = "zero3"  # zero3 | zero3-offload | fsdp | ddp | none (none = one process, no sharding)
    unmask_newlines: bool = False  # official quirk: also supervise every \n, <|im_start|>, <|im_end|>
    save_steps: int = 500
    save_total_limit: int = 0  # 0 = keep every checkpoint
    logging_steps: int = 10
    seed: int = 42
    dataloader_workers: int = 2  # CPU workers that decode clips
    token_budget: int = 0  # 0 = model's limit (video.max_tokens); else cap the spliced sequence

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


CHOICES: dict[str, tuple[str, ...]] = {
    "data_kind": ("video", "image"),
    "task": SETTINGS_CHOICES[("model", "task")],
    "motion_layout": SETTINGS_CHOICES[("model", "motion_layout")],
    "lr_scheduler": (
        "cosine",
        "linear",
        "constant",
        "constant_with_warmup",
        "cosine_with_restarts",
        "polynomial",
    ),
    "precision": ("bf16", "fp16", "fp32"),
    "engine": ("zero3", "zero3-offload", "fsdp", "ddp", "none"),
}

_TYPES = typing.get_type_hints(TrainConfig)


def list_stages() -> list[str]:
    return sorted(p.stem for p in STAGES_DIR.glob("*.yaml"))


def stage_layer(name: str) -> dict[str, Any]:
    """The shipped stage file as a layer; an unknown name fails with a close match."""
    path = STAGES_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown stage '{name}'", suggest_key(name, list_stages()).replace("keys", "stages")
        )
    layer = load_config_file(path)
    layer["stage"] = name
    return layer


def _validate(merged: dict[str, Any]) -> None:
    for key, allowed in CHOICES.items():
        if merged.get(key, getattr(TrainConfig, key)) not in allowed:
            raise ConfigError(f"train key '{key}' must be one of {', '.join(allowed)}, got '{merged[key]}'")
    for group in merged.get("trainable", ()):
        if group != "all" and group not in MODULE_GROUPS:
            raise ConfigError(f"unknown trainable group '{group}'", suggest_key(group, list(MODULE_GROUPS)))
    rng = merged.get("mos_range", ())
    if rng and (len(rng) != 2 or not rng[1] > rng[0]):
        raise ConfigError(f"mos_range must be [low, high] with high > low, got {list(rng)}")
    for key in ("learning_rate", "vision_tower_lr", "warmup_ratio", "weight_decay", "epochs"):
        if key in merged and merged[key] < 0:
            raise ConfigError(f"train key '{key}' must not be negative, got {merged[key]}")
    if merged.get("warmup_ratio", 0.0) >= 1:
        raise ConfigError(f"warmup_ratio is a fraction of the steps (0..1), got {merged['warmup_ratio']}")
    for key in ("per_device_batch_size", "grad_accum", "save_steps", "logging_steps"):
        if key in merged and merged[key] < 1:
            raise ConfigError(f"train key '{key}' must be at least 1, got {merged[key]}")


def merge_train_layers(*layers: Mapping[str, Any] | None) -> TrainConfig:
    """Merge flat mappings over the defaults (later wins), check every key and value."""
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in _TYPES:
                raise ConfigError(f"unknown train config key '{key}'", suggest_key(key, list(_TYPES)))
            if value is None:
                continue
            merged[key] = coerce_value(key, value, _TYPES[key])
    _validate(merged)
    return TrainConfig(**merged)


def resolve_train_config(stage: str, config_file: Path | None = None, **flags: Any) -> TrainConfig:
    """Stage file ← ``--config`` file ← flags (None = not given). A config file may not switch stage."""
    file_layer = load_config_file(config_file) if config_file else None
    if file_layer and "stage" in file_layer and file_layer["stage"] != stage:
        raise ConfigError(
            f"{config_file}: says stage '{file_layer['stage']}' but --stage is '{stage}'",
            "drop 'stage' from the file or pass the matching --stage",
        )
    return merge_train_layers(stage_layer(stage), file_layer, flags)


def engine_file(engine: str) -> Path | None:
    """The shipped engine config for TrainingArguments (DeepSpeed JSON / FSDP JSON); None for ddp/none."""
    name = {"zero3": "zero3.json", "zero3-offload": "zero3-offload.json", "fsdp": "fsdp.json"}.get(engine)
    return ENGINES_DIR / name if name else None


def save_resolved(config: TrainConfig, folder: Path) -> Path:
    """Write ``vqa2-train.yaml`` (the resolved config) into ``folder``."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / RESOLVED_CONFIG_FILE
    header = "# vqa2 train: the resolved configuration of this run (reuse with --config)\n"
    path.write_text(header + yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    return path
