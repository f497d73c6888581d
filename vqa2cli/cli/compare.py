"""`vqa2 compare A B [C ...]` and `vqa2 compare --ladder 'a/*.mp4' [--ladder 'b/*.mp4']`: encodes of one
source compared without a reference (the run: jobs/compare.py; docs/compare.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import shown_default
from ..errors import UsageError
from .options import (
    ConfigOpt,
    DeviceOpt,
    DtypeOpt,
    FormatOpt,
    ModelOpt,
    OfflineOpt,
    OneVariantOpt,
    QuantOpt,
    QuietOpt,
    StreamOpt,
    VerboseOpt,
    check_format,
    scoring_settings,
    start_console,
)

SegmentsOpt = Annotated[
    str | None,
    typer.Option(
        "--segments",
        metavar="DURATION|auto",
        help="The windows every file is scored in (10s, 5s, 1m, 00:00:05); auto (the default) = the card's "
        f"window (video.segment_s) {shown_default('video', 'segment_s', 'card')}.",
    ),
]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --plot file.")]

EXAMPLES = """Examples:

  vqa2 compare old_x264.mp4 new_x264.mp4   # per-window Δ with a 95 % interval and a verdict

  vqa2 compare ref_encode.mp4 cand1.mp4 cand2.mp4 --baseline ref_encode.mp4 --format json

  vqa2 compare main.mp4 pr.mp4 --fail-if-worse-than main.mp4 --by 0.02   # CI gate: exit 1

  vqa2 compare --ladder 'x264/*.mp4' --ladder 'svtav1/*.mp4' --plot ladders.png   # hull, BD-rate

  vqa2 compare a.mp4 b.mp4 --segments 5s --format csv > rows.csv   # a row per file and window

  vqa2 compare --ladder https://cdn.example.com/enc/master.m3u8   # an HLS/DASH ladder (docs/inputs.md)

  vqa2 compare https://cdn.example.com/a.mp4 - < b.mkv   # URLs and a pipe (downloaded/read first)

Every file is scored once, window by window on one time grid (--segments, default the card's 10 s), and
windows are aligned by presentation time (other frame rates and resolutions line up). A verdict (and
the gate) needs at least 5 aligned windows: use a shorter --segments for short clips (a gate that cannot
be evaluated exits 2 with a --segments that works, never 0). Bitrate: file
bytes x 8 / duration; per window from the video packets. The order check warns when, at one resolution, a
rendition with at least 10 % more bitrate scores lower beyond the windows' interval: no-reference scores
are least reliable on compression-only differences. Fewer than two files or different durations are usage
errors; an unreadable file is an error row and the rest are compared."""


def compare_cmd(
    files: Annotated[
        list[str] | None,  # not Path: it would fold the // of a URL
        typer.Argument(
            metavar="FILE...",
            help="Encodes of one source; the first is the baseline (unless --baseline).",
            show_default=False,
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline", metavar="FILE", help="The file the others are compared with [default: the first]."
        ),
    ] = None,
    ladder: Annotated[
        list[str] | None,
        typer.Option(
            "--ladder",
            metavar="'GLOB'|DIR",
            help="A bitrate ladder: a quoted pattern, a folder of renditions, or an HLS/DASH manifest (its video "
            "variants) (repeat for a second ladder: BD-rate).",
        ),
    ] = None,
    segments: SegmentsOpt = None,
    tolerance: Annotated[
        float,
        typer.Option(
            "--duration-tolerance",
            metavar="SECONDS",
            help="Largest duration difference of one content's encodes.",
        ),
    ] = 0.5,
    fail_if_worse_than: Annotated[
        Path | None,
        typer.Option(
            "--fail-if-worse-than",
            metavar="BASELINE",
            help="Exit 1 when a file is worse than BASELINE by more than --by and the 95 % interval excludes 0.",
        ),
    ] = None,
    by: Annotated[
        float, typer.Option("--by", metavar="MARGIN", help="The gate's margin on the 0-1 scale.")
    ] = 0.02,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            metavar="FILE.png|FILE.svg",
            help="Draw every file's window scores over time and the rate-quality chart.",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            metavar="URL",
            help="Run the comparison on a warm `vqa2 serve` (it opens the files itself: they must be under its "
            "--allow-root). [env: VQA2_SERVER]",
        ),
    ] = None,
    model: ModelOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = "table",
    device: DeviceOpt = None,
    dtype: DtypeOpt = None,
    quant: QuantOpt = None,
    stream: StreamOpt = None,
    offline: OfflineOpt = False,
    variant: OneVariantOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Compare encodes of the same source without a reference: A/B, ladders, BD-rate, order check."""
    from ..inputs.given import shown
    from ..jobs.compare import plan_compare
    from ..video.segments import window_seconds

    console = start_console(quiet, verbose)
    check_format(fmt)
    gate = _check_options(files, ladder, baseline, fail_if_worse_than, by, tolerance)
    files, gate = _local(files, gate, variant, server, ladder)
    _check_plot(plot, overwrite)
    from ..remote.client import server_urls

    urls = server_urls(server)
    if urls:
        from ..remote.compare import refuse_config

        refuse_config(config)
    plan = plan_compare(
        [str(f) for f in files or ()],
        ladders=[_expand(p) for p in ladder or ()] or None,
        ladder_names=[shown(p) for p in ladder or ()] or None,
        baseline=gate or (str(baseline) if baseline else None),
        tolerance_s=tolerance,
    )
    from ..inputs.materialize import as_given  # local copies of -, URLs, manifests named as given

    if urls:
        from ..remote.compare import remote_compare

        for warning in plan.warnings:
            console.warning(as_given(warning))
        report = remote_compare(
            urls[0],
            plan,
            segments=segments,
            tolerance_s=tolerance,
            options={"model": model, "device": device, "dtype": dtype, "quant": quant, "stream": stream},
        )
        for warning in report.warnings[len(plan.warnings) :]:
            console.warning(as_given(warning))
        from ..jobs.compare_run import emit_report

        raise typer.Exit(int(emit_report(report, fmt, console, gate=gate, by=by, plot=plot)))
    settings, ref = scoring_settings(
        "compare",
        model,
        config,
        prompt=None,
        device=device,
        dtype=dtype,
        quant=quant,
        max_motion_frames=None,
        long_clip=None,
        stream=stream,
    )
    window_s = window_seconds(None if segments in (None, "auto") else segments, settings.video)
    if gate:
        _check_gate_windows(plan, window_s, settings.video.keyframe_fps, segments)
    from ..jobs.compare_run import run_compare

    raise typer.Exit(
        int(run_compare(plan, settings, ref, fmt, window_s, offline, console, gate=gate, by=by, plot=plot))
    )


def _local(files, gate, variant, server, ladder=None):
    """-, URLs and manifests made local for the run (inputs/materialize.py; reports name them as given).
    With --server the server opens paths under its roots: such inputs are refused before any is read."""
    from ..inputs.given import InputKind, input_kind
    from ..inputs.manifest import single_variant
    from ..inputs.materialize import command_inputs
    from ..remote.client import server_urls

    given = [str(f) for f in files or ()]
    single_variant(variant, "compare")
    if server_urls(server) and any(input_kind(g) is not InputKind.FILE for g in given + list(ladder or ())):
        raise UsageError(
            "compare --server sends file paths the server opens under its --allow-root: "
            "not -, URLs or manifests",
            "compare them without --server, or save them as files under the server's root",
        )
    local = command_inputs(given, variant)
    if gate in given and len(local) == len(given):
        gate = local[given.index(gate)]
    return local, gate


def _check_options(files, ladder, baseline, fail_if_worse_than, by: float, tolerance: float) -> str | None:
    """UsageError (exit 2) for bad values and clashes; returns the gate's file (or None)."""
    if not 0.0 <= by <= 1.0:
        raise UsageError(f"--by must be between 0 and 1, got {by}", "scores are on the 0-1 scale")
    if tolerance < 0:
        raise UsageError(
            f"--duration-tolerance must be at least 0, got {tolerance}", "give seconds, e.g. 0.5"
        )
    if ladder and files:
        raise UsageError(
            "--ladder took one file and the rest were left over as FILE arguments",
            "quote the pattern (--ladder 'ladder_a/*.mp4') or name a folder",
        )
    gate = str(fail_if_worse_than) if fail_if_worse_than is not None else None
    if gate and ladder:
        raise UsageError(
            "--fail-if-worse-than gates files against a baseline, not --ladder renditions",
            "name the files: vqa2 compare main.mp4 pr.mp4 --fail-if-worse-than main.mp4",
        )
    if gate and baseline is not None and str(baseline) != gate:
        raise UsageError("--baseline and --fail-if-worse-than name different files", "give one of them")
    return gate


def _check_gate_windows(plan, window_s: float, keyframe_fps: float, segments: str | None) -> None:
    """Before any weights load: a gate whose files would be cut into fewer than MIN_WINDOWS windows cannot
    be evaluated (no interval), so refuse it now (UsageError, exit 2) with a window length that works for
    the shortest file. Constant-rate files only (a VFR file's windows need its timestamps: judged after
    scoring by :func:`compare_exit_code`)."""
    from ..pipeline.paired import MIN_WINDOWS, segments_fix
    from ..video.segments import plan_windows

    probed = [plan.checked.probed[p][0] for p in plan.paths if p in plan.checked.probed]
    cfr = [i for i in probed if not i.vfr and i.n_frames and i.avg_fps]
    counts = {
        i.path: len(plan_windows(i.n_frames, i.avg_fps, window_s, keyframe_fps=keyframe_fps)) for i in cfr
    }
    if counts and min(counts.values()) < MIN_WINDOWS:
        shortest = min(i.duration_s for i in cfr)
        asked = (
            f"--segments {segments}"
            if segments not in (None, "auto")
            else f"--segments auto ({window_s:g} s)"
        )
        raise UsageError(
            f"--fail-if-worse-than cannot be evaluated: {asked} cuts these files into "
            f"{min(counts.values())} window(s), a verdict needs at least {MIN_WINDOWS}",
            segments_fix(shortest, 1.0 / keyframe_fps, window_s),
        )


def _check_plot(plot: Path | None, overwrite: bool) -> None:
    if plot is None:
        return
    from ..jobs.resume import refuse_existing
    from ..jobs.rowfiles import check_output_path

    if plot.suffix.lower() not in (".png", ".svg"):
        raise UsageError(f"--plot {plot}: unknown picture type", "name a .png or .svg file")
    check_output_path(str(plot))
    refuse_existing([str(plot)], overwrite=overwrite)


def _expand(pattern: str) -> list[str]:
    """A --ladder value: a folder (its files, sorted), a glob pattern (sorted matches), or an HLS/DASH
    manifest (each video variant, made local: docs/inputs.md)."""
    import glob
    import os

    from ..inputs.given import InputKind, input_kind

    if input_kind(pattern) in (InputKind.HLS, InputKind.DASH):
        from ..inputs.materialize import command_inputs

        return command_inputs([pattern], "all", label_variants=True)

    if os.path.isdir(pattern):
        return sorted(
            os.path.join(pattern, n)
            for n in os.listdir(pattern)
            if os.path.isfile(os.path.join(pattern, n)) and not n.startswith(".")
        )
    return sorted(glob.glob(pattern)) or ([pattern] if os.path.exists(pattern) else [])


def register(app: typer.Typer) -> None:
    app.command("compare", epilog=EXAMPLES)(compare_cmd)
