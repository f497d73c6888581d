"""`vqa2 train --stage NAME --data FILE --output DIR`: one stage of the paper's three-stage pipeline."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..config import REPORT_FORMATS
from ..training.stages import CHOICES as TRAIN_CHOICES
from ..training.stages import TrainConfig
from .options import ModelOpt, OfflineOpt, QuietOpt, VerboseOpt, check_format, choices, start_console

STAGE_NAMES = "stage1-spatial, stage1-motion, stage2-ugc, stage2-streaming, stage3-assistant"

EXAMPLES = """Examples:

\b
  # check a dataset (records, media files) without training
  vqa2 train --stage stage2-ugc --data mos.csv --output ./ugc --validate-data
  # 8 GPUs on one machine, DeepSpeed ZeRO-3 (the stage default)
  torchrun --nproc_per_node 8 -m vqa2cli train --stage stage2-ugc --data stage2.json \\
      --media-root /data/videos --model ./stage1 --output ./ugc
  # the same through accelerate, sharded with FSDP instead
  accelerate launch --config_file vqa2cli/training/engines/accelerate-8gpu.yaml -m vqa2cli train \\
      --stage stage3-assistant --data stage3.json --output ./assistant --engine fsdp
  # one CPU process, a few steps (tiny models)
  vqa2 train --stage stage2-ugc --data mos.csv --model ./tiny --output ./out \\
      --engine none --precision fp32 --max-steps 5
  # continue from the last checkpoint-N in ./ugc
  vqa2 train --stage stage2-ugc --data mos.csv --model ./stage1 --output ./ugc --resume

Stages (vqa2cli/training/stages/*.yaml): stage1-spatial (images; vision tower + projector),
stage1-motion (videos; motion encoder + projector), stage2-ugc (full), stage2-streaming and
stage3-assistant (full, from the UGC scorer). Defaults are the official hyper-parameters: lr 1e-5
(vision tower 2e-6), cosine, warm-up 0.03, weight decay 0, bf16, 1 epoch, batch 1 per GPU, ZeRO-3.
Data: the official instruction JSON, or a CSV of path,mos turned into level answers (MOS normalised
to 0-100 by --mos-range or the data's min/max; 20-point bins high/good/fair/poor/low). The output
folder loads directly: vqa2 score --model ./ugc. See docs/training.md."""


def train(
    stage: Annotated[
        str, typer.Option("--stage", metavar="NAME", help=f"Stage to run: {STAGE_NAMES}.", show_default=False)
    ],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", metavar="FILE", help="Official instruction .json, or a .csv with path,mos columns."
        ),
    ] = None,
    model: ModelOpt = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR",
            help="Output folder: checkpoints, final weights, card and resolved config.",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="YAML/TOML of train keys over the stage's (see a saved vqa2-train.yaml).",
        ),
    ] = None,
    media_root: Annotated[
        Path | None,
        typer.Option(
            "--media-root",
            metavar="DIR",
            help="Folder the data's media paths are relative to (official --video_folder).",
        ),
    ] = None,
    mos_range: Annotated[
        tuple[float, float] | None,
        typer.Option(
            "--mos-range",
            metavar="LOW HIGH",
            help="MOS scale for CSV data (default: the data's min and max).",
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine", metavar=choices(TRAIN_CHOICES["engine"]), help="Distributed engine. [stage: zero3]"
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision",
            metavar=choices(TRAIN_CHOICES["precision"]),
            help="Training precision. [stage: bf16]",
        ),
    ] = None,
    lr: Annotated[
        float | None, typer.Option("--lr", metavar="X", help="Learning rate. [stage: 1e-5]")
    ] = None,
    vision_lr: Annotated[
        float | None,
        typer.Option("--vision-lr", metavar="X", help="Vision-tower learning rate. [stage: 2e-6]"),
    ] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", metavar="N", help="Epochs. [stage: 1]")] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", metavar="N", help="Stop after N optimizer steps (overrides --epochs)."),
    ] = None,
    grad_accum: Annotated[
        int | None, typer.Option("--grad-accum", metavar="N", help="Gradient accumulation steps. [stage: 1]")
    ] = None,
    save_steps: Annotated[
        int | None, typer.Option("--save-steps", metavar="N", help="Save a checkpoint every N steps.")
    ] = None,
    logging_steps: Annotated[
        int | None, typer.Option("--logging-steps", metavar="N", help="Log every N steps.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            help=f"DataLoader workers decoding clips. [default: {TrainConfig.dataloader_workers}]",
        ),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            "--prompt", metavar="STYLE", help="Prompt style for CSV data and the output card. [stage]"
        ),
    ] = None,
    unmask_newlines: Annotated[
        bool | None,
        typer.Option(
            "--unmask-newlines/--no-unmask-newlines",
            help="Official quirk: also supervise every newline/<|im_start|>/<|im_end|> token. [off]",
        ),
    ] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Recompute activations to save memory. [on]",
        ),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint-N in --output.")
    ] = False,
    validate_data: Annotated[
        bool,
        typer.Option(
            "--validate-data", help="Check the data (records, media files) and exit without training."
        ),
    ] = False,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved train config (YAML) and exit.")
    ] = False,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", metavar=choices(REPORT_FORMATS), help="Format of the --validate-data report."
        ),
    ] = "table",
    offline: OfflineOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Fine-tune a VQA² model: one stage of the paper's pipeline, on one GPU, many, or the CPU."""
    from ..training.stages import resolve_train_config

    console = start_console(quiet, verbose)
    check_format(fmt, REPORT_FORMATS)
    cfg = resolve_train_config(
        stage,
        config,
        data=_text(data),
        output_dir=_text(output),
        media_root=_text(media_root),
        mos_range=list(mos_range) if mos_range else None,
        engine=engine,
        precision=precision,
        learning_rate=lr,
        vision_tower_lr=vision_lr,
        epochs=epochs,
        max_steps=max_steps,
        grad_accum=grad_accum,
        save_steps=save_steps,
        logging_steps=logging_steps,
        dataloader_workers=workers,
        prompt=prompt,
        unmask_newlines=unmask_newlines,
        gradient_checkpointing=gradient_checkpointing,
    )
    if print_config:
        import yaml

        sys.stdout.write(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        return
    if validate_data:
        raise typer.Exit(_validate(cfg, fmt, console))
    from ..training.run import is_main_process, run_training

    out = run_training(cfg, model, resume=resume, offline=offline, log=console.info)
    if is_main_process():
        console.info(f"Done: vqa2 score --model {out} VIDEO")
        sys.stdout.write(f"{out}\n")


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _validate(cfg, fmt: str, console) -> int:
    from ..errors import ExitCode
    from ..training.run import validate_data

    report = validate_data(cfg)
    for problem in report.problems:
        console.error(problem)
    from ..output.render import make_writer

    writer = make_writer(fmt, sys.stdout, "data_check")
    writer.write(report)
    writer.close()
    return int(ExitCode.USAGE if report.problems else ExitCode.OK)


def register(app: typer.Typer) -> None:
    app.command("train", epilog=EXAMPLES)(train)
