"""transformers' ``Trainer`` wired for VQA²: trainable groups, the vision-tower learning rate, frozen BN.

The distributed engine is whatever the launcher and ``TrainConfig.engine`` say: DeepSpeed ZeRO-3
(``engines/zero3.json``) or FSDP (``engines/fsdp.json``) under ``torchrun`` / ``accelerate launch`` /
``deepspeed``; plain DDP; or one process (``none``, e.g. CPU for tiny runs).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from ..errors import CheckpointError, ConfigError
from .stages import MODULE_GROUPS, TrainConfig, engine_file

# Parameter-name prefixes of Vqa2ForConditionalGeneration per trainable group (modeling/modeling_vqa2.py).
GROUP_PREFIXES: dict[str, tuple[str, ...]] = {
    "vision_tower": ("model.vision_tower.",),
    "projector": ("model.multi_modal_projector.",),
    "image_newline": ("model.image_newline",),
    "motion_encoder": ("model.motion_extractor.",),
    "motion_projector": ("model.motion_projector.",),
    "language_model": ("model.language_model.",),
    "lm_head": ("lm_head.",),
}
GROUP_MODULES = {
    "vision_tower": "vision_tower",
    "projector": "multi_modal_projector",
    "motion_encoder": "motion_extractor",
    "motion_projector": "motion_projector",
    "language_model": "language_model",
}


def group_of(name: str) -> str:
    """The trainable group of one parameter name; an unmapped name means the model layout changed."""
    for group, prefixes in GROUP_PREFIXES.items():
        if name.startswith(prefixes):
            return group
    raise CheckpointError(
        f"parameter '{name}' belongs to no trainable group",
        "update training/trainer.py GROUP_PREFIXES for the model's layout",
    )


class ParamCount(NamedTuple):
    """Parameters of one trainable group."""

    trainable: int
    total: int


def apply_trainable(model, trainable: tuple[str, ...]) -> dict[str, ParamCount]:
    """Set ``requires_grad`` by group; returns {group: ParamCount(trainable, total)}."""
    wanted = set(MODULE_GROUPS) if "all" in trainable else set(trainable)
    counts: dict[str, list[int]] = {g: [0, 0] for g in MODULE_GROUPS}
    for name, param in model.named_parameters():
        group = group_of(name)
        param.requires_grad_(group in wanted)
        counts[group][1] += param.numel()
        counts[group][0] += param.numel() if group in wanted else 0
    if not any(c[0] for c in counts.values()):
        raise ConfigError(f"trainable {list(trainable)} selects no parameters of this model")
    return {g: ParamCount(*c) for g, c in counts.items()}


def frozen_modules(model, trainable: tuple[str, ...]) -> list[Any]:
    """Whole frozen sub-modules: kept in eval mode so BatchNorm statistics and dropout stay put."""
    if "all" in trainable:
        return []
    inner = model.model
    return [getattr(inner, attr) for group, attr in GROUP_MODULES.items() if group not in trainable]


def _trainer_class():
    import torch
    from transformers import Trainer

    class Vqa2Trainer(Trainer):
        """Trainer + a vision-tower parameter group (official ``--mm_vision_tower_lr``) + frozen eval mode."""

        def __init__(self, *args, vision_tower_lr: float, frozen: list, **kwargs):
            super().__init__(*args, **kwargs)
            self.vision_tower_lr = vision_tower_lr
            self.frozen = frozen

        def create_optimizer(self, model=None):
            opt_model = self.model if model is None else model
            if self.optimizer is not None:
                return self.optimizer
            decay = set(self.get_decay_parameter_names(opt_model))
            groups: dict[tuple[bool, bool], list] = {}
            for name, param in opt_model.named_parameters():
                if param.requires_grad:
                    key = (name.startswith(GROUP_PREFIXES["vision_tower"]), name in decay)
                    groups.setdefault(key, []).append(param)
            param_groups = []
            for (is_vision, decays), params in sorted(groups.items()):
                group = {"params": params, "weight_decay": self.args.weight_decay if decays else 0.0}
                if is_vision:
                    group["lr"] = self.vision_tower_lr
                param_groups.append(group)
            optimizer_cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
            self.optimizer = optimizer_cls(param_groups, **kwargs)
            return self.optimizer

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            for module in self.frozen:
                module.eval()
            dtype = next(self.model.model.vision_tower.parameters()).dtype
            for key in ("pixel_values_videos", "motion_pixel_values"):
                if key in inputs and torch.is_floating_point(inputs[key]):
                    inputs[key] = inputs[key].to(dtype)
            return super().compute_loss(
                model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )

    return Vqa2Trainer


def training_arguments(config: TrainConfig, output_dir: str):
    """TrainConfig → ``TrainingArguments`` (the engine file is handed over as transformers expects)."""
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    if config.engine in ("zero3", "zero3-offload", "fsdp") and not cuda:
        raise ConfigError(
            f"engine '{config.engine}' needs CUDA GPUs, none found",
            "use --engine none for a single-process (CPU) run",
        )
    if config.engine.startswith("zero3"):
        try:
            import deepspeed  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "engine 'zero3' needs DeepSpeed, which is not installed",
                "pip install 'vqa2cli[train]' (deepspeed), or use --engine fsdp",
            ) from exc
    if config.precision == "bf16" and not cuda:
        raise ConfigError("bf16 training needs a GPU here", "use --precision fp32 for a CPU run")
    engine = engine_file(config.engine)
    checkpointing = config.gradient_checkpointing
    fsdp_config = None
    if config.engine == "fsdp":  # FSDP does its own activation checkpointing (no redundant all-gather)
        fsdp_config = json.loads(engine.read_text(encoding="utf-8"))
        fsdp_config["activation_checkpointing"] = checkpointing
        checkpointing = False
    return TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=config.per_device_batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler,
        warmup_steps=config.warmup_ratio,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        optim=config.optimizer,
        max_grad_norm=config.max_grad_norm,
        bf16=config.precision == "bf16",
        fp16=config.precision == "fp16",
        tf32=config.tf32 if cuda else None,
        activation_checkpointing=checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        deepspeed=str(engine) if config.engine.startswith("zero3") else None,
        fsdp=config.engine == "fsdp",
        fsdp_config=fsdp_config,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit or None,
        logging_steps=config.logging_steps,
        seed=config.seed,
        dataloader_num_workers=config.dataloader_workers,
        remove_unused_columns=False,
        report_to="none",
        use_cpu=not cuda,
        ddp_find_unused_parameters=True,
        disable_tqdm=True,
    )


def _log_callback(log):
    from transformers import TrainerCallback

    class LogToStderr(TrainerCallback):
        """Training logs as one stderr line per logging step (stdout carries results only)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                parts = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items()]
                log(f"step {state.global_step}/{state.max_steps}: " + ", ".join(parts))

    return LogToStderr()


def build_trainer(config: TrainConfig, loaded, dataset, collator, args, callbacks=(), log=print):
    """The configured Trainer over ``loaded.model`` (trainable groups applied, frozen modules noted)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    counts = apply_trainable(loaded.model, config.trainable)
    loaded.model.config.use_cache = False
    trainer = _trainer_class()(
        model=loaded.model,
        args=args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=loaded.tokenizer,
        callbacks=[*callbacks, _log_callback(log)],
        vision_tower_lr=config.vision_tower_lr,
        frozen=frozen_modules(loaded.model, config.trainable),
    )
    trainer.remove_callback(PrinterCallback)  # it prints to stdout
    trainer.remove_callback(ProgressCallback)
    return trainer, counts
