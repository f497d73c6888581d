"""The two-phase run of ``--explain`` (docs/explain.md): score everything, release the scorer, then load the
assistant and explain the selected windows (:mod:`vqa2cli.pipeline.explain`).

The scorer and the assistant are separate 7B checkpoints: the two are never held together. Phase 1 ends
with :func:`release` (the session's model and tokenizer dropped, ``gc.collect()``, and
``torch.cuda.empty_cache()`` on CUDA); phase 2 loads the assistant with its own memory preflight. When the
assistant cannot be loaded (not cached and offline, no such folder, out of memory) the scores are kept and
phase 2 fails in one line with the fix: :class:`ExplainError`, exit 4.

``batch --explain`` (:func:`explain_rows`) explains after its files are scored: it reads the ``--jsonl``
rows back (the last row of a path is current), explains what is selected and not yet explained, and appends
each explained file's record as a new row (to ``--csv`` too): a run killed between (or during) the phases
and resumed explains only what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ExitCode, Vqa2Error


class ExplainError(Vqa2Error):
    """The explain step failed (the assistant could not be loaded): the scores are written, exit 4."""

    exit_code = ExitCode.RUNTIME


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
    from ..pipeline.run import Asker

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


def record_from_dict(d: dict[str, Any]):
    """A :class:`~vqa2cli.records.results.ScoreRecord` back from its JSON object (a ``--jsonl`` row)."""
    from ..records.cells import path_from_fields
    from ..records.results import ModelInfo, ScoreRecord

    error = d.get("error") or {}
    return ScoreRecord(
        path=path_from_fields(d["path"], d.get("path_bytes")),  # a non-UTF-8 name: its own bytes again
        status=d.get("status", "ok"),
        score=d.get("score"),
        probs=d.get("probs"),
        level=d.get("level"),
        model=ModelInfo(**d["model"]) if d.get("model") else None,
        input=d.get("input") or {},
        sampling=d.get("sampling") or {},
        timing=d.get("timing") or {},
        peak_gpu_mem_gb=d.get("peak_gpu_mem_gb"),
        segments=d.get("segments"),
        pooled=d.get("pooled"),
        worst=d.get("worst"),
        explanation=d.get("explanation"),
        warnings=d.get("warnings") or [],
        error_code=error.get("code"),
        error=error.get("message"),
        config=d.get("config"),
    )


def read_rows(jsonl: str) -> list:
    """The current record of every path in a ``--jsonl`` file (its last row), in first-seen order."""
    from ..records.cells import path_from_fields
    from .resume import path_key

    current: dict[str, dict] = {}
    if not Path(jsonl).exists():
        return []
    with open(jsonl, encoding="utf-8", errors="surrogateescape") as fh:
        for line in fh:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and "path" in d:
                current[path_key(path_from_fields(d["path"], d.get("path_bytes")))] = d
    return [record_from_dict(d) for d in current.values()]


def explain_rows(
    job, settings, ref, options: ExplainOptions, console, *, windows=None, scorer_settings=None, clips=None
) -> ExplainError | None:
    """``batch --explain``, phase 2: the current rows of ``job.jsonl`` (a resumed run's included) with a
    selected window not yet explained are explained and appended as the file's new row to the job's outputs
    (``--jsonl`` and ``--csv``), and each explained window's row to ``--segments-csv``
    (``windows``: the SegmentPlan; ``scorer_settings`` name its columns), under the outputs' lock. Returns
    the ExplainError when the assistant cannot be loaded (the score rows stay), else None."""
    from .lock import locked_outputs
    from .windows import SegmentPlan

    windows = windows if windows is not None else SegmentPlan()
    todo = plan(
        read_rows(job.jsonl),
        selection(
            settings, options, fail_under=job.fail_under, fail_segment_under=windows.fail_segment_under
        ),
    )
    if not todo:
        console.info("explain: every selected window is explained")
        return None
    console.info(cost_line(todo, settings))
    try:
        asker = load_assistant(settings, ref, console, offline=options.offline, clips=clips)
    except ExplainError as exc:
        return exc
    specs = job.outputs()
    tidy = windows.csv
    try:
        with locked_outputs([s.path for s in specs] + ([tidy] if tidy else []), console.warning):
            rows, window_rows = _appender(specs), _window_rows(windows, scorer_settings, console)

            def done(record) -> None:
                rows.write(record, ())
                if window_rows is not None:
                    window_rows.explained(record)

            try:
                forwards = explain_all(todo, asker, console, on_done=done)
            finally:
                rows.close()
                if window_rows is not None:
                    window_rows.close()
    finally:
        release(asker)
    console.info(
        f"explain: {forwards} assistant forward(s) run; explained rows appended to "
        f"{', '.join(s.path for s in specs)}"
    )
    return None


def _window_rows(windows, settings, console):
    """The ``--segments-csv`` of a batch, appended to (jobs/windows.py), or None."""
    if not windows.csv or settings is None:
        return None
    from .windows import SegmentOutputs, SegmentPlan

    return SegmentOutputs(SegmentPlan(csv=windows.csv), settings, console, append=True, durable=True)


def _appender(specs):
    """RowFiles appending to the job's outputs in this version's columns (the score phase refused any other
    CSV header: jobs/resume.py)."""
    from .engine import score_row_writer
    from .rowfiles import RowFiles

    return RowFiles(
        [s.path for s in specs], [s.fmt for s in specs], append=True, make_writer=score_row_writer
    )


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
