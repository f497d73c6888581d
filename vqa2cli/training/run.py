"""One training run, top to bottom: data → base settings → engine → model → Trainer → output folder.

``TrainingArguments`` are built *before* the weights load so that under DeepSpeed ZeRO-3 transformers
shards the model while loading (``zero.Init``) instead of materialising 8 B parameters per rank.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError, DataError, InputError
from ..records.reports import DataCheckRecord
from ..registry import ModelRef, resolve_model
from . import checkpoints
from .datasets import TrainSample, check_kinds, read_training_data
from .stages import TrainConfig


def load_samples(config: TrainConfig) -> list[TrainSample]:
    if not config.data:
        raise ConfigError("no training data given", "pass --data FILE (instruction .json or path,mos .csv)")
    source = Path(config.data)
    media_root = Path(config.media_root) if config.media_root else None
    mos_range = tuple(config.mos_range) if config.mos_range else None
    samples = read_training_data(source, media_root, mos_range)
    check_kinds(samples, config.data_kind, source)
    if any(s.level for s in samples):
        from .collate import scoring_answer

        scoring_answer(config.prompt, "good")  # the stage's prompt can phrase level answers
    return samples


def validate_data(config: TrainConfig) -> DataCheckRecord:
    """Parse the data file, check the stage's media kind, and probe every media file's header."""
    from ..video.decode import probe_video

    report = DataCheckRecord(source=config.data)
    try:
        samples = load_samples(config)
    except DataError as exc:
        report.problems.append(exc.one_line())
        return report
    report.records = len(samples)
    report.kinds = dict(Counter(s.kind for s in samples))
    report.answers = dict(Counter(s.level or " ".join(s.answer.split()[:6]) for s in samples).most_common(10))
    for sample in samples:
        try:
            probe_video(str(sample.media))
        except InputError as exc:
            report.problems.append(f"{config.data}: record {sample.index}: {exc.one_line()}")
    return report


def base_settings(model: str | None, config: TrainConfig) -> tuple[Settings, ModelRef]:
    """The init model's settings (its card) with the stage's prompt and motion layout."""
    reference = model or config.init_from
    if not reference:
        raise ConfigError(
            f"stage '{config.stage}' has no default starting model",
            "pass --model with the previous stage's output folder (or a base checkpoint)",
        )
    return resolve_model(
        reference,
        config.task,
        model_keys={"task": config.task, "prompt": config.prompt, "motion_layout": config.motion_layout},
    )


def _load_weights(settings: Settings, ref: ModelRef, config: TrainConfig, offline: bool):
    from ..modeling.hub import fetch_weights
    from ..modeling.loading import load_model

    # ZeRO-3 keeps fp32 master weights itself, so bf16 weights load (as the official script); the other
    # engines train fp32 weights under autocast. The Trainer places the model: load on the CPU.
    zero3_bf16 = config.engine.startswith("zero3") and config.precision == "bf16"
    dtype = "bf16" if zero3_bf16 else "fp32"
    load = settings.replace(runtime={"device": "cpu", "dtype": dtype, "quant": "none"})
    return load_model(fetch_weights(ref, offline=offline), load)


def is_main_process() -> bool:
    """Rank 0 of a torchrun / accelerate / deepspeed launch (or a plain single process)."""
    return os.environ.get("RANK", "0") == "0"


def _silent(_: str) -> None:
    return None


def run_training(
    config: TrainConfig, model: str | None, *, resume: bool = False, offline: bool = False, log=print
) -> Path:
    """Train one stage; returns the output folder (weights, tokenizer, vqa2-card.toml, vqa2-train.yaml)."""
    from .collate import TrainCollator
    from .trainer import build_trainer, training_arguments

    if not config.output_dir:
        raise ConfigError("no output folder given", "pass --output DIR")
    if not is_main_process():
        log = _silent  # one voice per run: rank 0 logs
    output_dir = Path(config.output_dir)
    samples = load_samples(config)
    settings, ref = base_settings(model, config)
    found = checkpoints.check_output_dir(output_dir, resume)
    args = training_arguments(config, str(output_dir))  # engine checks; ZeRO-3 context lives while args does
    log(
        f"Loading {settings.model.name} for {config.stage} "
        f"({len(samples)} samples, engine {config.engine}) ..."
    )
    loaded = _load_weights(settings, ref, config, offline)
    collator = TrainCollator(
        loaded.tokenizer,
        loaded.model.config,
        settings,
        config.data,
        unmask_newlines=config.unmask_newlines,
        max_tokens=config.token_budget,
    )
    callback = checkpoints.callback_class()(config, settings, output_dir)
    trainer, counts = build_trainer(config, loaded, samples, collator, args, [callback], log=log)
    trained = sum(c.trainable for c in counts.values())
    log(
        f"Trainable: {trained:,} of {sum(c.total for c in counts.values()):,} parameters "
        f"({', '.join(g for g, c in counts.items() if c.trainable) or 'none'})"
    )
    trainer.train(resume_from_checkpoint=str(found) if found else None)
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero():
        trainer.save_state()
        checkpoints.describe_folder(config, settings, output_dir)
    return output_dir
