"""Score a clip window by window (``--segments``, or ``long_clip_policy = segments`` over the limits).

:class:`SegmentingScorer` is a :class:`~vqa2cli.pipeline.run.Scorer` whose ``prepare`` decides, per clip,
between the single official forward (unchanged numbers) and windows:

* ``window_s`` set (``--segments 10s``): always windows, even for a clip shorter than one window (then one
  window, which is exactly the single forward);
* otherwise windows of ``video.segment_s`` only when the clip is over the model's limits (2000 motion frames
  or the token budget) and ``video.long_clip_policy`` is ``segments`` (the default); ``stride`` and
  ``error`` keep their single-forward behaviour.

For windows, ``prepare`` only probes and plans (cheap, safe in decode worker threads); ``run`` decodes in
one streaming pass (:func:`~vqa2cli.video.decode.decode_windows`) and runs each window's forward as soon as
its frames are decoded, so memory holds one window's frames and tensors at a time. Each window's entry goes
to ``on_window(path, entry, file_stat)`` as soon as it is scored (tidy CSV rows, flushed per window).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..records.results import ScoreRecord, official_scale
from ..records.spread import window_spread
from .inputs import build_inputs
from .pooling import pool_scores, pooled_probs
from .run import PreparedClip, Scorer, _file_stat, _input_section

THUMBNAIL_PX = 96  # side of the worst window's key-frame thumbnails kept for --plot


@dataclass
class SegmentedPrep:
    """What ``prepare`` hands ``run`` for a windowed clip: the undecoded stream and why it is windowed."""

    stream: Any  # video.decode.WindowStream
    window_s: float
    reason: str  # "requested" (--segments) or "over-limits" (long_clip_policy segments)
    thumbnails: list = field(default_factory=list)


class SegmentingScorer(Scorer):
    window_s: float | None = None  # --segments DURATION (seconds); None: windows only over the limits
    on_window: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = None
    keep_thumbnails: bool = False  # keep the worst window's key frames (``last_thumbnails``) for --plot
    last_thumbnails: Sequence[Any] = ()  # the last record's worst-window key frames (set by ``configure``)

    def configure(self, *, window_s: float | None = None, on_window=None, keep_thumbnails: bool = False):
        """Set the window length, the per-window callback and whether to keep thumbnails; returns self."""
        self.window_s, self.on_window, self.keep_thumbnails = window_s, on_window, keep_thumbnails
        self.last_thumbnails: list = []
        return self

    def prepare(self, path: str | Path, *, stalling=None, info=None) -> PreparedClip:
        from ..video.decode import decode_windows
        from ..video.probe import probe_video

        start = time.perf_counter()
        if info is not None and self.settings.video.stream not in (-1, info.stream_index):
            info = None  # probed for another stream (a preflight without the setting)
        # both decodes below see every frame's size
        info = info or probe_video(path, key_sizes=False, stream=self.settings.video.stream)
        window_s, reason = self._window_for(info, stalling)
        if window_s is None:
            clip = self.decode(path, stalling=stalling, info=info)
            inputs = build_inputs(self.tokenizer, self.model.config, self.settings, clip, stalling=stalling)
            return PreparedClip(str(path), clip, inputs, time.perf_counter() - start)
        budget, copies = self.visual_limits(stalling=stalling)
        stream = decode_windows(
            path, self.settings.video, window_s, token_budget=budget, motion_copies=copies, info=info
        )
        return PreparedClip(
            str(path), SegmentedPrep(stream, window_s, reason), None, time.perf_counter() - start
        )

    def _window_for(self, info, stalling) -> tuple[float | None, str]:
        from ..video.planning import choose_window

        if self.window_s is None and stalling is not None:  # stalling flags are per clip
            return None, ""
        budget, copies = self.visual_limits(stalling=stalling)
        return choose_window(
            info, self.settings.video, token_budget=budget, motion_copies=copies, requested=self.window_s
        )

    def run(self, prepared: PreparedClip) -> ScoreRecord:
        self.last_thumbnails = []
        if not isinstance(prepared.clip, SegmentedPrep):
            return super().run(prepared)
        from .scoring import score_from_logits
        from .stages import StageTimer

        prep, entries, notes = prepared.clip, [], []
        worst_score, thumbs, peaks = None, [], []
        levels, weights = self.settings.scoring.levels, self.settings.scoring.weights
        stat = _file_stat(prepared.path)
        timer = StageTimer(self.model)  # stage seconds summed over the windows (hooks fire in forwards only)
        for window, clip in prep.stream:
            inputs = build_inputs(self.tokenizer, self.model.config, self.settings, clip)
            started = time.perf_counter()
            with timer:
                result = score_from_logits(self.level_logits(inputs, timer), levels, weights)
            entry = _entry(window, clip, result, time.perf_counter() - started)
            entry["spread"] = window_spread(result.probs, weights)  # records/spread.py
            entries.append(entry)
            peaks.append(self._peak_memory())
            notes.extend(f"window {window.index}: {n}" for n in clip.warnings)
            if self.keep_thumbnails and (worst_score is None or result.score < worst_score):
                worst_score, thumbs = result.score, _thumbnails(clip)
            if self.on_window is not None:
                self.on_window(prepared.path, entry, stat)
            del clip, inputs
        self.last_thumbnails = thumbs
        if not entries:
            from ..errors import DecodeFailedError

            raise DecodeFailedError(
                prepared.path, "no window could be decoded", "the file is truncated or damaged"
            )
        record = self._record(prepared, prep, entries, notes, timer.seconds)
        record.peak_gpu_mem_gb = max(peaks) if peaks[0] is not None else None  # the largest window's peak
        return record

    def _record(self, prepared: PreparedClip, prep: SegmentedPrep, entries, notes, stages) -> ScoreRecord:
        """The clip's record from its windows' ``entries``; ``stages``: StageTimer seconds summed over them."""
        info, settings = prep.stream.info, self.settings
        durations = [e["end_s"] - e["start_s"] for e in entries]
        pooled = pool_scores([e["score"] for e in entries], [d if d > 0 else 1e-9 for d in durations])
        probs = pooled_probs([e["probs"] for e in entries], [d if d > 0 else 1e-9 for d in durations])
        low = min(entries, key=lambda e: e["score"])
        windows = prep.stream.windows
        sampling = {
            "keyframes": sum(e["keyframes"] for e in entries),
            "motion_frames": sum(e["motion_frames"] for e in entries),
            "keyframe_step": windows[0].plan.keyframe_step,
            "motion_stride": max(w.plan.motion_stride for w in windows),
            "policy": f"segments:{len(entries)}",
            "notes": list(dict.fromkeys(notes)),
            "window_s": prep.window_s,
            "window_frames": windows[0].n_frames if len(windows) > 1 else info.n_frames,
            "segments_reason": prep.reason,
            "long_clip_policy": settings.video.long_clip_policy,
            "pool": settings.scoring.pool,
            "keyframe_size": settings.video.keyframe_size,
            "motion_size": settings.video.motion_size,
            "resize": settings.video.resize,
        }
        warnings = list(dict.fromkeys([*prep.stream.warnings, *notes]))
        if rounded := _rounded_window(info, prep.window_s, windows, settings.video.keyframe_fps):
            sampling["notes"].append(rounded)
            warnings.append(rounded)
        if prep.reason == "over-limits":
            from ..video.segments import span_text

            warnings.insert(
                0,
                f"over the model's limits for one forward ({info.n_frames} frames): scored in "
                f"{len(entries)} windows of {span_text(windows[: len(entries)])} "
                "(long_clip_policy segments)",
            )
        return ScoreRecord(
            path=prepared.path,
            score=pooled[settings.scoring.pool],
            probs=probs,
            level=max(probs, key=probs.get),
            model=self.model_info,
            input=_input_section(prepared.path, prep.stream),
            sampling=sampling,
            timing={
                **self._take_startup(),
                "decode_s": prepared.prepare_s + sum(e["decode_s"] for e in entries),
                **stages,
                "infer_s": sum(e["infer_s"] for e in entries),
            },
            warnings=warnings,
            config=settings.to_dict(),
            segments=entries,
            pooled=pooled,
            worst={k: low[k] for k in ("index", "start_s", "end_s", "score", "level")},
        )


def _entry(window, clip, result, infer_s: float) -> dict[str, Any]:
    """One window's record entry (the ``segments`` items of the JSON schema)."""
    return {
        "index": window.index,
        "start_s": window.start_s,
        "end_s": window.end_s,
        "start_frame": window.start,
        "end_frame": window.stop,
        "score": round(result.score, 6),
        "official_score": round(official_scale(result.score), 6),
        "level": result.level,
        "probs": {k: round(v, 6) for k, v in result.probs.items()},
        "keyframes": len(clip.plan.keyframe_indices),
        "motion_frames": len(clip.plan.motion_indices),
        "policy": clip.plan.policy,
        "decode_s": round(clip.decode_s, 4),
        "infer_s": round(infer_s, 4),
    }


def _thumbnails(clip) -> list:
    """The window's key frames shrunk to about THUMBNAIL_PX (plain subsampling: for display only)."""
    keys = clip.keyframes
    step = max(1, keys.shape[1] // THUMBNAIL_PX)
    return [keys[i, ::step, ::step].copy() for i in range(min(len(keys), 12))]


def ask_windows(asker, path: str | Path, window_s: float, *, question: str | None = None, info=None):
    """``ask --segments``: the :class:`~vqa2cli.video.decode.WindowStream` of ``path`` sized for ``asker``'s
    model and its longest ``question``; iterate it and hand each window's clip to ``Asker.answer`` (the
    same per-clip answering path as a whole clip). ``info``: the file's probe when the caller has it.
    Raises ``InputError`` subclasses."""
    from ..video.decode import decode_windows

    budget, copies = asker.visual_limits(question=question)
    return decode_windows(
        str(path), asker.settings.video, window_s, token_budget=budget, motion_copies=copies, info=info
    )


def segment_tag(window) -> dict[str, Any]:
    """The ``segment`` field of an answer record: which window, which time range (seconds)."""
    return {"index": window.index, "start_s": window.start_s, "end_s": window.end_s}


VFR_SPAN_TOLERANCE = 0.1  # a VFR window within 10 % of the length asked is "as asked" (cut within a frame)


def _rounded_window(info, window_s: float, windows, keyframe_fps: float) -> str | None:
    """The note when whole key-frame steps made the windows differ from the length asked by more than half a
    frame (``--segments 1.5s`` at 25 fps: 2 s windows of 50 frames), else None. Constant frame rate only: a
    VFR clip is cut by presentation time at multiples of the length asked (video/segments.py)."""
    if info.vfr and len(windows) > 1:
        from ..video.segments import span_text

        spans = [w.duration_s for w in windows]
        if (
            max(abs(d - window_s) for d in spans[:-1]) > VFR_SPAN_TOLERANCE * window_s
        ):  # sparse frames: boundaries far from w * window_s
            return (
                f"windows span {span_text(windows)} (cut at the first frame shown after each multiple "
                f"of {window_s:g} s: sparse or variable-rate frames), not the {window_s:g} s asked"
            )
        return None
    if info.vfr or len(windows) < 2 or not info.avg_fps or info.avg_fps <= 0:
        return None
    frames = windows[0].n_frames
    actual = frames / info.avg_fps
    if abs(actual - window_s) <= 0.5 / info.avg_fps:
        return None
    step = windows[0].plan.keyframe_step
    return (
        f"windows of {actual:.3g} s ({frames} frames: whole key-frame steps of {step} frames at "
        f"{info.avg_fps:g} fps, {keyframe_fps:g} key frame/s), not the {window_s:g} s asked"
    )
