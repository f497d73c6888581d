"""What a job does with each finished window and record of `score` / `batch` (the options are
:mod:`vqa2cli.cli.segments`): tidy per-window CSV rows (flushed, fsync'd, resumable), the
--fail-segment-under gate and the score-over-time plots."""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import UsageError
from .rowfiles import writing


@dataclass(frozen=True)
class SegmentPlan:
    """The command's window options, validated; ``window_s`` None = windows only past the limits."""

    window_s: float | None = None
    csv: str | None = None
    fail_segment_under: float | None = None
    plot: str | None = None
    plot_dir: str | None = None
    pool: str | None = None  # --pool as given: a file scored without windows is then noted on stderr


def check_segments_csv(plan: SegmentPlan | None, *, resume: bool, overwrite: bool,
                       distributed: bool = False) -> SegmentPlan:
    """`batch`: the --segments-csv file follows the outputs' rules (--resume / --overwrite); one writer only."""
    from .resume import OutputSpec, check_existing

    plan = plan or SegmentPlan()
    if plan.csv and distributed:
        raise UsageError("--segments-csv is not supported under torchrun (one file, several writers)",
                         "use --shard K/N with one --segments-csv per shard")
    if plan.csv:
        check_existing([OutputSpec(plan.csv, "csv")], resume=resume, overwrite=overwrite)
    return plan


# Longest picture stem in bytes: NAME_MAX (255) less "-<8 hex>.png" (13), with room to spare.
PLOT_STEM_BYTES = 200


def plot_name(plot_dir: str, path: str) -> str:
    """The picture of input ``path`` in ``--plot-dir``: ``DIR/NAME-<h>.png``, NAME the file's stem (its first
    200 bytes, whole characters) and ``<h>`` the first 8 hex digits of the SHA-1 of its absolute path
    (surrogate-escaped bytes kept, so a non-UTF-8 name hashes its own bytes).

    A pure function of the input's own path, never of the run: the same file gets the same name in every
    run, shard, resume and working folder, and files with the same stem in different folders get different
    names (collision chance 2**-32 per pair). The path relative to the input folder, flattened, was not
    chosen: it depends on which folder or glob names the file, and ``a_b/c`` and ``a/b_c`` flatten alike."""
    stem = Path(path).stem or "video"
    while len(os.fsencode(stem)) > PLOT_STEM_BYTES:
        stem = stem[:-1]
    digest = hashlib.sha1(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return os.path.join(plot_dir, f"{stem}-{digest}.png")


def check_plot_dir(plan: SegmentPlan | None, paths: list[str], *, resume: bool, overwrite: bool) -> None:
    """`batch --plot-dir`: a picture already there for an input (:func:`plot_name`) is refused without
    --resume (which redraws only the files still to score) or --overwrite, as every other output
    (UsageError, exit 2)."""
    if plan is None or not plan.plot_dir or resume or overwrite:
        return
    for path in paths:
        name = plot_name(plan.plot_dir, path)
        if os.path.exists(name):
            raise UsageError(f"{name} already exists", "add --resume to keep the pictures already drawn and draw "
                             "the rest, or --overwrite to draw them all again")


def segment_columns(levels: tuple[str, ...]) -> list[str]:
    """Tidy per-window CSV columns; ``p_<level>`` follow the card's level words."""
    return (["path", "index", "start_s", "end_s", "score", "official_score", "level"]
            + [f"p_{w.strip()}" for w in levels] + ["keyframes", "motion_frames", "size_bytes", "mtime"]
            + ["explanation"])  # score --explain (docs/explain.md): appended last


class SegmentOutputs:
    """Per window: the tidy CSV row (flushed, fsync'd with ``durable``). Per record: the segment gate and
    the plot. With ``append`` (batch --resume) rows already in the CSV for the same file (path, size, mtime)
    and window are not written again, so a resumed run leaves exactly one row per window."""

    def __init__(self, plan: SegmentPlan, settings: Settings, console, *, append: bool = False,
                 durable: bool = False):
        self.plan, self.settings, self.console, self.durable = plan, settings, console, durable
        self.columns = segment_columns(settings.scoring.levels)
        self.done: set[tuple[str, int, int, float]] = set()
        self.failed_files = 0
        self.stream = self.writer = None
        if plan.csv:
            self._open(plan.csv, append)

    def _open(self, path: str, append: bool) -> None:
        from .resume import path_key, repair_tail

        if append and os.path.exists(path):
            dropped = repair_tail(path, "csv")
            if dropped:
                self.console.warning(f"{path}: dropped a torn last line ({dropped} bytes) left by an interrupted run")
            with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
                for row in csv.DictReader(fh):
                    try:
                        self.done.add((path_key(row["path"]), int(row["index"]), int(row["size_bytes"] or -1),
                                       round(float(row["mtime"] or 0), 3)))
                    except (KeyError, ValueError):
                        continue
        with writing(path):
            self.stream = open(path, "a" if append else "w", encoding="utf-8", errors="surrogateescape", newline="")
            self.writer = csv.DictWriter(self.stream, fieldnames=self.columns, lineterminator="\n")
            if self.stream.tell() == 0:
                self.writer.writeheader()
                self._flush()

    def _flush(self) -> None:
        self.stream.flush()
        if self.durable:
            os.fsync(self.stream.fileno())

    def on_window(self, path: str, entry: dict[str, Any], stat: dict[str, Any]) -> None:
        """``SegmentingScorer.on_window``: one tidy row as soon as the window is scored."""
        if self.writer is None:
            return
        from ..records.cells import csv_cell
        from .resume import path_key

        key = (path_key(path), entry["index"], int(stat.get("size_bytes", -1)), round(float(stat.get("mtime", 0)), 3))
        if key in self.done:
            return
        probs = list(entry["probs"].values())
        row = {"path": path, **{k: entry[k] for k in ("index", "start_s", "end_s", "score", "official_score",
                                                       "level", "keyframes", "motion_frames")},
               "size_bytes": stat.get("size_bytes", ""), "mtime": stat.get("mtime", ""),
               "explanation": csv_cell((entry.get("explanation") or {}).get("text", ""))}
        for column, p in zip(self.columns[7:7 + len(probs)], probs):
            row[column] = p
        with writing(self.plan.csv):
            self.writer.writerow(row)
            self._flush()
        self.done.add(key)

    def explained(self, record) -> None:
        """``batch --explain``: each explained window's row again, now with its explanation (appended: the last
        row of a window is current, as in the row files)."""
        from .resume import path_key

        stat = {k: record.input[k] for k in ("size_bytes", "mtime") if k in record.input}
        for entry in record.segments or ():
            if entry.get("explanation"):
                self.done.discard((path_key(record.path), entry["index"], int(stat.get("size_bytes", -1)),
                                   round(float(stat.get("mtime", 0)), 3)))
                self.on_window(record.path, entry, stat)

    def after(self, record, thumbnails=()) -> bool:
        """Gate and plot for a finished record; True when a window is below --fail-segment-under."""
        if getattr(record, "status", "ok") != "ok":
            return False
        if not record.segments:
            if self.plan.pool:  # never a silently ignored flag
                self.console.warning(f"{record.path}: --pool {self.plan.pool} not applied: the clip was scored in "
                                     "one forward (within the model's limits); add --segments 10s to pool windows")
            return False
        if self.plan.plot or self.plan.plot_dir:
            self._plot(record, thumbnails)
        return self._gate(record)

    def _gate(self, record) -> bool:
        from ..video.segments import format_time

        limit = self.plan.fail_segment_under
        if limit is None:
            return False
        low = [s for s in record.segments if s["score"] < limit]
        for s in low:
            self.console.error(f"{record.path} {format_time(s['start_s'])}–{format_time(s['end_s'])} "
                               f"scored {s['score']:.3f} < {limit:g}")
        self.failed_files += bool(low)
        return bool(low)

    def _plot(self, record, thumbnails) -> None:
        from ..output.plot import plot_timeline

        target = self.plan.plot or plot_name(self.plan.plot_dir, record.path)
        with writing(target):
            plot_timeline(record, target, thumbnails=thumbnails, levels=self.settings.scoring.levels,
                          weights=self.settings.scoring.weights)
        self.console.info(f"{record.path}: timeline written to {target}")

    def close(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            try:
                stream.close()
            except OSError:  # a failed write was already reported; its bytes are lost either way
                pass


def load_scorer(settings: Settings, ref, plan: SegmentPlan, outputs: SegmentOutputs, *, offline: bool = False,
                clips: list[tuple[int, float]] | None = None):
    """A :class:`~vqa2cli.pipeline.segmented.SegmentingScorer` wired to ``outputs``; ``clips`` = the inputs'
    ``(n_frames, avg_fps)`` for the memory preflight."""
    from ..pipeline.segmented import SegmentingScorer

    scorer = SegmentingScorer.load(settings, ref, offline=offline, clips=clips)
    return scorer.configure(window_s=plan.window_s, on_window=outputs.on_window,
                            keep_thumbnails=bool(plan.plot or plan.plot_dir))
