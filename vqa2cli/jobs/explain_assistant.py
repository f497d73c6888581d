"""The assistant of ``--explain`` (docs/explain.md), one model at a time: :func:`preflight_assistant` says before
anything is scored whether it can come and fit, :func:`release` drops the scorer (phase 1 ends),
:func:`load_assistant` loads the assistant (phase 2) or fails in one line with the fix (:class:`ExplainError`,
exit 4: the scores are kept), and :func:`doctor_verdict` is ``vqa2 doctor``'s view of the pair.

The scorer and the assistant are separate 7B checkpoints: the two are never held together. :func:`release`
drops the session's model and tokenizer, runs ``gc.collect()`` and, on CUDA, ``torch.cuda.empty_cache()``;
the assistant then loads with its own memory preflight.
"""

from __future__ import annotations

from typing import Any

from ..errors import ExitCode, Vqa2Error


class ExplainError(Vqa2Error):
    """The explain step failed (the assistant could not be loaded): the scores are written, exit 4."""

    exit_code = ExitCode.RUNTIME


def release(session) -> None:
    """Drop ``session``'s model (a Scorer/Asker) and free its memory: ``gc.collect()`` and, on CUDA,
    ``torch.cuda.empty_cache()``. The session is unusable afterwards."""
    import gc

    if session is None:
        return
    session.model = session.tokenizer = session.loaded = None
    for name in ("_prefix", "last_thumbnails"):
        if hasattr(session, name):
            setattr(session, name, None)
    gc.collect()
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_assistant(settings, ref, console, *, offline: bool = False, clips=None):
    """Load the assistant (phase 2). Raises :class:`ExplainError` (one line with the fix, exit 4)."""
    from ..pipeline.asking import Asker

    console.info(f"Loading {settings.model.label} to explain ...")
    try:
        asker = Asker.load(settings, ref, offline=offline, clips=clips)
    except Vqa2Error as exc:
        raise ExplainError(
            f"explain: the assistant '{settings.model.label}' cannot be loaded: {exc.message}",
            for_assistant(exc.fix or "") + "; the scores are written, run again with the assistant "
            "available (`vqa2 models pull assistant`, or --assistant FOLDER)",
        ) from exc
    for line in asker.memory_lines:
        console.info(line)
    return asker


def for_assistant(fix: str) -> str:
    """A fix written for the scorer's ``--model`` (modeling/hub.py, modeling/loading.py) said of the assistant:
    every message about the assistant names ``--assistant``."""
    return fix.replace("--model", "--assistant")


def unavailable_assistant(ref, label: str, *, offline: bool) -> None:
    """Raise :class:`ExplainError` when the assistant's weights cannot be had without scoring first being
    wasted: a local folder that is not there, or no cached copy while the Hub is off by flag (``--offline``,
    ``HF_HUB_OFFLINE``). Returns when they are here, or may still be downloaded."""
    from ..modeling.hub import hub_offline

    name = (
        ref.card.name if ref.card is not None and ref.card.repo == ref.repo else f"{ref.repo}@{ref.revision}"
    )
    if ref.local_dir is not None:
        raise ExplainError(
            f"explain: the assistant folder {ref.local_dir} is not a folder",
            "check the path given to --assistant; nothing was scored",
        )
    if offline or hub_offline():
        why = "--offline is set" if offline else "HF_HUB_OFFLINE is set"
        raise ExplainError(
            f"explain: the assistant '{label}' is not cached and {why}",
            f"nothing was scored; run `vqa2 models pull {name}` on a connected machine and copy its Hugging Face "
            "cache here, or pass a local folder with --assistant /path/to/checkpoint",
        )


def preflight_assistant(settings, ref, console, *, offline: bool = False, clips=None) -> None:
    """Before anything is scored: the assistant's memory preflight (shard headers only, modeling/precision.py)
    when its weights are here, its line on stderr. The two models are never held together, so each must fit
    alone (the larger of the two is the run's peak). One that cannot fit or is missing offline is said at
    once: one that cannot fit is a warning (the scores still come, then the explain step fails, exit 4); one
    that cannot come at all (a missing ``--assistant`` folder, or not cached while ``--offline`` or
    ``HF_HUB_OFFLINE`` is set) raises :class:`ExplainError` (exit 4) here, before anything is scored."""
    from ..modeling.hub import cached_folder
    from ..modeling.loading import read_config, resolve_device
    from ..modeling.memory import read_tensor_specs
    from ..modeling.precision import plan_memory

    label = settings.model.label
    folder = cached_folder(ref)
    if folder is None:
        unavailable_assistant(ref, label, offline=offline)  # raises when it cannot come: nothing scored
        console.info(f"explain: the assistant '{label}' is not cached: it is downloaded after scoring")
        return
    try:
        config = read_config(folder, settings.model.attn_implementation)
        plan = plan_memory(
            read_tensor_specs(folder),
            config,
            settings,
            resolve_device(settings.runtime.device),
            clips=clips,
            source=str(folder),
        )
    except Vqa2Error as exc:
        console.warning(
            f"explain: {exc.one_line()}; the scores will be written, then the explain step fails (exit 4)"
        )
        return
    console.info(f"explain: the assistant loads after the scorer is released (never both): {plan.note}")


def doctor_verdict(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``vqa2 doctor``'s ``explain`` entry from its ``models`` rows: ``score --explain`` holds the default scorer
    (``ugc-scorer``) and then the default assistant (``assistant``), one at a time, so it fits when each fits
    alone; ``verdict`` is the worse of the two (``not cached`` when either is missing)."""
    from ..registry import DEFAULT_CARD_FOR_TASK

    order = ["fits", "fits with 8-bit", "fits with 4-bit", "does not fit"]
    names = {"scorer": DEFAULT_CARD_FOR_TASK["score"], "assistant": DEFAULT_CARD_FOR_TASK["ask"]}
    by_name = {r["name"]: r for r in rows}
    verdicts = []
    for name in names.values():
        pre = (by_name.get(name) or {}).get("preflight")
        verdicts.append(pre["verdict"] if pre else "not cached")
    worst = (
        "not cached"
        if "not cached" in verdicts
        else max(verdicts, key=lambda v: order.index(v) if v in order else 3)
    )
    return {**names, "sequential": True, "verdict": worst}
