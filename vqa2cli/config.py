"""Resolved settings: frozen dataclasses merged in one order.

Precedence (later wins): dataclass defaults ← model card ← ``--config`` file ← command-line flags.
Every layer is a nested mapping ``{section: {key: value}}``; unknown sections or keys raise
:class:`~vqa2cli.errors.ConfigError` with a close-match suggestion, and values are type-checked and
range-checked: each numeric setting declares its range once, beside its default (``ranged(default, lo, hi)``),
and a value outside it (NaN and ±inf included) is one ConfigError line naming the key, the range and the value.
``Settings.to_dict()`` is what every output and checkpoint records as ``config``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: ``lo ≤ v ≤ hi`` (``lo < v`` when ``lo_open``); never NaN/inf."""

    lo: float
    hi: float
    lo_open: bool = False

    def __contains__(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return (value > self.lo if self.lo_open else value >= self.lo) and value <= self.hi

    def __str__(self) -> str:
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}]"


def ranged(default: Any, lo: float, hi: float, *, lo_open: bool = False) -> Any:
    """A setting's default with its allowed range, declared together (``merge_layers`` checks every layer's
    value against it, each element for a tuple): ``max_tokens: int = ranged(10000, 512, 131_072)``."""
    return field(default=default, metadata={"range": Range(lo, hi, lo_open)})


def setting_range(section: str, key: str) -> Range | None:
    """The declared :class:`Range` of ``section.key``, or None for settings without one (strings, bools)."""
    return {f.name: f.metadata.get("range") for f in dataclasses.fields(SECTION_CLASSES[section])}.get(key)


@dataclass(frozen=True)
class ModelSection:
    """Which weights, which task, which prompt."""

    name: str = "ugc-scorer"  # card name, or the reference the user gave
    repo: str = "q-future/VQA-UGC-Scorer-llava_qwen"  # Hub repo id or local folder
    revision: str = "main"
    task: str = "score"  # score | ask
    prompt: str = "ugc_init"  # one of PROMPT_STYLES (texts in pipeline/prompts.py)
    motion_layout: str = "plain"  # plain | duplicated (QI assistant: motion tokens appear twice)
    attn_implementation: str = "eager"  # official SigLIP/Qwen2 use eager attention
    description: str = ""

    @property
    def motion_copies(self) -> int:
        """How often the motion block appears in the prompt: 2 for ``duplicated`` (QI assistant, spec §2)."""
        return 2 if self.motion_layout == "duplicated" else 1

    @property
    def label(self) -> str:
        """The model as messages name it: the card name, plus repo@revision when the reference is not the repo."""
        return self.name if self.name == self.repo else f"{self.name} ({self.repo}@{self.revision})"


@dataclass(frozen=True)
class VideoSection:
    """How frames are sampled and sized (spec §3)."""

    keyframe_size: int = ranged(384, 14, 4096)  # SigLIP input side, PIL bicubic, aspect not kept
    motion_size: int = ranged(
        384, 32, 4096
    )  # SlowFast input side; official weights were trained at 384 (spec §12)
    motion_norm: str = "siglip"  # siglip (mean=std=0.5) | kinetics (0.45/0.225)
    keyframe_fps: float = ranged(
        1.0, 0, 240, lo_open=True
    )  # official: 1 fps, r = round(avg_fps), indices range(0, n, r)
    max_motion_frames: int = ranged(2000, 4, 100_000)  # rows of the motion position table
    max_tokens: int = ranged(10000, 512, 131_072)  # official hard truncation of the spliced sequence
    strict: bool = False  # partially decoded or damaged inputs are errors (damaged_input, exit 3)
    long_clip_policy: str = (
        "segments"  # segments | stride | error: what to do over max_motion_frames/max_tokens
    )
    decode_threads: int = ranged(0, 0, 256)  # 0 = let FFmpeg choose
    resize: str = (
        "torch"  # torch (PIL's bicubic as torch implements it, ≤0.1 level from PIL) | sws | pil (official)
    )
    # Motion frames: every k-th frame. 1 = all frames cut to a multiple of 4 (later official scripts,
    # training); 8 = the paper's UGC evaluation script (spec §3).
    motion_frame_step: int = ranged(1, 1, 1000)
    # window length (s) of long_clip_policy segments and --segments auto (video/segments.py)
    segment_s: float = ranged(10.0, 0, 86_400, lo_open=True)
    # the container's index of the video stream to score; -1 = the ffmpeg CLI's default choice (highest
    # resolution, a default-disposition bonus; cover art never: video/probe.py best_video_stream)
    stream: int = ranged(-1, -1, 65_535)


@dataclass(frozen=True)
class ScoringSection:
    """Level words and the weights of the paper's score (spec §5, §12)."""

    levels: tuple[str, ...] = (" high", " good", " fair", " poor", " low")
    weights: tuple[float, ...] = ranged((1.0, 0.75, 0.5, 0.25, 0.0), 0, 1)  # each weight; score stays 0-1
    pool: str = "weighted_mean"  # what `score` means for a clip scored in windows (pipeline/pooling.py)


@dataclass(frozen=True)
class GenerationSection:
    """Decoding for ``vqa2 ask``: greedy by default, reproducible."""

    max_new_tokens: int = ranged(512, 1, 32_768)
    do_sample: bool = False
    temperature: float = ranged(0.2, 0, 100, lo_open=True)
    top_p: float = ranged(1.0, 0, 1, lo_open=True)
    repetition_penalty: float = ranged(1.05, 0, 100, lo_open=True)
    # `score --explain` (docs/explain.md): the assistant's question about each selected window, and the most
    # windows explained per file (the cost bound: one assistant forward each, the lowest windows kept)
    explain_question: str = (
        "Which distortions does this video show (blur, blocking, ringing, noise, banding, "
        "flicker, stutter, exposure, colour), and where in the video do they appear?"
    )
    explain_max_windows: int = ranged(8, 1, 10_000)


@dataclass(frozen=True)
class RuntimeSection:
    """Device and precision."""

    device: str = "auto"  # auto | cuda | cpu | mps (cuda:N accepted)
    dtype: str = (
        "auto"  # auto | bf16 | fp16 | fp32 ; auto = fp16 on CUDA (official), CPU: modeling/precision.py
    )
    quant: str = (
        "auto"  # auto | none | 8bit | 4bit (bitsandbytes; language model only); auto: what fits (preflight)
    )
    quant_cache: bool = (
        True  # keep 8/4-bit weights once quantized and read them on later loads (modeling/quant_cache.py)
    )


@dataclass(frozen=True)
class Settings:
    model: ModelSection = field(default_factory=ModelSection)
    video: VideoSection = field(default_factory=VideoSection)
    scoring: ScoringSection = field(default_factory=ScoringSection)
    generation: GenerationSection = field(default_factory=GenerationSection)
    runtime: RuntimeSection = field(default_factory=RuntimeSection)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        out = dataclasses.asdict(self)
        for section in out.values():
            for key, value in section.items():
                if isinstance(value, tuple):
                    section[key] = list(value)
        return out

    def replace(self, **sections: Mapping[str, Any]) -> Settings:
        """A copy with some keys changed: ``s.replace(runtime={"dtype": "fp32"})``."""
        return merge_layers(self.to_dict(), sections)


# Choice lists, each declared once: config validation, the commands' --help and option checks read these.
PROMPT_STYLES = ("ugc_init", "ugc_head", "streaming", "streaming_official_eval", "assistant", "qbench")
SCORING_STYLES = PROMPT_STYLES[:4]  # the styles whose answer prefix is followed by a level word
STALLING_STYLES = ("sequence", "stats")  # how the streaming prompt phrases stalling (spec §8)
DTYPES = {
    "bf16": "bfloat16",
    "fp16": "float16",
    "fp32": "float32",
}  # --dtype name → torch attribute (the one map)
OUTPUT_FORMATS = ("table", "json", "jsonl", "csv", "vmaf-json")  # per-record output of score/ask
ANSWER_FORMATS = OUTPUT_FORMATS[
    :4
]  # ask: vmaf-json (libvmaf's log layout, output/vmaf.py) is for scores only
REPORT_FORMATS = ("table", "json")  # one-report output of eval/probe/models list/train --validate-data

CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("model", "task"): ("score", "ask"),
    ("model", "prompt"): PROMPT_STYLES,
    ("model", "motion_layout"): ("plain", "duplicated"),
    ("model", "attn_implementation"): ("eager", "sdpa"),
    ("video", "motion_norm"): ("siglip", "kinetics"),
    ("video", "long_clip_policy"): ("segments", "stride", "error"),
    ("scoring", "pool"): ("weighted_mean", "mean", "min", "max", "harmonic_mean", "p5"),
    ("video", "resize"): ("torch", "sws", "pil"),
    ("runtime", "dtype"): ("auto", *DTYPES),
    ("runtime", "quant"): ("auto", "none", "8bit", "4bit"),
}

SECTIONS = {f.name: f.type for f in dataclasses.fields(Settings)}
SECTION_CLASSES: dict[str, Any] = {f.name: f.default_factory for f in dataclasses.fields(Settings)}


def declared_default(section: str, key: str) -> Any:
    """The dataclass default of ``section.key`` (before any card, file or flag)."""
    return {f.name: f.default for f in dataclasses.fields(SECTION_CLASSES[section])}[key]


def shown_default(section: str, key: str, label: str = "default") -> str:
    """``[default: V]`` for --help, rendered from the declaration (``label="card"``: a model card may set
    it). Booleans read on/off, floats as ``%g``. Help text quotes no default by hand (tests/test_declarations.py)."""
    value = declared_default(section, key)
    text = (
        ("on" if value else "off")
        if isinstance(value, bool)
        else f"{value:g}"
        if isinstance(value, float)
        else str(value)
    )
    return f"[{label}: {text}]"


def _section_types(name: str) -> dict[str, Any]:
    return typing.get_type_hints(SECTION_CLASSES[name])


def suggest_key(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(options))}"


def coerce_value(where: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{where}' must be a list, got {value!r}")
        inner = typing.get_args(hint)[0]
        return tuple(coerce_value(where, v, inner) for v in value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{where}' must be true or false, got {value!r}")
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"config key '{where}' must be {getattr(hint, '__name__', hint)}, got {value!r}")


def merge_layers(*layers: Mapping[str, Any] | None) -> Settings:
    """Merge nested mappings over the defaults, later layers winning; validate every key."""
    merged: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for layer in layers:
        for section, values in (layer or {}).items():
            if section not in SECTIONS:
                raise ConfigError(f"unknown config section '{section}'", suggest_key(section, list(SECTIONS)))
            if not isinstance(values, Mapping):
                raise ConfigError(f"config section '{section}' must be a table of keys")
            types = _section_types(section)
            for key, value in values.items():
                if key not in types:
                    raise ConfigError(f"unknown config key '{section}.{key}'", suggest_key(key, list(types)))
                if value is None:
                    continue
                merged[section][key] = coerce_value(f"{section}.{key}", value, types[key])
    for section, values in merged.items():
        for key, value in values.items():
            _check_range(section, key, value)
    for (section, key), allowed in CHOICES.items():
        value = merged[section].get(key)
        if value is not None and value not in allowed:
            raise ConfigError(
                f"config key '{section}.{key}' must be one of {', '.join(allowed)}, got '{value}'"
            )
    built = {name: SECTION_CLASSES[name](**vals) for name, vals in merged.items()}
    _check_scoring(built["scoring"])
    return Settings(**built)


def _check_range(section: str, key: str, value: Any) -> None:
    """ConfigError naming the key, its declared range and the value, when ``value`` (or an element) is outside."""
    bounds = setting_range(section, key)
    if bounds is None:
        return
    for item in value if isinstance(value, tuple) else (value,):
        if item not in bounds:
            what = "a finite number in" if not math.isfinite(item) else "in"
            raise ConfigError(f"config key '{section}.{key}' must be {what} {bounds}, got {value!r}")


def _check_scoring(scoring: ScoringSection) -> None:
    """The meaning of ``scoring``: as many weights as level words (at least 2), every level word one word
    (a leading space allowed, as the Qwen2 tokens are spelled) and no word twice: records key ``probs`` by
    the stripped word, so a repeated one would merge two probabilities (whether each is one *token* of the
    model's tokenizer is checked at model load: pipeline/scoring.py ``level_token_ids``)."""
    if len(scoring.levels) != len(scoring.weights) or len(scoring.levels) < 2:
        raise ConfigError("scoring.levels and scoring.weights must have the same length (at least 2)")
    seen: dict[str, str] = {}
    for word in scoring.levels:
        if not isinstance(word, str) or not word.strip() or len(word.split()) != 1:
            raise ConfigError(
                f"config key 'scoring.levels' must hold single words, got {word!r}",
                'use one word per level, e.g. " high"',
            )
        if word.strip() in seen:
            raise ConfigError(
                f"config key 'scoring.levels' names the level word {word.strip()!r} twice "
                f"({seen[word.strip()]!r} and {word!r})",
                "give every level its own word",
            )
        seen[word.strip()] = word


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or TOML config file into a nested mapping (validated later by merge_layers)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: config file not found", "check the --config path")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{p}: config file is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})",
            "save it as UTF-8",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{p}: cannot read config file: {exc.strerror or exc}", "check the --config path"
        ) from None
    try:
        if p.suffix.lower() == ".toml":
            from .registry import toml_module

            data = toml_module().loads(text)
        else:
            import yaml

            data = yaml.safe_load(text) or {}
    except Exception as exc:  # parse errors of either library
        raise ConfigError(f"{p}: cannot parse config file: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a config file must be a mapping of sections")
    return data


def flags_layer(**flags: Any) -> dict[str, dict[str, Any]]:
    """Turn ``section__key=value`` keyword flags into a layer, dropping unset (None) flags."""
    layer: dict[str, dict[str, Any]] = {}
    for dotted, value in flags.items():
        if value is None:
            continue
        section, key = dotted.split("__", 1)
        layer.setdefault(section, {})[key] = value
    return layer
