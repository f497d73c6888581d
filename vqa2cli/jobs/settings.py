"""Options → :class:`~vqa2cli.config.Settings` for every front-end (the CLI's flags, the server's request
``options``): the one place where defaults ← model card ← config file ← flags are merged, and the checks a
scoring or stalling option needs. ``cli/options.py`` re-exports these names for its commands."""

from __future__ import annotations

from pathlib import Path

from ..config import STALLING_STYLES, Settings, flags_layer, load_config_file
from ..errors import UsageError
from ..registry import ModelRef, resolve_model


def resolve_settings(task: str, model: str | None, config: Path | None, **flags) -> tuple[Settings, ModelRef]:
    """defaults ← card ← config file ← flags (``section__key=value``, None = not given). Raises UsageError
    (ConfigError, ModelNotFoundError) with one line naming the key or model."""
    file_layer = load_config_file(config) if config else None
    return resolve_model(model, task, file_layer, flags_layer(**flags))


def scoring_settings(
    command: str,
    model,
    config,
    *,
    prompt,
    device,
    dtype,
    quant,
    max_motion_frames,
    long_clip,
    strict: bool | None = None,
    quant_cache: bool | None = None,
    stream: int | None = None,
) -> tuple[Settings, ModelRef]:
    """Settings for the scoring commands (score, batch, eval); refuses a model whose prompt does not score."""
    settings, ref = resolve_settings(
        "score",
        model,
        config,
        model__prompt=prompt,
        runtime__device=device,
        runtime__dtype=dtype,
        runtime__quant=quant,
        runtime__quant_cache=quant_cache,
        video__max_motion_frames=max_motion_frames,
        video__long_clip_policy=long_clip,
        video__strict=strict,
        video__stream=stream,
    )
    require_scoring_prompt(settings, command)
    return settings, ref


def asking_settings(
    model,
    config,
    *,
    max_new_tokens,
    sample,
    temperature,
    device,
    dtype,
    quant,
    quant_cache,
    max_motion_frames,
    long_clip,
    stream: int | None = None,
) -> tuple[Settings, ModelRef]:
    """Settings for ``ask``; ``--temperature`` without sampling is refused (never a silently ignored flag)."""
    settings, ref = resolve_settings(
        "ask",
        model,
        config,
        generation__max_new_tokens=max_new_tokens,
        generation__do_sample=sample or None,
        generation__temperature=temperature,
        runtime__device=device,
        runtime__dtype=dtype,
        runtime__quant=quant,
        runtime__quant_cache=quant_cache,
        video__max_motion_frames=max_motion_frames,
        video__long_clip_policy=long_clip,
        video__stream=stream,
    )
    if temperature is not None and not settings.generation.do_sample:
        raise UsageError(
            "--temperature only applies when sampling",
            "add --sample, or leave --temperature out (decoding is greedy)",
        )
    return settings, ref


def check_fail_under(fail_under: float | None) -> None:
    """``--fail-under`` is on the 0-1 scale (UsageError otherwise)."""
    if fail_under is not None and not 0.0 <= fail_under <= 1.0:
        raise UsageError(
            f"--fail-under must be between 0 and 1, got {fail_under}", "scores are on the 0-1 scale"
        )


def require_scoring_prompt(settings: Settings, command: str) -> None:
    """Refuse a model whose prompt does not score (score, batch, eval and the server's /v1/score)."""
    from ..pipeline.run import check_scoring_prompt

    check_scoring_prompt(
        settings, f"`vqa2 {command}` needs a scorer: pass a scorer --model or --prompt ugc_init"
    )


def require_stalling_prompt(settings: Settings, source: str, style: str) -> None:
    """Stalling text only exists in the ``streaming`` prompt: refuse it elsewhere instead of dropping it."""
    if style not in STALLING_STYLES:
        raise UsageError(f"unknown --stalling-style '{style}'", f"use {' or '.join(STALLING_STYLES)}")
    if settings.model.prompt != "streaming":
        raise UsageError(
            f"{source} needs the 'streaming' prompt, but model '{settings.model.name}' uses "
            f"'{settings.model.prompt}', which has no stalling text",
            "use --model streaming-scorer (or --prompt streaming), or leave the stalling out",
        )


def score_stalling(settings: Settings, stalling: str | None, style: str, window_s: float | None):
    """``--stalling`` (0/1 string, ``@FILE`` or ``none``) → ``prompts.Stalling`` or None, checked against the
    model's prompt and the window plan (a clip's stalling cannot be split into windows). Raises UsageError."""
    from ..pipeline.prompts import parse_stalling

    stall = parse_stalling(stalling, style)
    if stall is not None:
        require_stalling_prompt(settings, "--stalling", style)
        if window_s is not None:
            raise UsageError(
                "--stalling describes the whole clip and cannot be split into windows",
                "leave out --segments (and the options that imply it)",
            )
    return stall
