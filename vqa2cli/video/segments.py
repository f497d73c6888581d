"""Cut a long clip into windows scored one by one: pure index arithmetic beside :mod:`.sampling`.

A window is a run of whole frames ``[start, stop)`` in decode (= presentation) order. Windows tile the clip:
every frame belongs to exactly one window. Inside a window the key and dense frames are exactly the official
rule applied to the window as if it were a clip (``plan_sampling(stop - start, ...)``), with the indices
offset by ``start``; so a clip exactly one window long gets today's single forward, and a window scored as a
segment gets the same indices (and the same probabilities) as a file holding just its frames.

Window length. ``L = k · r`` frames, ``r`` the key-frame step (``round(avg_fps)`` at 1 fps) and
``k = max(1, round(window_s / (r / avg_fps)))`` key-frame steps: windows start on multiples of ``r``, so the
key frames of every window sit on the clip's official 1 fps indices ``range(0, n, r)``. At 29.97 fps
``--segments 10s`` gives ``L = 300`` frames (10.01 s).

Presentation time. A constant-frame-rate clip is cut at ``w · L`` (by index: windows start on the official
1 fps key-frame indices). A variable-frame-rate clip is cut by presentation time: boundary ``w`` is the
first frame shown at or after ``w · window_s`` seconds, not moved (snapping it to a multiple of ``r``, a
frame-count step at the *average* rate, moved cuts by up to half a second or more where the rate differs
from the average: ``--segments 1s`` on 25-then-8 fps gave 0.68 s and 1.36 s windows); boundaries that
collide are dropped. Inside each window the key frames follow the official rule on the window's frames.
A VFR tail shown for less than one key-frame interval (``1 / keyframe_fps`` s), or half the window when
that is shorter, joins the previous window.
A window's ``start_s``/``end_s`` are its first frame's presentation time and the next window's (the clip's
duration for the last): on a sparse clip a window can span far more than ``window_s``, and the records and
messages give that real span (:func:`span_text`). A window shown for no time (a last frame without a
duration, frames sharing a timestamp) is never emitted: it joins its neighbour.

Short last window. The frames after the last boundary form the last window. When they are fewer than ``r``
(under one key-frame interval, about a second) and a previous window exists, they are merged into it: a
score from less than a second of video, with one key frame, is noise, and a merged window is at most one
key-frame step longer than the others. A clip shorter than one window is one window: the whole clip.

Motion frames follow the window's own rule: all its frames cut to a multiple of 4, so up to 3 frames at the
end of each window are seen by the key-frame branch only (as the official rule drops them at a clip's end).
A window over the motion table (e.g. 10 s at 240 fps) is strided within itself (``stride:s``).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..errors import UsageError
from .sampling import SamplingPlan, keyframe_step, plan_sampling

TIME_EPSILON_S = 1e-6  # presentation times rounded from a timebase: 2.9999999 s is at 3 s
AUTO_WINDOW_S = 10.0  # the model card's window when it names none: LSVQ training clips are mostly 5-12 s


@dataclass(frozen=True)
class Window:
    """One window of a clip: frames ``[start, stop)`` (decode order) shown from ``start_s`` to ``end_s``."""

    index: int
    start: int  # first frame index in the clip
    stop: int  # one past the last frame index
    start_s: float  # seconds from the first frame's presentation time
    end_s: float
    plan: SamplingPlan  # the official rule on the window's frames, indices into the *clip* (offset by start)

    @property
    def n_frames(self) -> int:
        return self.stop - self.start

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


DURATION_FORMS = (
    "seconds (90, 2.5), units s/ms/m/h alone or combined (10s, 1500ms, 1.5m, 2h, 1m30s, 1h2m3s), "
    "ffmpeg's [HH:]MM:SS[.ms] (01:30, 00:01:30.5) or auto"
)
_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_UNITS = re.compile(rf"(?:{_NUMBER}h)?(?:{_NUMBER}m(?!s))?(?:{_NUMBER}s)?(?:{_NUMBER}ms)?")
_CLOCK = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)")  # ffmpeg's time duration syntax


def parse_duration(text: str) -> float | None:
    """A window duration as media engineers type it → seconds; ``"auto"`` → ``None``.

    Accepted (case and spaces ignored): plain seconds ``90``, ``2.5``; units ``h``, ``m``, ``s``, ``ms``
    alone or combined in that order (``10s``, ``1.5m``, ``2h``, ``1m30s``, ``1h2m3.5s``, ``1500ms``); and
    ffmpeg's time-duration syntax ``[HH:]MM:SS[.m...]`` (``01:30``, ``00:01:30.500``; MM and SS under 60,
    as ``av_parse_time``). Raises :class:`UsageError` (exit 2, one line naming these forms) for anything
    else and for zero or negative durations.
    """
    value = "".join(str(text).split()).lower()
    if value == "auto":
        return None
    seconds = None
    if re.fullmatch(_NUMBER, value):
        seconds = float(value)
    elif (clock := _CLOCK.fullmatch(value)) and int(clock.group(2)) < 60 and float(clock.group(3)) < 60:
        seconds = int(clock.group(1) or 0) * 3600 + int(clock.group(2)) * 60 + float(clock.group(3))
    elif value and (units := _UNITS.fullmatch(value)) and any(units.groups()):
        h, m, s, ms = (float(g or 0) for g in units.groups())
        seconds = h * 3600 + m * 60 + s + ms / 1000
    if seconds is None:
        raise UsageError(f"cannot read --segments window duration '{text}'", f"use {DURATION_FORMS}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"--segments duration must be positive, got '{text}'", "use e.g. --segments 10s")
    return seconds


def window_seconds(text: str | None, video) -> float:
    """``--segments TEXT`` → the window in seconds (``auto``, or ``None`` for the long-clip policy's windows:
    the card's ``video.segment_s``).

    A window shorter than one key-frame step (``1 / video.keyframe_fps`` s, 1 s at the official 1 fps)
    cannot hold a key frame of its own: refused (UsageError, exit 2, naming the flag or the config key)
    rather than silently rounded up to one step. Longer windows are rounded to whole key-frame steps
    (:func:`window_frames`) and the records give each window's real ``start_s``/``end_s``.
    """
    seconds = parse_duration(text) if text is not None else None
    where = f"--segments {text}"
    if seconds is None:
        seconds, where = video.segment_s, f"video.segment_s = {video.segment_s:g}"
    step_s = 1.0 / video.keyframe_fps
    if seconds < step_s * (1 - 1e-9):
        raise UsageError(
            f"{where}: a window of {seconds:g} s is shorter than one key-frame step "
            f"({step_s:g} s at {video.keyframe_fps:g} key frame/s)",
            f"use a window of {step_s:g}s or longer",
        )
    return seconds


def window_frames(avg_fps: float, window_s: float, keyframe_fps: float = 1.0) -> int:
    """``L = k · r``: the window length in frames, a whole number (at least 1) of key-frame steps."""
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be positive, got {window_s!r}")
    step = keyframe_step(avg_fps, keyframe_fps)
    return step * max(1, round(window_s * avg_fps / step))


def _boundaries(
    n_frames: int, avg_fps: float, window_s: float, keyframe_fps: float, frame_times: Sequence[float] | None
) -> list[int]:
    """Window start indices (the first is 0), before the short-tail rule."""
    if frame_times is None:
        return list(range(0, n_frames, window_frames(avg_fps, window_s, keyframe_fps)))
    if len(frame_times) != n_frames:
        raise ValueError(f"frame_times has {len(frame_times)} entries for {n_frames} frames")
    starts = [0]
    for w in range(1, math.ceil(frame_times[-1] / window_s) + 1):
        first = bisect.bisect_left(frame_times, w * window_s - TIME_EPSILON_S)
        if starts[-1] < first < n_frames:
            starts.append(first)
    return starts


def plan_windows(
    n_frames: int,
    avg_fps: float,
    window_s: float,
    *,
    frame_times: Sequence[float] | None = None,
    duration_s: float | None = None,
    **sampling,
) -> tuple[Window, ...]:
    """Tile ``n_frames`` frames into windows of about ``window_s`` seconds (module docstring).

    ``frame_times``: presentation time in seconds of every frame (sorted, first = 0) for variable-frame-rate
    clips; ``None`` means constant rate (frame ``i`` at ``i / avg_fps``). ``duration_s`` ends the last window
    (default: ``n_frames / avg_fps``, or the last frame time plus one average frame for VFR). Every other
    keyword is a sampling setting and goes unchanged to :func:`~vqa2cli.video.sampling.plan_sampling` for
    each window (``keyframe_fps``, ``max_motion_frames``, ``motion_frame_step``, ``token_budget``, ...: all of
    them, so a window is planned exactly as a clip of its frames; ``policy="segments"`` strides a window
    over the motion table, as ``stride`` does). :func:`vqa2cli.video.planning.sampling_args` builds them from
    the config. Raises ``ValueError`` for bad numbers and
    :class:`~vqa2cli.video.sampling.ClipTooLongError` when ``policy="error"`` and a window is over the limits.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be at least 1, got {n_frames}")
    keyframe_fps = sampling.get("keyframe_fps", 1.0)
    if sampling.get("policy") == "segments":
        sampling = {**sampling, "policy": "stride"}
    step = keyframe_step(avg_fps, keyframe_fps)
    starts = _boundaries(n_frames, avg_fps, window_s, keyframe_fps, frame_times)
    if len(starts) > 1 and _short_tail(
        starts[-1], n_frames, step, frame_times, duration_s, min(1.0 / keyframe_fps, window_s / 2)
    ):
        starts.pop()  # the short tail joins the previous window
    stops = starts[1:] + [n_frames]
    if frame_times is None:
        times = [s / avg_fps for s in starts]
        end = duration_s if duration_s is not None else n_frames / avg_fps
    else:
        times = [float(frame_times[s]) for s in starts]
        end = duration_s if duration_s is not None else float(frame_times[-1]) + 1.0 / avg_fps
    ends = times[1:] + [max(end, times[-1])]
    starts, stops, times, ends = _drop_empty(starts, stops, times, ends)
    windows = []
    for i, (start, stop) in enumerate(zip(starts, stops)):
        local = plan_sampling(stop - start, avg_fps, **sampling)
        windows.append(
            Window(i, start, stop, round(times[i], 6), round(ends[i], 6), offset_plan(local, start))
        )
    return tuple(windows)


def _short_tail(
    start: int,
    n_frames: int,
    step: int,
    frame_times: Sequence[float] | None,
    duration_s: float | None,
    shortest_s: float,
) -> bool:
    """True when the frames from ``start`` on are too short to be a window of their own: fewer than ``step``
    frames (constant rate: under one key-frame interval), or shown for less than ``shortest_s`` seconds
    (variable rate, by time: one key-frame interval, or half the window when that is shorter, so that a
    clip a few frames short of whole windows keeps its last window as a constant-rate clip of the same
    duration does)."""
    if frame_times is None:
        return n_frames - start < step
    end = duration_s if duration_s is not None else float(frame_times[-1])
    return end - float(frame_times[start]) < shortest_s * (1 - 1e-9)


def _drop_empty(starts, stops, times, ends):
    """Merge every window shown for no time (``end_s <= start_s``: a last frame the container gives no
    duration, frames sharing a timestamp) into its neighbour: the previous one, or the next for the first.
    A clip whose frames all share one instant stays one window."""
    starts, stops, times, ends = list(starts), list(stops), list(times), list(ends)
    while len(starts) > 1:
        empty = [i for i in range(len(starts)) if ends[i] <= times[i]]
        if not empty:
            break
        i = empty[0] if empty[0] > 0 else 1  # window i joins window i - 1
        stops[i - 1], ends[i - 1] = stops[i], ends[i]
        del starts[i], stops[i], times[i], ends[i]
    return starts, stops, times, ends


def span_text(windows: Sequence[Window]) -> str:
    """The windows' real span as a line says it: ``"10 s"`` when all are the same to 0.05 s, else
    ``"9.8-31.2 s"`` (from their frames' presentation times: sparse or variable-rate clips)."""
    spans = [w.duration_s for w in windows]
    low, high = min(spans), max(spans)
    if high - low <= 0.05:
        return f"{round(high, 1):g} s"
    return f"{round(low, 1):g}-{round(high, 1):g} s"


def offset_plan(plan: SamplingPlan, offset: int) -> SamplingPlan:
    """The same plan with every index moved by ``offset`` frames (window → clip indices)."""
    return replace(
        plan,
        keyframe_indices=tuple(i + offset for i in plan.keyframe_indices),
        motion_indices=tuple(i + offset for i in plan.motion_indices),
    )


def exceeds_limits(n_frames: int, avg_fps: float, **sampling) -> bool:
    """True when one official forward over the whole clip would need the long-clip policy (motion table or
    token budget exceeded); ``False`` means the single forward uses the official indices unchanged.
    ``sampling``: every sampling setting, as :func:`plan_windows` takes them (``policy`` is ignored)."""
    sampling = {k: v for k, v in sampling.items() if k not in ("policy", "source")}
    plan = plan_sampling(n_frames, avg_fps, policy="stride", **sampling)
    return plan.motion_stride > 1 or len(plan.keyframe_indices) < len(range(0, n_frames, plan.keyframe_step))


def format_time(seconds: float) -> str:
    """``70.0`` → ``"00:01:10"`` (hours:minutes:seconds, tenths shown when not whole)."""
    tenths = int(round(max(0.0, seconds) * 10))
    whole, frac = divmod(tenths, 10)
    text = f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"
    return text + (f".{frac}" if frac else "")
