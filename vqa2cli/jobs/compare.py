"""The run of ``vqa2 compare`` (CLI, API and server alike): encodes of one content scored once each, window
by window on one time grid, then compared without a reference.

:func:`plan_compare` checks the inputs before any weights load (at least two files, every readable one of
the same duration within ``tolerance_s``); :func:`compare` scores them with a
:class:`~vqa2cli.pipeline.segmented.SegmentingScorer` (``score``'s window scoring, not a loop of its own),
reads each file's bitrate from its packets (video/packets.py) and builds the
:class:`~vqa2cli.records.compare.CompareRecord`: per-file rows, paired window statistics against the
baseline (pipeline/paired.py), ladders with hull and BD-rate, order violations (pipeline/rate_quality.py).

Documented behaviour (docs/compare.md): an unreadable file is an error row and the rest are compared; the
same path twice is scored once; files with the same bytes are scored once (Δ = 0 exactly); a VFR/CFR mix is
compared by presentation time with a warning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UnopenedInputError, UsageError
from ..records.compare import CompareRecord

DURATION_TOLERANCE_S = 0.5  # encodes of one source: container durations differ by a frame or an audio tail


@dataclass(frozen=True)
class ComparePlan:
    """Validated inputs: ``paths`` (unique, baseline first), ``ladders`` (paths per ladder, or None),
    ``checked`` (pipeline.run.CheckedInputs: preflight errors and probes of every file), ``warnings``."""

    paths: tuple[str, ...]
    ladders: tuple[tuple[str, ...], ...] | None
    checked: Any
    warnings: tuple[str, ...]
    ladder_names: tuple[str, ...] | None = None  # each ladder as the user named it (its glob or folder)

    @property
    def baseline(self) -> str:
        return self.paths[0]


def plan_compare(
    paths: Sequence[str] = (),
    *,
    ladders: Sequence[Sequence[str]] | None = None,
    baseline: str | None = None,
    tolerance_s: float = DURATION_TOLERANCE_S,
    refused: dict[str, Any] | None = None,
    ladder_names: Sequence[str] | None = None,
) -> ComparePlan:
    """Check the inputs (cheap: preflight and one demux probe each). Raises UsageError (exit 2) for fewer
    than two different files (a path given twice counts once: the line names it), a ladder with no file,
    or readable files whose durations (seconds) differ by more than ``tolerance_s`` (the line names every
    duration). ``ladder_names``: each ladder's name in the report (its glob or folder; default "ladder
    K"). ``refused``: path → InputError of inputs a front-end refused to open (``vqa2 serve``: outside
    ``--allow-root``): error rows, never opened here."""
    from ..pipeline.run import CheckedInputs

    ladders = tuple(tuple(dict.fromkeys(str(p) for p in lad)) for lad in ladders) if ladders else None
    if ladders and any(not lad for lad in ladders):
        raise UsageError(
            "--ladder matched no file", "check the pattern (quote it: --ladder 'ladder_a/*.mp4')"
        )
    names = [str(p) for p in paths] + [p for lad in ladders or () for p in lad]
    if baseline is not None:
        names.insert(0, str(baseline))
    unique = tuple(dict.fromkeys(names))
    if len(unique) < 2:
        got = f"{len(unique)}" + (f" ({unique[0]})" if unique else "")
        if len(names) > 1:
            got = f"1: {unique[0]} given {len(names)} times, and a path is compared once"
        raise UsageError(
            f"compare needs at least two files, got {got}",
            "name two or more encodes of one source: vqa2 compare a.mp4 b.mp4; a copy at another path "
            "compares as identical, Δ = 0",
        )
    refused = {p: e for p, e in (refused or {}).items() if p in unique}
    checked = CheckedInputs.check([p for p in unique if p not in refused], limit=len(unique))
    checked.errors.update(refused)
    probed = {p: checked.probed[p][0] for p in unique if p in checked.probed}
    durations = {p: info.duration_s for p, info in probed.items()}
    if durations and max(durations.values()) - min(durations.values()) > tolerance_s:
        listing = ", ".join(f"{p} {d:.2f} s" for p, d in durations.items())
        raise UsageError(
            f"not encodes of one content: durations differ by more than {tolerance_s:g} s ({listing})",
            "compare encodes of the same source, or allow more with --duration-tolerance SECONDS",
        )
    warnings = []
    modes = {info.vfr for info in probed.values()}
    if len(modes) > 1:
        vfr = [p for p, info in probed.items() if info.vfr]
        warnings.append(
            f"variable frame rate ({', '.join(vfr)}) beside constant: windows are aligned by "
            "presentation time"
        )
    names_given = tuple(str(n) for n in ladder_names) if ladders and ladder_names else None
    return ComparePlan(unique, ladders, checked, tuple(warnings), names_given)


def compare(
    scorer,
    plan: ComparePlan | Sequence[str],
    *,
    window_s: float | None = None,
    on_record: Callable[[Any], None] | None = None,
    rate_margin: float | None = None,
) -> CompareRecord:
    """Score every file of ``plan`` once in windows of ``window_s`` seconds (None: the card's
    ``video.segment_s``, ``--segments auto``) and compare them. ``scorer``: a SegmentingScorer (``vqa2cli.
    load_scorer``); ``plan``: a :class:`ComparePlan` or a list of paths (baseline first). ``on_record``
    sees each file's ScoreRecord (progress, warnings). Model errors raise; unreadable files become error
    rows; a plain ``Scorer`` (no windows) raises TypeError; a list of paths is checked by
    :func:`plan_compare` (UsageError). Returns the :class:`CompareRecord`."""
    from ..pipeline.rate_quality import RATE_MARGIN

    if not hasattr(scorer, "configure"):
        raise TypeError("compare needs a windowed scorer: pass vqa2cli.load_scorer(...)'s SegmentingScorer")
    if not isinstance(plan, ComparePlan):
        plan = plan_compare(plan)
    window_s = window_s if window_s is not None else scorer.settings.video.segment_s
    saved = (scorer.window_s, scorer.on_window, scorer.keep_thumbnails)
    scorer.configure(window_s=window_s)
    try:
        records = _score_once(scorer, plan, on_record)
    finally:
        scorer.configure(window_s=saved[0], on_window=saved[1], keep_thumbnails=saved[2])
    files = [_file_row(path, records[path]) for path in plan.paths]
    from .compare_report import build_report

    return build_report(
        plan,
        files,
        window_s=window_s,
        model=scorer.model_info.to_dict(),
        rate_margin=RATE_MARGIN if rate_margin is None else rate_margin,
        step_s=1.0 / scorer.settings.video.keyframe_fps,
    )


def _content_key(path: str) -> str | None:
    """SHA-256 of the file's bytes (identical files are scored once); None when unreadable."""
    from ..video.source import open_binary  # through the descriptor of a pinned file (serve)

    digest = hashlib.sha256()
    try:
        with open_binary(path) as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _score_once(scorer, plan: ComparePlan, on_record) -> dict[str, Any]:
    """path → ScoreRecord, each distinct content scored once (the first path holding it)."""
    from ..pipeline.run import error_record
    from ..records.results import error_score_record

    records: dict[str, Any] = {}
    by_content: dict[str, str] = {}
    for path in plan.paths:
        error = plan.checked.errors.get(path)
        key = None if error is not None else _content_key(path)
        if key is not None and key in by_content:
            first = records[by_content[key]]
            records[path] = first
            continue
        if error is None:
            record = next(iter(scorer.score_files([path], checked=plan.checked)))
        elif isinstance(error, UnopenedInputError):  # refused by the front-end: never stat'ed or opened
            record = error_score_record(path, error.code, error.one_line(), config=scorer.settings.to_dict())
        else:
            record = error_record(path, error, scorer.settings)
        records[path] = record
        if key is not None and record.ok:
            by_content[key] = path
        if on_record is not None:
            on_record(record)
    return records


def _file_row(path: str, record) -> dict[str, Any]:
    """One file's row: the record's pooled score and windows, the container's bitrate and the stream facts."""
    from ..errors import InputError
    from ..video.packets import read_packets

    if not record.ok:
        return {"path": path, "status": "error", "error_code": record.error_code, "error": record.error}
    info = record.input
    windows = list(record.segments or [])
    warning: str | None = None
    try:
        track = read_packets(path)
    except InputError as exc:  # changed since it was scored: no bitrate, the score stands
        track, warning = None, exc.one_line()
    duration = info.get("duration_s") or 0.0
    rates = (
        track.windows_kbps([(w["start_s"], w["end_s"]) for w in windows]) if track else [None] * len(windows)
    )
    row = {
        "path": path,
        "status": "ok",
        "score": _r(record.score, 6),
        "level": record.level,
        "bitrate_kbps": _r(track.bitrate_kbps(duration)) if track else None,
        "video_kbps": _r(track.video_kbps(duration)) if track else None,
        "width": info.get("width"),
        "height": info.get("height"),
        "codec": info.get("codec"),
        "avg_fps": info.get("avg_fps"),
        "vfr": info.get("vfr"),
        "duration_s": duration,
        "windows": [
            {
                "index": w["index"],
                "start_s": w["start_s"],
                "end_s": w["end_s"],
                "score": w["score"],
                "bitrate_kbps": _r(rate),
            }
            for w, rate in zip(windows, rates)
        ],
        "error_code": None,
        "error": None,
    }
    if warning:
        row["warnings"] = [warning]
    return row


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)
