"""`score --explain`: which parts of a scored file the assistant is asked about, and the asking.

Selection (:func:`select_windows`, pure): for a file scored in windows, by default its worst window; with
``fail_segment_under`` every window below it (none when the file passed); ``top`` K = the K lowest windows,
``below`` Y = every window under Y. A file scored in one forward has one part, the whole clip: asked by
default, or only when its score is under ``below`` / ``fail_under`` when one is given. At most
``max_windows`` parts per file (the lowest kept): the cost is one assistant forward (one ``generate``) per
part, stated before any is run.

Asking (:func:`explain_record`): only the selected windows are decoded again, by seeking to the key frame
before each (:class:`~vqa2cli.video.seek.SeekStream`: the same frames as the
:class:`~vqa2cli.video.decode.WindowStream` that scored them; the full pass from the start when seeking
cannot be trusted, said in the explanation's ``note``), planned with the assistant's own token budget
(its prompt and question are longer than the scorer's). Each window is asked through
:meth:`~vqa2cli.pipeline.asking.Asker.answer` (greedy unless the assistant's ``generation.do_sample``). A window
shorter than the assistant's frame rule (fewer than ``max(4, key-frame step)`` frames) is asked together
with its neighbour (the previous window, else the next), and its explanation says so in ``note``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Selection:
    """Which parts of a record to explain (see the module docstring); scores are 0-1."""

    top: int | None = None  # --explain-top K
    below: float | None = None  # --explain-below Y
    fail_segment_under: float | None = None  # --fail-segment-under (the windows that fail the gate)
    fail_under: float | None = None  # --fail-under (a clip scored in one forward)
    max_windows: int = 8  # generation.explain_max_windows of the assistant: the per-file bound


def select_windows(record, selection: Selection) -> list[int | None]:
    """The window indices (the ``index`` of ``record.segments`` entries, ascending) to explain; ``[None]``
    = the whole clip (a record without windows); ``[]`` = nothing (an error record, or nothing selected)."""
    if not record.ok or record.score is None:
        return []
    if not record.segments:
        if selection.top is not None:
            return [None] if selection.top > 0 else []
        limit = selection.below if selection.below is not None else selection.fail_under
        return [None] if limit is None or record.score < limit else []
    ranked = sorted(record.segments, key=lambda s: (s["score"], s["index"]))
    if selection.top is not None:
        chosen = ranked[: selection.top]
    elif selection.below is not None or selection.fail_segment_under is not None:
        limit = selection.below if selection.below is not None else selection.fail_segment_under
        chosen = [s for s in ranked if s["score"] < limit]
    else:
        chosen = ranked[:1]
    return sorted(s["index"] for s in chosen[: max(0, selection.max_windows)])


def missing(record, targets: list[int | None]) -> list[int | None]:
    """The targets that carry no explanation yet (a resumed run asks only these)."""
    if targets == [None]:
        return [] if getattr(record, "explanation", None) else [None]
    have = {s["index"] for s in record.segments or () if s.get("explanation")}
    return [t for t in targets if t not in have]


@dataclass
class Span:
    """Frames ``[start, stop)`` asked about once, and the windows (``targets``) whose explanation it is."""

    start: int
    stop: int
    start_s: float
    end_s: float
    targets: list[int] = field(default_factory=list)
    note: str | None = None


def plan_spans(segments: list[dict[str, Any]], targets: list[int], min_frames: int) -> list[Span]:
    """The spans to ask about for ``targets`` (window indices of ``segments``), ascending and disjoint: a
    window under ``min_frames`` frames is joined with its neighbour (previous, else next); overlapping
    spans are merged into one question."""
    entries = sorted(segments, key=lambda s: s["start_frame"])
    position = {s["index"]: i for i, s in enumerate(entries)}
    spans: list[Span] = []
    for index in targets:
        i = position[index]
        own, note = entries[i], None
        first = last = own
        if own["end_frame"] - own["start_frame"] < min_frames and len(entries) > 1:
            neighbour = entries[i - 1] if i > 0 else entries[i + 1]
            first, last = (neighbour, own) if i > 0 else (own, neighbour)
            note = (
                f"window {index} has {own['end_frame'] - own['start_frame']} frames, under the assistant's "
                f"{min_frames}: explained together with its neighbour, window {neighbour['index']}"
            )
        spans.append(
            Span(first["start_frame"], last["end_frame"], first["start_s"], last["end_s"], [index], note)
        )
    spans.sort(key=lambda s: s.start)
    merged: list[Span] = []
    for span in spans:
        if merged and span.start < merged[-1].stop:
            last = merged[-1]
            last.stop, last.end_s = max(last.stop, span.stop), max(last.end_s, span.end_s)
            last.targets += span.targets
            last.note = "; ".join(n for n in (last.note, span.note) if n) or None
        else:
            merged.append(span)
    return merged


def explanation(asker, answer, question: str, span: Span | None = None) -> dict[str, Any]:
    """The ``explanation`` object of a window entry or a record: the answer's text, the question, the
    assistant's model id (card name, repo, revision), ``truncated`` (the answer reached
    ``generation.max_new_tokens``), ``new_tokens``, and for a window the span asked (seconds)."""
    info, gen = asker.model_info, asker.settings.generation
    new_tokens = int(answer.generation.get("new_tokens", 0))
    out: dict[str, Any] = {
        "text": answer.answer,
        "question": question,
        "model": info.name,
        "repo": info.repo,
        "revision": info.revision,
        "truncated": new_tokens >= gen.max_new_tokens,
        "new_tokens": new_tokens,
    }
    if span is not None:
        out["asked_s"] = [span.start_s, span.end_s]
        if span.note:
            out["note"] = span.note
    return out


def explain_record(
    asker, record, targets: list[int | None], *, question: str | None = None, info=None
) -> int:
    """Ask ``asker`` (an :class:`~vqa2cli.pipeline.asking.Asker`) about ``targets`` of ``record`` (from
    :func:`select_windows`) and attach each answer: ``record.explanation`` for the whole clip, the
    ``explanation`` key of each window entry otherwise. ``question``: default the assistant's
    ``generation.explain_question``; ``info``: the file's probe when the caller has it. Returns the number
    of assistant forwards run (one per span). Raises InputError subclasses (the file changed or is gone)."""
    question = question or asker.settings.generation.explain_question
    if not targets:
        return 0
    if targets == [None]:
        clip = asker.decode(record.path, question=question, info=info)
        answer = asker.answer(clip, record.path, question, reuse_prefix=False)
        record.explanation = explanation(asker, answer, question)
        return 1
    from ..video.decode import probe_video
    from ..video.sampling import keyframe_step
    from ..video.seek import SeekStream

    info = info or probe_video(record.path, key_sizes=False)
    video = asker.settings.video
    min_frames = max(4, keyframe_step(info.avg_fps, video.keyframe_fps))
    spans = plan_spans(record.segments, [t for t in targets if t is not None], min_frames)
    windows = _windows(asker, info, spans, question)
    entries = {s["index"]: s for s in record.segments}
    asked = 0
    seeker = SeekStream(info, windows, video, video.resize, clean=_clean(record, info))
    for window, clip in seeker:
        span = spans[windows.index(window)]
        answer = asker.answer(clip, record.path, question, reuse_prefix=False)
        asked += 1
        for index in span.targets:
            entries[index]["explanation"] = explanation(asker, answer, question, span)
            if seeker.fallback:  # say why the window was decoded from the start of the file
                note = f"decoded from the start of the file, not by seeking: {seeker.fallback}"
                old = entries[index]["explanation"].get("note")
                entries[index]["explanation"]["note"] = f"{old}; {note}" if old else note
        del clip
    return asked


def _clean(record, info) -> bool:
    """Whether the file decoded whole and undamaged when it was scored (seeking then finds the same frames)."""
    got = getattr(record, "input", None) or {}
    decoded = got.get("decoded_frames")
    return not got.get("damaged_frames") and (decoded is None or decoded == info.n_frames)


def _windows(asker, info, spans: list[Span], question: str) -> list:
    """One :class:`~vqa2cli.video.segments.Window` per span, sampled by the official rule on the span's
    frames with the assistant's token budget for ``question``."""
    from ..video.sampling import plan_sampling, tokens_per_keyframe
    from ..video.segments import Window, offset_plan

    video = asker.settings.video
    budget, copies = asker.visual_limits(question=question)
    windows = []
    for span in spans:
        plan = plan_sampling(
            span.stop - span.start,
            info.avg_fps,
            keyframe_fps=video.keyframe_fps,
            max_motion_frames=video.max_motion_frames,
            token_budget=budget,
            tokens_per_keyframe=tokens_per_keyframe(video.keyframe_size),
            motion_copies=copies,
            policy="stride",
            source=info.path,
        )
        windows.append(
            Window(
                span.targets[0],
                span.start,
                span.stop,
                span.start_s,
                span.end_s,
                offset_plan(plan, span.start),
            )
        )
    return windows
