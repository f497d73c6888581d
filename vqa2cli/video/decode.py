"""Decode a video once with PyAV into the two inputs VQA² was trained on (spec §3).

``decode_clip`` = :func:`~vqa2cli.video.probe.probe_video` (one demux pass: frame count, fps, rotation)
→ :func:`~vqa2cli.video.planning.plan_single` → one threaded decode pass (:mod:`vqa2cli.video.frame_reader`)
in which only the planned frames are converted and resized (:mod:`vqa2cli.video.resize`, in a worker thread so
it overlaps decoding) straight into preallocated ``uint8`` arrays. Every frame must still be decoded
(inter-frame coding); a full-size frame lives only until it is resized (at most ``IN_FLIGHT`` + 1 of them at a
time). This module assembles the clip (or its windows) from that pass and applies the failure policy below.

Deviations from the official loader (decord + ``SigLipImageProcessor``), each also noted in the output:

* short clips, long clips, token budget: see :mod:`vqa2cli.video.sampling`;
* resize method ``"torch"`` by default: PIL's antialiased bicubic as torch implements it, within 0.1 grey
  level of PIL on average (see :mod:`vqa2cli.video.resize`); ``video.resize="pil"`` is the exact official path;
* a missing average frame rate falls back to frames/duration (the official code crashes);
* frames are the ones a player shows (:mod:`vqa2cli.video.probe`): an edit list's hidden packets are not
  counted (decord counts them), raw elementary streams use the bitstream's rate, not FFmpeg's 25 fps default;
* YUV→RGB is swscale's full-size conversion honouring the stream's colour tags, as decord's: with
  ``video.resize="pil"`` the frames equal decord 0.6.0's bit for bit for 8-bit and 4:2:2 10-bit sources, while
  10-bit 4:2:0 differs at chroma edges (decord bundles FFmpeg 4; tests/test_official_loader.py,
  benchmarks/RESULTS.md). Rotation metadata is applied as decord and the ffmpeg CLI do; interlaced frames
  are not deinterlaced (neither are they officially).

**Damaged packets** are skipped as the ffmpeg CLI skips them (:func:`~vqa2cli.video.frame_reader._frames`:
a packet the decoder refuses is counted and dropped, the decoder kept, decoding goes on; the frames are the
ones ``ffmpeg -i FILE -f framemd5`` decodes, tests/test_damaged_packets.py). Since every later frame index
moved, :func:`decode_clip` then samples again over the frames that decoded (a second decode pass, on damaged
files only) and warns with the count of skipped packets and missing frames; windows
(:class:`WindowStream`) are planned before decoding, so after such a loss they hold the frames that decoded
and the last window is cut by the missing count (the rule below).

**Decoding that ends early** (truncated download, a container the demuxer gives up on, a stream cut before
its first key frame, whose leading frames the decoder drops): the frames decoded so far are kept,
with a warning and the plan restricted to them (``truncated:m`` in ``plan.policy``), when there are at least
``min(n_frames, max(4, r))`` of them, i.e. one key-frame interval (about 1 s) and 4 motion frames; otherwise
:class:`~vqa2cli.errors.DecodeFailedError` is raised. A quality score from the first second of a damaged
file is still meaningful; one from a handful of frames is not.

Decoding always runs to the end of the stream (past the last sampled frame), so ``decoded_frames`` is
every frame the decoder returned and ``damaged_frames`` those it flagged corrupt (error concealment, a
missing reference); the records report both. With ``video.strict`` a file with fewer decoded frames than
``n_frames``, any damaged frame, or a container the demuxer gave up on raises
:class:`~vqa2cli.errors.DamagedInputError` (``damaged_input``, exit 3) instead of scoring with a warning.
Every frame's size is checked: ``resolution_changes`` lists where it changes (each frame is resized
to the model's size whatever its own).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from ..config import VideoSection
from ..errors import DamagedInputError, DecodeFailedError
from .frame_reader import _Collector, _decode_planned, _decode_stream, _Tally
from .opening import open_container
from .planning import plan_single
from .probe import VideoInfo, probe_video, resolution_note
from .resize import FrameResizer
from .sampling import SamplingPlan, restrict_plan, tokens_per_keyframe
from .streams import STREAMS_ADDED, changed_note, video_stream

__all__ = [
    "DecodedClip",
    "VideoInfo",
    "WindowStream",
    "decode_clip",
    "decode_windows",
    "probe_video",
    "tokens_per_keyframe",
]


@dataclass
class DecodedClip:
    info: VideoInfo
    plan: SamplingPlan
    keyframes: object  # numpy uint8 [K, S, S, 3] RGB, S = video.keyframe_size
    motion_frames: object  # numpy uint8 [T, s, s, 3] RGB, s = video.motion_size
    keyframe_times: tuple[float, ...]  # seconds from the first frame's pts
    warnings: tuple[str, ...]
    decode_s: float
    resize: str = "torch"  # "torch" (PIL's bicubic in torch), "sws" (swscale) or "pil" (official path)
    decoded_frames: int = 0  # frames the decoder returned (the whole stream is decoded)
    damaged_frames: int = 0  # of those, frames flagged corrupt (error concealment, missing reference)
    resolution_changes: tuple[tuple[int, int, int], ...] = ()  # (frame index, display width, height)


def decode_clip(
    path,
    video: VideoSection,
    *,
    token_budget: int | None = None,
    motion_copies: int = 1,
    info: VideoInfo | None = None,
) -> DecodedClip:
    """Decode ``path`` into key and motion frames sized, sampled and resized per ``video``.

    ``video.resize`` picks the resize method (recorded as ``DecodedClip.resize``); ``token_budget`` is the
    number of visual tokens the prompt leaves (None: no limit); ``motion_copies`` is how often the motion
    block appears in the prompt (``settings.model.motion_copies``: 2 for the duplicated layout).
    Raises ``InputError`` subclasses (missing, empty, not a video, undecodable, over the long-clip limits
    with ``long_clip_policy="error"``; :class:`~vqa2cli.errors.DamagedInputError` for a damaged file when
    ``video.strict``). ``info``: the clip's :func:`probe_video` result when the caller already has it (probe
    it with ``key_sizes=False``: the decode sees every frame's size, so the probe need not decode key frames).
    """
    resize = video.resize
    started = time.perf_counter()
    info = _probed(path, video, info)  # the decode below sees every frame's size

    def plan_for(n_frames: int) -> SamplingPlan:  # the one planner (video/planning.py), over n_frames
        return plan_single(
            replace(info, n_frames=n_frames), video, token_budget=token_budget, motion_copies=motion_copies
        )

    plan = plan_for(info.n_frames)
    resizer = FrameResizer({video.keyframe_size, video.motion_size}, info.rotation, resize, hflip=info.hflip)
    out, tally = _decode_planned(info, plan, video, resizer)
    if _replan(info, plan, tally, video):  # damaged packets skipped: the clip is the frames that decode
        plan = plan_for(tally.decoded)
        out, tally = _decode_planned(info, plan, video, resizer)
    keys, motion, times, decoded, error = out.keys, out.motion, out.times, tally.decoded, tally.error
    warnings = list(info.warnings) + list(plan.notes)
    needed = max(max(plan.keyframe_indices), max(plan.motion_indices)) + 1
    if decoded < needed:  # raises decode_failed below one key-frame interval, in either mode
        keys, motion, times, plan = _keep_partial(info, plan, keys, motion, times, decoded, error)
        warnings.append(plan.notes[-1])
    warnings.extend(_stream_notes(info, tally, strict=video.strict, short=decoded < needed))
    return DecodedClip(
        info=info,
        plan=plan,
        keyframes=keys,
        motion_frames=motion,
        keyframe_times=tuple(times),
        warnings=tuple(warnings),
        decode_s=time.perf_counter() - started,
        resize=resize,
        decoded_frames=decoded,
        damaged_frames=tally.damaged,
        resolution_changes=tally.changes(info),
    )


def _replan(info: VideoInfo, plan: SamplingPlan, tally: _Tally, video: VideoSection) -> bool:
    """Whether to sample again over the frames that decoded: packets were lost mid-stream (skipped as
    ffmpeg does, so every later frame index moved), not under ``strict`` (an error then), and enough frames
    decoded to keep a clip (the failure policy's floor, module docstring)."""
    floor = min(info.n_frames, max(4, plan.keyframe_step))
    return bool(tally.lost) and not video.strict and floor <= tally.decoded < info.n_frames


def lost_note(info: VideoInfo, tally: _Tally) -> str:
    """The warning for packets the decoder refused (skipped, as ffmpeg does)."""
    return (
        f"{tally.lost} damaged packet(s) could not be decoded ({tally.lost_error}) and were skipped as "
        f"ffmpeg does: {tally.decoded} of {info.n_frames} frames decoded, "
        f"{info.n_frames - tally.decoded} missing; sampled from the frames that decoded"
    )


def _stream_notes(info: VideoInfo, tally: _Tally, *, strict: bool, short: bool) -> list[str]:
    """After the whole stream was decoded: the warnings on size changes, undecodable and damaged frames, or,
    with ``strict``, :class:`~vqa2cli.errors.DamagedInputError` when frames are missing or damaged or the
    container is damaged. ``short``: decoding ended before the last sampled frame (the plan's note says so)."""
    if strict and (tally.decoded < info.n_frames or tally.damaged or tally.lost or info.container_damaged):
        raise _damaged(info, tally.decoded, tally.damaged, tally.error or tally.lost_error, tally.lost)
    notes = []
    changes = tally.changes(info)
    if changes:
        notes.append(resolution_note(_display(tally.frame_sizes[0], info), changes))
    if tally.lost:
        notes.append(lost_note(info, tally))
    changed = changed_note(info)
    if changed:
        notes.append(changed)
    elif tally.decoded < info.n_frames and not short:
        notes.append(
            f"only {tally.decoded} of {info.n_frames} frames decodable (after the last sampled frame"
            + (f"; decoding failed: {tally.error})" if tally.error else ")")
        )
    if tally.damaged:
        notes.append(
            f"{tally.damaged} damaged frame(s) decoded with error concealment or a missing reference"
        )
    return notes


def _display(size, info: VideoInfo) -> tuple[int, int]:
    _, w, h = size
    return (h, w) if info.rotation in (90, 270) else (w, h)


def _damaged(
    info: VideoInfo, decoded: int, damaged: int, error: str | None, lost: int = 0
) -> DamagedInputError:
    """The ``--strict`` error: what was decoded, and why the rest was not."""
    parts = [f"damaged input: {decoded} of {info.n_frames} frames decodable"]
    if damaged:
        parts.append(f"{damaged} of them damaged")
    if lost:
        parts.append(f"{lost} packet(s) not decodable")
    if error:
        parts.append(f"decoding failed: {error}")
    if info.container_damaged:
        parts.append(f"the container is damaged: {info.container_damaged}")
    return DamagedInputError(
        info.path,
        "; ".join(parts),
        "re-download or re-export the file, or drop --strict to score what decodes",
        input={"n_frames": info.n_frames, "decoded_frames": decoded, "damaged_frames": damaged},
    )


class WindowStream:
    """A clip decoded window by window in one pass (``iter`` yields ``(Window, DecodedClip)`` pairs).

    ``windows`` is the plan (:func:`~vqa2cli.video.segments.plan_windows`), known before decoding starts.
    Each window's frames are handed over as soon as its last planned frame is resized, and its arrays are
    the caller's to drop: the stream holds one window's frames at a time. The :class:`DecodedClip` of a
    window is the window seen as a clip: ``info.n_frames`` and ``info.duration_s`` are the window's,
    ``plan`` holds clip indices (offset by ``window.start``), ``keyframe_times`` are clip seconds and
    ``decode_s`` is the decode time spent on this window. When decoding ends early (truncated or damaged
    data) the window in progress is kept under the rule of :func:`decode_clip` (at least a key-frame interval
    and 4 frames of it decoded), later windows are dropped and ``warnings`` says so; if even the first window
    cannot be kept, :class:`~vqa2cli.errors.DecodeFailedError` is raised while iterating.

    Decoding runs to the end of the stream as in :func:`decode_clip`; once iterated, ``decoded_frames``,
    ``damaged_frames`` and ``resolution_changes`` are the whole clip's, and ``warnings`` has the same notes.
    With ``video.strict``, no window is yielded once damage is seen (a damaged frame up to its last sampled
    frame, decoding that ended before it, or a container the probe found damaged: then none at all): the
    rest of the stream is only counted and :class:`~vqa2cli.errors.DamagedInputError` is raised at its end
    (windows yielded before stay scored: their sampled frames decoded cleanly).
    """

    opener = None  # a callable → an open container instead of the file (a live copy: video/live.py)

    def __init__(self, info: VideoInfo, windows, video: VideoSection, resize: str):
        self.info, self.windows, self.video, self.resize = info, windows, video, resize
        self.warnings: list[str] = list(info.warnings)
        self.decoded_frames = self.damaged_frames = 0
        self.resolution_changes: tuple[tuple[int, int, int], ...] = ()

    def __iter__(self):
        resizer = FrameResizer(
            {self.video.keyframe_size, self.video.motion_size},
            self.info.rotation,
            self.resize,
            hflip=self.info.hflip,
        )
        tally = _Tally(count_only=self.video.strict and bool(self.info.container_damaged))
        plans = (w.plan for w in self.windows)  # taken one by one (a live stream's wait: video/live.py)
        stream = _decode_stream(self.info, plans, self.video, resizer, tally, opener=self.opener)
        started, short, windows = time.perf_counter(), False, iter(self.windows)
        for out, decoded, error in stream:
            window = next(windows)
            short = decoded < max(max(window.plan.keyframe_indices), max(window.plan.motion_indices)) + 1
            clip = self._window_clip(
                window, out, decoded, error, short, started
            )  # decode_failed as decode_clip
            if self.video.strict and (tally.damaged or short):
                tally.count_only = True  # DamagedInputError at the end of the stream: score nothing more
                continue
            if clip is not None:
                yield window, clip
            if short and (clip is None or window.index + 1 < len(self.windows)):
                self.warnings.append(
                    f"decoding ended after {decoded} of {self.info.n_frames} frames: "
                    f"windows {window.index + (clip is not None)}-{len(self.windows) - 1} "
                    "not scored"
                )
            started = time.perf_counter()
        self.warnings.extend(_stream_notes(self.info, tally, strict=self.video.strict, short=short))
        self.decoded_frames, self.damaged_frames = tally.decoded, tally.damaged
        self.resolution_changes = tally.changes(self.info)

    def _window_clip(
        self, window, out: _Collector, decoded: int, error: str | None, short: bool, started: float
    ):
        """The window as a :class:`DecodedClip`; None for a later window cut below a key-frame interval."""
        plan, keys, motion, times = window.plan, out.keys, out.motion, out.times
        notes = list(plan.notes)
        if short:
            got = decoded - window.start
            if window.index > 0 and got < min(window.n_frames, max(4, plan.keyframe_step)):
                return None
            keys, motion, times, plan = _keep_partial(self.info, plan, keys, motion, times, decoded, error)
            notes.append(plan.notes[-1])
        info = replace(self.info, n_frames=window.n_frames, duration_s=window.duration_s)
        return DecodedClip(
            info=info,
            plan=plan,
            keyframes=keys,
            motion_frames=motion,
            keyframe_times=tuple(times),
            warnings=tuple(notes),
            decode_s=time.perf_counter() - started,
            resize=self.resize,
        )


def decode_windows(
    path,
    video: VideoSection,
    window_s: float,
    *,
    token_budget: int | None = None,
    motion_copies: int = 1,
    info: VideoInfo | None = None,
) -> WindowStream:
    """Plan ``path``'s windows of about ``window_s`` seconds and return the stream that decodes them in one
    pass (nothing is decoded until it is iterated). Variable-frame-rate clips are cut by presentation time
    (one extra demux pass reads the timestamps). Raises ``InputError`` subclasses. ``info``: the clip's
    :func:`probe_video` result when the caller already has it (probed with ``key_sizes=False``)."""
    from .planning import plan_clip_windows

    info = _probed(path, video, info)  # the stream sees every frame's size
    times = presentation_times(info) if info.vfr else None
    windows = plan_clip_windows(
        info, video, window_s, token_budget=token_budget, motion_copies=motion_copies, frame_times=times
    )  # every sampling setting, as decode_clip's plan
    return WindowStream(info, windows, video, video.resize)


def _probed(path, video: VideoSection, info: VideoInfo | None) -> VideoInfo:
    """``info`` when it describes the stream ``video.stream`` asks for, else a new probe (``key_sizes=False``)."""
    if info is not None and (video.stream < 0 or info.stream_index == video.stream):
        return info
    return probe_video(path, key_sizes=False, stream=video.stream)


def presentation_times(info: VideoInfo) -> list[float] | None:
    """Seconds from the first frame of every video packet's presentation time, sorted (one demux pass);
    ``None`` when some packet has no timestamp or the count differs from ``info.n_frames``."""
    import av

    with open_container(info.path, info.size_bytes) as container:
        stream = video_stream(container, info.path, info.stream_index)
        stamps = []
        try:
            for packet in container.demux(stream):
                if packet.size:
                    stamps.append(packet.pts)
        except STREAMS_ADDED:
            pass  # every packet was read
        except av.error.FFmpegError:
            return None
    if len(stamps) != info.n_frames or any(t is None for t in stamps) or not stream.time_base:
        return None
    stamps.sort()
    base = float(stream.time_base)
    return [(t - stamps[0]) * base for t in stamps]


def _keep_partial(info, plan, keys, motion, times, decoded: int, error: str | None):
    """Apply the mid-stream failure policy (module docstring): keep what was decoded, or raise."""
    import numpy as np

    reason = f"only {decoded} of {info.n_frames} frames decodable (" + (
        f"decoding failed: {error})"
        if error
        else "damaged or truncated data, or a stream cut before its first key frame)"
    )
    if decoded < min(info.n_frames, max(4, plan.keyframe_step)):
        raise DecodeFailedError(
            info.path, reason, "the file is truncated or damaged; re-download or re-export it"
        )
    kept = restrict_plan(plan, decoded)
    first_row = {}
    for row, idx in enumerate(plan.motion_indices):
        first_row.setdefault(idx, row)
    keys = keys[: len(kept.keyframe_indices)]
    motion = motion[np.array([first_row[i] for i in kept.motion_indices])]
    note = (
        f"{reason}: kept {len(kept.keyframe_indices)} key frames and {len(kept.motion_indices)} motion frames"
    )
    notes = kept.notes[:-1] + (note,)
    kept = SamplingPlan(
        kept.keyframe_indices,
        kept.motion_indices,
        kept.keyframe_step,
        kept.motion_stride,
        kept.policy,
        notes,
        kept.motion_frame_step,
    )
    return keys, motion, times[: len(kept.keyframe_indices)], kept
