"""``/v1/score`` with ``options.explain`` (docs/explain.md): a server started with ``--assistant`` explains the
selected windows of each scored file with the assistant it already holds, in the model thread, before the
record is returned (``vqa2 score --server URL --explain`` sends it).

``options.explain`` is ``true`` or an object with any of ``top`` (int ≥ 1), ``below``, ``fail_under``,
``fail_segment_under`` (0-1), ``question`` (str), ``max_new_tokens`` (int): the selection and question of
:mod:`vqa2cli.pipeline.explain`. Anything else is HTTP 422; a server without an assistant answers 404
``no_assistant``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .requests import ApiError

KEYS = {
    "top": int,
    "below": float,
    "fail_under": float,
    "fail_segment_under": float,
    "question": str,
    "max_new_tokens": int,
}


@dataclass(frozen=True)
class ExplainRequest:
    settings: Any  # the assistant's Settings for this request (question, max_new_tokens applied)
    selection: Any  # pipeline.explain.Selection


def take_explain(state, body: dict[str, Any], task: str) -> ExplainRequest | None:
    """Remove ``explain`` from the request's ``options`` (the option resolver does not know it) and validate
    it; None when not asked for. Raises ApiError (422 bad value, 404 no assistant)."""
    options = body.get("options")
    if not isinstance(options, dict) or "explain" not in options:
        return None
    raw = options.pop("explain")
    if raw is None or raw is False:
        return None
    if task != "score":
        raise ApiError(422, "usage", "'explain' applies to /v1/score only", 2)
    raw = {} if raw is True else raw
    if not isinstance(raw, dict):
        raise ApiError(422, "usage", "'explain' must be true or an object", 2)
    for key, value in raw.items():
        kind = KEYS.get(key)
        if kind is None:
            raise ApiError(422, "usage", f"unknown explain option '{key}' (use {', '.join(KEYS)})", 2)
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
            raise ApiError(422, "usage", f"explain option '{key}' must be {kind.__name__}, got {value!r}", 2)
    if "ask" not in state.sessions:
        raise ApiError(
            404,
            "no_assistant",
            "this server has no assistant to explain with (start it with `vqa2 serve --assistant MODEL`)",
            2,
        )
    return _request(state.sessions["ask"].settings, raw)


def _request(settings, raw: dict[str, Any]) -> ExplainRequest:
    from ..errors import UsageError
    from ..pipeline.explain import Selection

    changes = {
        k: v
        for k, v in (("explain_question", raw.get("question")), ("max_new_tokens", raw.get("max_new_tokens")))
        if v is not None
    }
    try:
        if changes:
            settings = settings.replace(generation=changes)
        for key in ("below", "fail_under", "fail_segment_under"):
            if key in raw and not 0.0 <= raw[key] <= 1.0:
                raise UsageError(f"explain option '{key}' must be between 0 and 1, got {raw[key]}")
        if "top" in raw and raw["top"] < 1:
            raise UsageError(f"explain option 'top' must be at least 1, got {raw['top']}")
    except UsageError as exc:
        raise ApiError(422, "usage", exc.one_line(), 2) from exc
    selection = Selection(
        top=raw.get("top"),
        below=raw.get("below"),
        fail_under=raw.get("fail_under"),
        fail_segment_under=raw.get("fail_segment_under"),
        max_windows=settings.generation.explain_max_windows,
    )
    return ExplainRequest(settings, selection)


def explain_scored(state, record, request: ExplainRequest | None):
    """Explain ``record``'s selected windows with the server's assistant (model thread); returns the record."""
    if request is None or not record.ok:
        return record
    from ..pipeline.explain import explain_record, select_windows

    base = state.sessions["ask"]
    asker = type(base)(request.settings, base.loaded)  # the same weights, this request's question/length
    explain_record(asker, record, select_windows(record, request.selection))
    return record


def client_options(options: dict[str, Any], explaining, *, fail_under=None, fail_segment_under=None) -> None:
    """``score --server URL --explain``: put ``explain`` into the request's ``options``; the server's own
    assistant is used (``--assistant``/``--assistant-quant`` are refused: they choose a local model)."""
    if explaining is None:
        return
    from ..errors import UsageError

    if explaining.assistant is not None or explaining.quant not in (None, options.get("quant")):
        raise UsageError(
            "--assistant/--assistant-quant choose a local assistant, not the server's",
            "leave them out: the server explains with the assistant it was started with",
        )
    raw = {
        "top": explaining.top,
        "below": explaining.below,
        "question": explaining.question,
        "max_new_tokens": explaining.max_new_tokens,
        "fail_under": fail_under,
        "fail_segment_under": fail_segment_under,
    }
    options["explain"] = {k: v for k, v in raw.items() if v is not None} or True
