"""The two-phase run of ``--explain`` (docs/explain.md): score everything, release the scorer, then load the
assistant and explain the selected windows (:mod:`vqa2cli.pipeline.explain`).

Here: the options (:class:`ExplainOptions`), which windows of which records are still to explain
(:func:`selection`, :func:`plan`), the cost said before the assistant runs (:func:`cost_line`), the loop that
asks it (:func:`explain_all`) and the Python API (:func:`explain`). The assistant itself — preflight, the
scorer's release, loading, :class:`ExplainError` (exit 4, the scores kept) — is
:mod:`vqa2cli.jobs.explain_assistant`; ``score --explain`` is :mod:`vqa2cli.jobs.explain_run`, ``batch
--explain`` (the ``--jsonl`` rows read back and appended to) :mod:`vqa2cli.jobs.explain_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Vqa2Error
from .explain_assistant import ExplainError, for_assistant, load_assistant, release

__all__ = ["ExplainError", "ExplainOptions", "cost_line", "explain", "explain_all", "plan", "selection"]


@dataclass(frozen=True)
class ExplainOptions:
    """``--explain`` and its options. ``assistant``: card, Hub id or folder (None = the ``assistant`` card);
    ``quant``: the assistant's precision (``--assistant-quant``, else ``--quant``); ``top``/``below``: the
    selection (pipeline/explain.py); ``question``: ``--explain-question`` (else the assistant card's
    ``generation.explain_question``)."""

    assistant: str | None = None
    question: str | None = None
    top: int | None = None
    below: float | None = None
    quant: str | None = None
    device: str | None = None
    dtype: str | None = None
    max_new_tokens: int | None = None
    config: str | None = None
    offline: bool = False
    settings: Any = None  # the API's nested mapping of overrides (between the config file and the flags)

    def resolve(self):
        """(Settings, ModelRef) of the assistant, without loading: an unknown card or missing folder fails here,
        before anything is scored (UsageError, exit 2)."""
        from ..config import flags_layer, load_config_file
        from ..registry import resolve_model

        if self.top is not None and self.top < 1:
            from ..errors import UsageError

            raise UsageError(f"--explain-top must be at least 1, got {self.top}", "pass K >= 1")
        if self.below is not None and not 0.0 <= self.below <= 1.0:
            from ..errors import UsageError

            raise UsageError(
                f"--explain-below must be between 0 and 1, got {self.below}", "scores are on the 0-1 scale"
            )
        file_layer = load_config_file(self.config) if self.config else None
        flags = flags_layer(
            runtime__device=self.device,
            runtime__dtype=self.dtype,
            runtime__quant=self.quant,
            generation__max_new_tokens=self.max_new_tokens,
            generation__explain_question=self.question,
        )
        try:
            return resolve_model(self.assistant, "ask", file_layer, self.settings, flags)
        except Vqa2Error as exc:  # the registry's fix speaks of --model: here it is --assistant
            exc.fix = for_assistant(exc.fix) if exc.fix else exc.fix
            raise


def selection(settings, options: ExplainOptions, *, fail_under=None, fail_segment_under=None):
    """The :class:`~vqa2cli.pipeline.explain.Selection` of a run; ``settings``: the assistant's."""
    from ..pipeline.explain import Selection

    return Selection(
        top=options.top,
        below=options.below,
        fail_segment_under=fail_segment_under,
        fail_under=fail_under,
        max_windows=settings.generation.explain_max_windows,
    )


def plan(records, sel) -> list[tuple[Any, list]]:
    """(record, targets still to explain) for each record with something to explain."""
    from ..pipeline.explain import missing, select_windows

    todo = []
    for record in records:
        targets = missing(record, select_windows(record, sel))
        if targets:
            todo.append((record, targets))
    return todo


def cost_line(todo, settings) -> str:
    """The cost stated before the assistant runs: forwards (one per window; a short window joined with its
    neighbour may share one) and the bound."""
    n = sum(len(t) for _, t in todo)
    whole = sum(t == [None] for _, t in todo)
    parts = f"{n - whole} window(s)" + (f" and {whole} whole clip(s)" if whole else "")
    return (
        f"explain: {parts} in {len(todo)} file(s): at most {n} assistant forward(s) of up to "
        f"{settings.generation.max_new_tokens} new tokens ({settings.model.label}; at most "
        f"{settings.generation.explain_max_windows} per file: generation.explain_max_windows)"
        + _decode_cost(todo)
    )


def _decode_cost(todo) -> str:
    """The decode cost of the windows: their frames, each decoded from the key frame before it (seeking)."""
    frames = 0
    for record, targets in todo:
        entries = {s["index"]: s for s in record.segments or ()}
        for t in targets:
            if t in entries:
                frames += int(entries[t]["end_frame"]) - int(entries[t]["start_frame"])
    if not frames:
        return ""
    return f"; {frames} frame(s) decoded again, each window from the key frame before it (seeking)"


def explain_all(todo, asker, console, *, on_done=None, question: str | None = None) -> int:
    """Explain each (record, targets) of ``todo`` with ``asker``; ``on_done(record)`` after each file.
    A file that can no longer be read gets a warning (its scores stay). Returns the forwards run."""
    from ..errors import InputError
    from ..pipeline.explain import explain_record

    forwards = 0
    with console.progress(len(todo), "explaining") as advance:
        for record, targets in todo:
            try:
                forwards += explain_record(asker, record, targets, question=question)
            except InputError as exc:
                console.warning(f"{record.path}: not explained: {exc.one_line()}")
            else:
                _warn_truncated(record, console)
                if on_done is not None:
                    on_done(record)
            advance()
    return forwards


def _warn_truncated(record, console) -> None:
    parts = (
        [record.explanation] if record.explanation else [s.get("explanation") for s in record.segments or ()]
    )
    parts = [e for e in parts if e]
    cut = [e for e in parts if e.get("truncated")]
    if cut:
        console.warning(
            f"{record.path}: {len(cut)} of {len(parts)} explanation(s) reached --max-new-tokens "
            f"({cut[0]['new_tokens']}) and are cut short (truncated: true)"
        )
    for note in dict.fromkeys(e["note"] for e in parts if e.get("note")):
        console.info(f"{record.path}: {note}")


def explain(
    records,
    assistant: str | None = None,
    *,
    scorer=None,
    top: int | None = None,
    below: float | None = None,
    fail_under: float | None = None,
    fail_segment_under: float | None = None,
    question: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    quant: str | None = None,
    max_new_tokens: int | None = None,
    config: str | Path | None = None,
    settings=None,
    offline: bool = False,
    asker=None,
) -> int:
    """The Python API of ``--explain``: ask the assistant about the selected windows of ``records`` (the
    ScoreRecords of a scorer; default the worst window of each, see :mod:`vqa2cli.pipeline.explain`) and
    attach each answer in place (``segments[i]["explanation"]``, or ``record.explanation`` for a clip scored
    in one forward). Returns the number of assistant forwards run (one per window asked).

    ``scorer``: released first (:func:`release`: the two 7B models are never held together; the scorer is
    unusable afterwards). ``assistant``: card, Hub id or folder (default the ``assistant`` card), loaded here
    and released at the end, unless a loaded ``asker`` (``vqa2cli.load_assistant``) is given. ``question``
    replaces the card's ``generation.explain_question``; the other arguments as :func:`vqa2cli.load_assistant`.
    Records already explained are not asked again. Raises :class:`ExplainError` when the assistant cannot be
    loaded, UsageError for bad options."""
    from ..output.console import QUIET, Console

    records = list(records)
    if scorer is not None:
        release(scorer)
    options = ExplainOptions(
        assistant=assistant,
        question=question,
        top=top,
        below=below,
        quant=quant,
        device=device,
        dtype=dtype,
        max_new_tokens=max_new_tokens,
        config=str(config) if config else None,
        offline=offline,
        settings=settings,
    )
    resolved, ref = options.resolve()
    todo = plan(
        records, selection(resolved, options, fail_under=fail_under, fail_segment_under=fail_segment_under)
    )
    if not todo:
        return 0
    console = Console(QUIET)  # the API prints nothing but errors; the forwards run are returned
    own = asker is None
    if own:
        asker = load_assistant(resolved, ref, console, offline=offline)
    try:
        return explain_all(todo, asker, console, question=resolved.generation.explain_question)
    finally:
        if own:
            release(asker)
