"""Shared option aliases so every command words its flags the same way, and the one place where
defaults ← model card ← config file ← flags are merged into :class:`~vqa2cli.config.Settings`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import (
    ANSWER_FORMATS,
    CHOICES,
    OUTPUT_FORMATS,
    REPORT_FORMATS,
    SCORING_STYLES,
    STALLING_STYLES,
    Settings,
    shown_default,
)
from ..errors import UsageError
from ..inputs.given import DEFAULT_VARIANT
from ..jobs.settings import (  # noqa: F401 - the commands' names
    require_scoring_prompt,
    require_stalling_prompt,
    resolve_settings,
    scoring_settings,
)


def choices(values: tuple[str, ...], sep: str = "|") -> str:
    """A choice list as --help shows it (metavar ``a|b|c``, or ``a, b, c`` in a sentence)."""
    return sep.join(values)


ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="MODEL",
        help="Model card name (see `vqa2 models list`), Hub repo id (org/name[@revision]) or local folder.",
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="YAML/TOML file of settings (sections model, video, scoring, generation, runtime).",
    ),
]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        metavar="auto|cuda|cpu|mps",
        help=f"Where the model runs. {shown_default('runtime', 'device')}",
    ),
]
DtypeOpt = Annotated[
    str | None,
    typer.Option(
        "--dtype",
        metavar=choices(CHOICES[("runtime", "dtype")]),
        help="Weights/compute precision. auto = fp16 on CUDA (official); CPU: bf16 where native, else fp32 if it fits, else bf16.",
    ),
]
QuantOpt = Annotated[
    str | None,
    typer.Option(
        "--quant",
        metavar=choices(CHOICES[("runtime", "quant")]),
        help="Quantize the language model with bitsandbytes (vision, motion and projectors stay unquantized). "
        f"auto: none, else 8bit, else 4bit, whichever first fits the memory preflight. {shown_default('runtime', 'quant')}",
    ),
]
QuantCacheOpt = Annotated[
    bool | None,
    typer.Option(
        "--quant-cache/--no-quant-cache",
        help="Keep 8/4-bit weights once quantized (in $HF_HOME/vqa2/quantized) and read them on later loads "
        "instead of quantizing again; --no-quant-cache quantizes at every load and writes nothing. "
        f"Config: runtime.quant_cache. {shown_default('runtime', 'quant_cache')}",
    ),
]
FormatOpt = Annotated[
    str, typer.Option("--format", "-f", metavar=choices(OUTPUT_FORMATS), help="Output format on stdout.")
]
AnswerFormatOpt = Annotated[
    str, typer.Option("--format", "-f", metavar=choices(ANSWER_FORMATS), help="Output format on stdout.")
]
ReportFormatOpt = Annotated[
    str, typer.Option("--format", "-f", metavar=choices(REPORT_FORMATS), help="Output format on stdout.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug messages on stderr.")]
OfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline", help="Never contact the Hub; use the local cache only (same as HF_HUB_OFFLINE=1)."
    ),
]
FailUnderOpt = Annotated[
    float | None,
    typer.Option(
        "--fail-under", metavar="X", help="Exit 1 when any score is below X (0-1, paper scale): a CI gate."
    ),
]
MaxMotionOpt = Annotated[
    int | None,
    typer.Option(
        "--max-motion-frames",
        metavar="N",
        help="Cap on dense motion frames (over it the long-clip policy applies). "
        f"{shown_default('video', 'max_motion_frames', 'card')}",
    ),
]
StallingStyleOpt = Annotated[
    str,
    typer.Option(
        "--stalling-style",
        metavar=choices(STALLING_STYLES),
        help="How stalling is phrased for the streaming scorer (the two training formats).",
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        metavar="URL",
        help="Run on a `vqa2 serve` server instead of loading the model here "
        "(or set VQA2_SERVER; the token comes from VQA2_TOKEN).",
    ),
]
ServerPathsOpt = Annotated[
    bool,
    typer.Option(
        "--server-paths",
        help="With --server: send file paths instead of uploading (the server reads them under its --allow-root).",
    ),
]
VariantOpt = Annotated[
    str | None,
    typer.Option(
        "--variant",
        metavar="highest|lowest|all|N|HEIGHTp",
        help="HLS/DASH manifests: the video variant read: highest (the highest bandwidth), lowest, all "
        "(each its own record), N (the Nth video variant listed, from 0) or HEIGHTp, e.g. 720p "
        f"(docs/inputs.md). [default: {DEFAULT_VARIANT}]",
        show_default=False,
    ),
]
OneVariantOpt = Annotated[  # ask, batch, compare FILE...: one variant per manifest (score --variant all for each)
    str | None,
    typer.Option(
        "--variant",
        metavar="highest|lowest|N|HEIGHTp",
        help="HLS/DASH manifests: the one video variant read: highest (the highest bandwidth), lowest, N (the "
        "Nth video variant listed, from 0) or HEIGHTp, e.g. 720p; every variant: vqa2 score --variant all "
        f"(docs/inputs.md). [default: {DEFAULT_VARIANT}]",
        show_default=False,
    ),
]
ScoringPromptOpt = Annotated[
    str | None,
    typer.Option(
        "--prompt", metavar="STYLE", help=f"Scoring prompt style: {choices(SCORING_STYLES, ', ')}. [card]"
    ),
]
StrictOpt = Annotated[
    bool | None,
    typer.Option(
        "--strict/--no-strict",
        show_default=False,
        help="Partially decoded or damaged inputs are errors (error_code damaged_input, exit 3), not warnings. "
        f"Config: video.strict. {shown_default('video', 'strict')}",
    ),
]
StreamOpt = Annotated[
    int | None,
    typer.Option(
        "--stream",
        metavar="N",
        show_default=False,
        help="The container's index of the video stream to read (as ffprobe numbers streams; the record's "
        "input.stream_index says which was read); -1: ffmpeg's default choice. "
        f"Config: video.stream. {shown_default('video', 'stream')}",
    ),
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--long-clip",
        metavar=choices(CHOICES[("video", "long_clip_policy")]),
        help="Over the motion/token limits: score in windows and pool them (segments), subsample evenly into one "
        f"forward (stride) or fail (error). {shown_default('video', 'long_clip_policy')}",
    ),
]

AskPolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--long-clip",
        metavar=choices(CHOICES[("video", "long_clip_policy")]),
        help="Over the motion/token limits: subsample evenly into one forward (segments or stride: the question is about the whole clip; --segments asks window by window) or fail (error). [default: segments]",
    ),
]


def check_format(fmt: str, allowed: tuple[str, ...] = OUTPUT_FORMATS) -> str:
    if fmt not in allowed:
        raise UsageError(f"unknown --format '{fmt}'", f"use one of: {', '.join(allowed)}")
    return fmt


def model_label(settings: Settings) -> str:
    return settings.model.label


def start_console(quiet: bool, verbose: bool):
    """The stderr console for this command (--quiet: errors only, --verbose: debug too)."""
    from ..output.console import NORMAL, QUIET, VERBOSE, Console, set_console
    from ..output.library_logs import route_library_messages

    console = Console(QUIET if quiet else VERBOSE if verbose else NORMAL)
    set_console(console)
    route_library_messages(console)
    return console


def refuse_with_server(quant_cache: bool | None) -> None:
    """``--[no-]quant-cache`` with ``--server``: the server loaded its model already (its own setting)."""
    if quant_cache is not None:
        raise UsageError(
            "--quant-cache/--no-quant-cache apply to a local load, not to --server",
            "leave it out, or start the server with `vqa2 serve --no-quant-cache`",
        )
