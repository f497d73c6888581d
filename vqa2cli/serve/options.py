"""Request options → :class:`~vqa2cli.config.Settings`, through the CLI's own resolution and checks.

A request's ``options`` object uses the CLI's option names (``--max-motion-frames`` → ``max_motion_frames``).
Each table below maps an option to its Settings key (``section__key``, as ``jobs.settings.resolve_settings``
takes it) or to ``None`` for options the route reads itself; adding an option to the server is one line
here. Settings are built by the same ``resolve_settings`` / ``require_scoring_prompt`` /
``segment_options`` / ``parse_duration`` / ``parse_stalling`` calls as ``vqa2 score`` and ``vqa2 ask``,
so every exit-code-2 case of the CLI is an HTTP 422 here with the same one-line message. ``segments``
takes what ``--segments`` takes (``"10s"``, ``"auto"``; a bare number is seconds). The weights are fixed
at server start: ``model``, ``device``, ``dtype`` and ``quant`` are accepted only when they name what
the server already runs.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

SCORE_OPTIONS: dict[str, str | None] = {
    "prompt": "model__prompt",
    "max_motion_frames": "video__max_motion_frames",
    "long_clip": "video__long_clip_policy",
    "strict": "video__strict",
    "stream": "video__stream",
    "stalling": None,
    "stalling_style": None,
    "segments": None,  # --segments DURATION|auto (jobs/windows.py segment_options)
    "pool": None,  # --pool (folded into scoring.pool by segment_options)
}
ASK_OPTIONS: dict[str, str | None] = {
    "max_new_tokens": "generation__max_new_tokens",
    "sample": "generation__do_sample",
    "temperature": "generation__temperature",
    "max_motion_frames": "video__max_motion_frames",
    "long_clip": "video__long_clip_policy",
    "stream": "video__stream",
    "segments": None,  # ask --segments DURATION|auto: one answer per window
}
FIXED_OPTIONS = ("model", "device", "dtype", "quant")  # fixed at start; accepted when they match
TASK_OPTIONS = {"score": SCORE_OPTIONS, "ask": ASK_OPTIONS}


@dataclass(frozen=True)
class Resolved:
    """A request's Settings plus what is not a setting (the stalling of a streaming scorer, the window)."""

    settings: Any  # config.Settings
    stalling: Any = None  # prompts.Stalling | None
    window_s: float | None = None  # segments: window length in seconds; None = windows only past the limits


@dataclass
class OptionResolver:
    """Resolves request options for one task against the server's start flags (cached per option set).

    ``model``/``config``/``runtime``: what ``vqa2 serve`` was started with (``runtime`` holds
    ``runtime__device``/``runtime__dtype``/``runtime__quant`` flags). ``loaded``: the LoadedModel once
    weights are in memory (to accept ``device``/``dtype``/``quant`` options that name it)."""

    task: str
    model: str | None
    config: Path | None
    runtime: dict[str, Any]
    loaded: Any = None
    _cache: dict[str, Resolved] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def base(self):
        """(Settings, ModelRef) with no request options: what the server loads. Raises UsageError."""
        from ..jobs.settings import require_scoring_prompt, resolve_settings

        settings, ref = resolve_settings(self.task, self.model, self.config, **self.runtime)
        if self.task == "score":
            require_scoring_prompt(settings, "serve")
        return settings, ref

    def resolve(self, options: Any) -> Resolved:
        """Validate ``options`` (a JSON object) and build its Settings; UsageError with the CLI's message."""
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise UsageError(
                "'options' must be a JSON object of CLI option names", 'e.g. {"max_motion_frames": 500}'
            )
        key = json.dumps(options, sort_keys=True, default=str)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        try:
            resolved = self._resolve(options)
        except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:  # a value of the wrong kind
            raise UsageError(
                f"invalid options: {type(exc).__name__}: {exc}",
                "give each option the value its CLI flag takes",
            ) from None
        with self._lock:
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[key] = resolved
        return resolved

    def _resolve(self, options: dict[str, Any]) -> Resolved:
        from ..jobs.settings import require_scoring_prompt, resolve_settings

        table = TASK_OPTIONS[self.task]
        for name in options:
            if name not in table and name not in FIXED_OPTIONS:
                known = ", ".join(sorted([*table, *FIXED_OPTIONS]))
                raise UsageError(f"unknown option '{name}' for /v1/{self.task}", f"known options: {known}")
        self._check_fixed(options)
        flags = {table[k]: v for k, v in options.items() if k in table and table[k] is not None}
        if self.task == "ask" and flags.get("generation__do_sample") is False:
            flags["generation__do_sample"] = None  # the CLI passes `--sample or None`
        settings, _ = resolve_settings(self.task, self.model, self.config, **self.runtime, **flags)
        if self.task != "score":
            return Resolved(settings, window_s=_ask_window(settings, options.get("segments")))
        require_scoring_prompt(settings, "score")
        return _score_windows(settings, options)

    def _check_fixed(self, options: dict[str, Any]) -> None:
        from ..registry import resolve_reference

        settings, ref = self.base()
        if options.get("model") is not None:
            asked = resolve_reference(str(options["model"]), self.task)
            if _where(asked) != _where(ref):
                raise UsageError(
                    f"this server runs {settings.model.name} ({ref.repo}@{ref.revision}), not "
                    f"{options['model']}; a request cannot load other weights",
                    "drop --model, or send the request to a server started with that model",
                )
        loaded = self.loaded
        served = {
            "device": {"auto", settings.runtime.device} | _device_names(loaded),
            "dtype": {"auto", settings.runtime.dtype} | ({_dtype(loaded)} if loaded else set()),
            "quant": {settings.runtime.quant} | ({loaded.quant} if loaded else set()),
        }
        for name, allowed in served.items():
            value = options.get(name)
            if value is not None and value not in allowed:
                raise UsageError(
                    f"this server runs with {name} {sorted(allowed - {'auto'})[0]}, not {value}",
                    f"drop --{name}, or start a server with --{name} {value}",
                )


def _score_windows(settings, options: dict[str, Any]) -> Resolved:
    """``segments``/``pool``/``stalling`` checked as ``vqa2 score`` checks them (jobs/windows.py, jobs/settings.py), same lines."""
    from ..jobs.windows import segment_options

    segments, pool = _duration(options.get("segments")), options.get("pool")
    if pool is not None and not isinstance(pool, str):
        raise UsageError(f"--pool must be a string, got {pool!r}", 'e.g. {"pool": "p5"}')
    settings, plan = segment_options(settings, segments=segments, pool=pool)
    stall = _stalling(settings, options.get("stalling"), options.get("stalling_style"), plan.window_s)
    return Resolved(settings, stall, plan.window_s)


def _ask_window(settings, segments: Any) -> float | None:
    """``ask --segments``: the window in seconds (``auto``: the card's ``video.segment_s``), as ``vqa2 ask``."""
    from ..video.segments import window_seconds

    segments = _duration(segments)
    if segments is None:
        return None
    return window_seconds(segments, settings.video)


def _duration(value: Any) -> str | None:
    """A ``segments`` value as ``--segments`` text: a string, or a number of seconds (JSON ``10``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    raise UsageError(
        f'--segments must be a duration such as "10s" or "auto", got {value!r}', 'e.g. {"segments": "10s"}'
    )


def _stalling(settings, value: Any, style: Any, window_s: float | None):
    """The request's ``stalling`` type-checked, then checked as ``vqa2 score --stalling`` (jobs/settings.py)."""
    from ..jobs.settings import score_stalling

    style = "sequence" if style is None else style
    if value is not None and not isinstance(value, str):
        raise UsageError(
            "--stalling must be 'none', a string of 0/1 per frame, or @FILE", "e.g. --stalling 0000011110000"
        )
    if not isinstance(style, str):
        raise UsageError(f"unknown --stalling-style '{style}'", "use sequence or stats")
    if isinstance(value, str) and value.strip().startswith("@"):
        raise UsageError("stalling @FILE is read by the client, not the server", "send the 0/1 string itself")
    return score_stalling(settings, value, style, window_s)


def _where(ref) -> tuple[str, str]:
    import os

    if ref.local_dir is not None:
        return os.path.realpath(ref.local_dir), "local"
    return ref.repo, ref.revision


def _device_names(loaded) -> set[str]:
    if loaded is None:
        return set()
    device = loaded.device
    return {str(device), device.type} | ({f"{device.type}:0"} if device.index in (None, 0) else set())


def _dtype(loaded) -> str:
    from ..pipeline.run import dtype_name

    return dtype_name(loaded.dtype)
