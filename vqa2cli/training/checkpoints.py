"""What a training run leaves behind, so every folder it writes is usable on its own.

``OUT/`` (final) and every ``OUT/checkpoint-N/`` hold: the weights (``save_pretrained``, our layout),
the tokenizer, ``vqa2-train.yaml`` (the resolved TrainConfig) and ``vqa2-card.toml`` (the model card
layer ``vqa2 score --model OUT`` / ``vqa2 ask --model OUT`` apply, registry.CARD_FILE_IN_CHECKPOINT).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import ConfigError
from ..registry import CARD_FILE_IN_CHECKPOINT
from .stages import TrainConfig, save_resolved

CARD_SECTIONS = ("model", "video", "scoring", "generation")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def card_layer(config: TrainConfig, base: Settings, folder: Path) -> dict[str, dict[str, Any]]:
    """The output's card: the base model's settings with the stage's task, prompt and motion layout."""
    layer = {name: dict(values) for name, values in base.to_dict().items() if name in CARD_SECTIONS}
    layer["model"].update(
        name=folder.name,
        repo=str(folder),
        revision="local",
        task=config.task,
        prompt=config.prompt,
        motion_layout=config.motion_layout,
        description=f"vqa2 train {config.stage} from {base.model.name}",
    )
    return layer


def write_card(config: TrainConfig, base: Settings, folder: Path) -> Path:
    lines = [f"# Written by `vqa2 train` ({config.stage}); `vqa2 score|ask --model {folder}` applies it."]
    for section, values in card_layer(config, base, folder).items():
        lines.append(f"\n[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    path = folder / CARD_FILE_IN_CHECKPOINT
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def describe_folder(config: TrainConfig, base: Settings, folder: Path) -> None:
    """Resolved config + card into one output or checkpoint folder."""
    folder.mkdir(parents=True, exist_ok=True)
    save_resolved(config, folder)
    write_card(config, base, folder)


def last_checkpoint(output_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not output_dir.is_dir():
        return None
    found = get_last_checkpoint(str(output_dir))
    return Path(found) if found else None


def check_output_dir(output_dir: Path, resume: bool) -> Path | None:
    """With ``resume``: the checkpoint to continue from (must exist). Without: refuse to mix runs."""
    found = last_checkpoint(output_dir)
    if resume and found is None:
        raise ConfigError(
            f"{output_dir}: --resume but no checkpoint-N folder to resume from",
            "drop --resume to start a new run",
        )
    if not resume and found is not None:
        raise ConfigError(
            f"{output_dir}: already holds {found.name}",
            "pass --resume to continue that run, or choose a new --output folder",
        )
    return found


def callback_class():
    from transformers import TrainerCallback

    class DescribeCheckpoints(TrainerCallback):
        """After each save, write the resolved config and the card into ``checkpoint-N``."""

        def __init__(self, config: TrainConfig, base: Settings, output_dir: Path):
            self.config, self.base, self.output_dir = config, base, output_dir

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                describe_folder(self.config, self.base, self.output_dir / f"checkpoint-{state.global_step}")
            return control

    return DescribeCheckpoints
