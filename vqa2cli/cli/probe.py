"""`vqa2 probe FILE...`: what vqa2 sees in each video, and what it would sample, without loading a model.

JSON output (``--format json``) is a list with one object per file, in argument order (``[]`` for none).
Keys are stable; values are ``null`` where unknown (every file property on an error entry):

==================  =====================================================================================
``path``            the argument as given (bytes of a name that are not valid UTF-8 shown as ``\\xNN``)
``path_bytes``      hex of the name's raw bytes when it is not valid UTF-8, else ``null``
``status``          ``"ok"`` or ``"error"``
``error_code``      machine-readable error (``file_missing``, ``no_video_stream``, ...) or ``null``
``error``           the one-line message with its fix, or ``null``
``container``       demuxer / file type (``mp4``, ``matroska``, ``webm``, ``mpegts``, ``gif``, ...)
``codec``           video codec (``h264``, ``hevc``, ``vp9``, ``av1``, ``prores``, ...)
``width height``    display size in pixels, after rotation
``coded_width coded_height``  stored frame size
``rotation``        clockwise degrees applied for display (0, 90, 180, 270)
``avg_fps``         average frame rate, as the official decoder reads it; for raw streams (.h264, .hevc,
                    ...) the bitstream's rate (assumed 25 with a warning when it declares none)
``vfr``             variable frame rate (from packet timestamps)
``duration_s``      seconds
``n_frames``        frames a player shows (``ffprobe -count_frames``): the video packets, less those an
                    edit list hides (the official decoder counts those too: see ``discarded_frames``)
``pix_fmt bit_depth``  stored pixel format and bits per sample
``interlaced``      interlaced frames (not deinterlaced, as in the official code)
``has_audio``       an audio stream is present
``resolution_changes``  ``[{"frame", "width", "height"}, ...]``: where the display size changes mid-stream
                    (found at key frames; ``score`` records check every frame)
``discarded_frames``  packets an edit list hides (MP4/MOV trimmed by stream copy); 0 otherwise
``keyframes``       key frames ``score`` samples (1 fps rule, after the long-clip policy; summed over windows)
``motion_frames``   motion (dense) frames ``score`` samples (summed over windows)
``keyframe_step``   r = round(avg_fps): every r-th frame is a key frame
``motion_stride``   1 = all frames (official); s > 1 = every s-th frame (long-clip policy)
``policy``          ``official`` or the deviations applied (``stride:3``, ``pad:4``, ``keyframes:uniform-40``), or
                    ``segments:N`` when ``score`` scores the clip in N windows (the default long-clip policy
                    past the model's limits): the plan ``score`` runs (video/planning.py), not another one
``warnings``        list of strings: metadata fallbacks and sampling deviations
``transform``       the display matrix as applied, ffmpeg's autorotate: ``none``, ``rotate 90``, ``hflip``,
                    ``rotate 180+hflip`` (a vertical mirror), ... (turn clockwise first, then mirror)
``stream_index``    the container's index of the video stream scored (ffmpeg's default choice, or
                    ``video.stream``)
==================  =====================================================================================

The sampling uses the model card's video settings and ``video.max_tokens`` as the visual token budget (the
prompt text's own tokens are not subtracted here, so ``vqa2 score`` may keep slightly fewer key frames).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..config import REPORT_FORMATS
from ..records.reports import PROBE_KEYS as KEYS
from .options import (
    ConfigOpt,
    MaxMotionOpt,
    ModelOpt,
    PolicyOpt,
    ReportFormatOpt,
    StreamOpt,
    check_format,
    resolve_settings,
)

EXAMPLES = """Examples:

  vqa2 probe clip.mp4

  vqa2 probe "phone video.mov" broken.mp4 --format json

  vqa2 probe long.mkv --model assistant --max-motion-frames 1000

  vqa2 probe two-angles.mkv --stream 1   # the container's stream 1, not ffmpeg's default choice"""


def probe(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE...", help="Video files to inspect.", show_default=False)
    ],
    fmt: ReportFormatOpt = "table",
    model: ModelOpt = None,
    config: ConfigOpt = None,
    max_motion_frames: MaxMotionOpt = None,
    long_clip: PolicyOpt = None,
    stream: StreamOpt = None,
) -> None:
    """Show what vqa2 sees in each video: container, codec, size, fps, frames it would sample, warnings."""
    from ..output.console import Console, set_console

    console = Console()  # bound to this invocation's stderr
    set_console(console)
    check_format(fmt, REPORT_FORMATS)
    settings, _ = resolve_settings(
        "score",
        model,
        config,
        video__max_motion_frames=max_motion_frames,
        video__long_clip_policy=long_clip,
        video__stream=stream,
    )
    from ..output.render import make_writer
    from ..pipeline import interrupts
    from ..records.reports import ProbeRecord

    interrupts.expect(len(files), "nothing printed (the report comes once every file is read)")
    records = []
    for path in files:
        records.append(ProbeRecord(probe_one(str(path), settings)))
        interrupts.advance()
    for record in records:
        if not record.ok:
            console.error(record.to_dict()["error"])  # valid UTF-8 whatever the file names
    writer = make_writer(fmt, sys.stdout, "probe")
    for record in records:
        writer.write(record)
    writer.close()
    if not all(record.ok for record in records):
        from ..errors import ExitCode

        raise typer.Exit(int(ExitCode.INPUT))


def probe_one(path: str, settings) -> dict[str, Any]:
    """One JSON object (see the module docstring) for ``path``; input errors become error entries."""
    import dataclasses

    from ..errors import InputError
    from ..records.cells import path_bytes
    from ..video.planning import plan_clip
    from ..video.probe import probe_video

    row: dict[str, Any] = dict.fromkeys(KEYS)
    row.update(path=path, path_bytes=path_bytes(path), status="ok", warnings=[])
    video = settings.video
    try:
        info = probe_video(path, stream=video.stream)
        row.update({k: v for k, v in dataclasses.asdict(info).items() if k in KEYS and k != "path"})
        planned = plan_clip(
            info, video, token_budget=video.max_tokens, motion_copies=settings.model.motion_copies
        )
    except InputError as exc:
        row.update(
            dict.fromkeys(KEYS[KEYS.index("container") :]),
            status="error",
            error_code=exc.code,
            error=exc.one_line(),
            warnings=[],
        )
        return row
    row["resolution_changes"] = [{"frame": i, "width": w, "height": h} for i, w, h in info.resolution_changes]
    row.update(avg_fps=round(info.avg_fps, 4), duration_s=round(info.duration_s, 3), **_plan_fields(planned))
    row["warnings"] = list(info.warnings) + row["warnings"]
    return row


def _plan_fields(planned) -> dict[str, Any]:
    """The sampling keys of a probe row from the plan ``score`` runs (video/planning.py ``plan_clip``): one
    forward, or windows (``policy`` ``segments:N``, key and motion frames summed over the windows)."""
    if planned.windows is None:
        plan = planned.plan
        return dict(
            keyframes=len(plan.keyframe_indices),
            motion_frames=len(plan.motion_indices),
            keyframe_step=plan.keyframe_step,
            motion_stride=plan.motion_stride,
            policy=plan.policy,
            warnings=list(plan.notes),
        )
    from ..output.console import group_repeats
    from ..video.segments import span_text

    windows = planned.windows
    why = (
        "over the model's limits for one forward: long_clip_policy segments"
        if planned.reason == "over-limits"
        else "--segments"
    )
    notes = [f"score runs {len(windows)} windows of {span_text(windows)} ({why})"]
    notes += group_repeats([f"window {w.index}: {n}" for w in windows for n in w.plan.notes])  # once, counted
    return dict(
        keyframes=sum(len(w.plan.keyframe_indices) for w in windows),
        motion_frames=sum(len(w.plan.motion_indices) for w in windows),
        keyframe_step=windows[0].plan.keyframe_step,
        motion_stride=max(w.plan.motion_stride for w in windows),
        policy=f"segments:{len(windows)}",
        warnings=notes,
    )


def register(app: typer.Typer) -> None:
    app.command("probe", epilog=EXAMPLES)(probe)
