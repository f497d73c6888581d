"""Shared option aliases so every command words its flags the same way, and the one place where
defaults ← model card ← config file ← flags are merged into :class:`~vqa2cli.config.Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..config import Settings, flags_layer, load_config_file, merge_layers
from ..errors import UsageError
from ..registry import ModelRef, resolve_reference

ModelOpt = Annotated[Optional[str], typer.Option(
    "--model", "-m", metavar="MODEL",
    help="Model card name (see `vqa2 models list`), Hub repo id (org/name[@revision]) or local folder.")]
ConfigOpt = Annotated[Optional[Path], typer.Option(
    "--config", metavar="FILE", help="YAML/TOML file of settings (sections model, video, scoring, generation, runtime).")]
DeviceOpt = Annotated[Optional[str], typer.Option(
    "--device", metavar="auto|cuda|cpu|mps", help="Where the model runs. [default: auto]")]
DtypeOpt = Annotated[Optional[str], typer.Option(
    "--dtype", metavar="auto|bf16|fp16|fp32", help="Weights/compute precision. auto = fp16 on CUDA (official), fp32 on CPU.")]
QuantOpt = Annotated[Optional[str], typer.Option(
    "--quant", metavar="none|8bit|4bit", help="Quantize the language model with bitsandbytes (vision, motion and projectors stay unquantized).")]
FormatOpt = Annotated[str, typer.Option(
    "--format", "-f", metavar="table|json|jsonl|csv", help="Output format on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug messages on stderr.")]
OfflineOpt = Annotated[bool, typer.Option(
    "--offline", help="Never contact the Hub; use the local cache only (same as HF_HUB_OFFLINE=1).")]
FailUnderOpt = Annotated[Optional[float], typer.Option(
    "--fail-under", metavar="X", help="Exit 1 when any score is below X (0-1, paper scale): a CI gate.")]
MaxMotionOpt = Annotated[Optional[int], typer.Option(
    "--max-motion-frames", metavar="N", help="Cap on dense motion frames (over it the long-clip policy applies). [card: 2000]")]
StallingStyleOpt = Annotated[str, typer.Option(
    "--stalling-style", metavar="sequence|stats",
    help="How stalling is phrased for the streaming scorer (the two training formats).")]
StrictOpt = Annotated[Optional[bool], typer.Option(
    "--strict/--no-strict", show_default=False,
    help="Partially decoded or damaged inputs are errors (error_code damaged_input, exit 3), not warnings. "
         "[config: video.strict, default: off]")]
PolicyOpt = Annotated[Optional[str], typer.Option(
    "--long-clip", metavar="stride|error", help="Over the motion/token limits: subsample evenly (stride) or fail (error). [default: stride]")]


def check_format(fmt: str, allowed: tuple[str, ...] = ("table", "json", "jsonl", "csv")) -> str:
    if fmt not in allowed:
        raise UsageError(f"unknown --format '{fmt}'", f"use one of: {', '.join(allowed)}")
    return fmt


def resolve_settings(task: str, model: str | None, config: Path | None, **flags) -> tuple[Settings, ModelRef]:
    """defaults ← card ← config file ← flags (``section__key=value``, None = not given)."""
    ref = resolve_reference(model, task)
    file_layer = load_config_file(config) if config else None
    card_layer = dict(ref.card.layer) if ref.card else {}
    model_layer = {**card_layer.get("model", {}), "repo": ref.repo, "revision": ref.revision}
    if ref.local_dir is not None and ref.card is not None and ref.card.path.parent != ref.local_dir:
        model_layer["name"] = str(model)  # a folder without its own card: name it by its path
    card_layer["model"] = model_layer
    settings = merge_layers(card_layer, file_layer, flags_layer(**flags))
    return settings, ref


def model_label(settings: Settings) -> str:
    m = settings.model
    return m.name if m.name == m.repo else f"{m.name} ({m.repo}@{m.revision})"


def start_console(quiet: bool, verbose: bool):
    """The stderr console for this command (--quiet: errors only, --verbose: debug too)."""
    from ..output.console import NORMAL, QUIET, VERBOSE, Console, set_console

    console = Console(QUIET if quiet else VERBOSE if verbose else NORMAL)
    set_console(console)
    return console


def scoring_settings(command: str, model, config, *, prompt, device, dtype, quant, max_motion_frames,
                     long_clip, strict: bool | None = None) -> tuple[Settings, ModelRef]:
    """Settings for the scoring commands (score, batch, eval); refuses a model whose prompt does not score."""
    from ..pipeline.prompts import SCORING_STYLES

    settings, ref = resolve_settings(
        "score", model, config, model__prompt=prompt, runtime__device=device, runtime__dtype=dtype,
        runtime__quant=quant, video__max_motion_frames=max_motion_frames, video__long_clip_policy=long_clip,
        video__strict=strict)
    if settings.model.prompt not in SCORING_STYLES:
        raise UsageError(f"model '{settings.model.name}' uses prompt '{settings.model.prompt}', not a scoring prompt",
                         f"`vqa2 {command}` needs a scorer: pass a scorer --model or --prompt ugc_init")
    return settings, ref


def require_stalling_prompt(settings: Settings, source: str, style: str) -> None:
    """Stalling text only exists in the ``streaming`` prompt: refuse it elsewhere instead of dropping it."""
    if style not in ("sequence", "stats"):
        raise UsageError(f"unknown --stalling-style '{style}'", "use sequence or stats")
    if settings.model.prompt != "streaming":
        raise UsageError(f"{source} needs the 'streaming' prompt, but model '{settings.model.name}' uses "
                         f"'{settings.model.prompt}', which has no stalling text",
                         "use --model streaming-scorer (or --prompt streaming), or leave the stalling out")
