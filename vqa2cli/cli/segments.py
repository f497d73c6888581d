"""The window options shared by `score` and `batch` (--segments, --pool, --segments-csv,
--fail-segment-under, --plot, --plot-dir) and what they do with each finished window and record."""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ..config import CHOICES, Settings
from ..errors import ExitCode, UsageError
from ..output.rowfiles import check_output_path, writing

SegmentsOpt = Annotated[Optional[str], typer.Option(
    "--segments", metavar="DURATION|auto",
    help="Score in windows of DURATION (10s, 90, 1.5m, 1m30s, 2h, 00:01:30) and pool them; auto = the card's "
         "window (video.segment_s, 10 s); at least one key-frame step (1 s). Without it, windows are used only for clips over the model's limits (--long-clip segments).")]
PoolOpt = Annotated[Optional[str], typer.Option(
    "--pool", metavar="|".join(CHOICES[("scoring", "pool")]),
    help="What `score` means for a clip scored in windows. [default: weighted_mean, the duration-weighted mean] "
         "A clip scored in one forward (within the model's limits, no --segments) has no windows to pool: "
         "stderr says so for each such file.")]
SegmentsCsvOpt = Annotated[Optional[Path], typer.Option(
    "--segments-csv", metavar="FILE",
    help="Write one tidy CSV row per window (path, index, start_s, end_s, score, level, p_*), flushed per window. "
         "Implies --segments auto. An existing FILE is refused without --overwrite.")]
FailSegmentOpt = Annotated[Optional[float], typer.Option(
    "--fail-segment-under", metavar="Y",
    help="Exit 1 when any window scores below Y (0-1); stderr names the file and time range. Implies --segments auto.")]
PlotOpt = Annotated[Optional[Path], typer.Option(
    "--plot", metavar="FILE.png|FILE.svg",
    help="Draw the score over time (level bands, pooled value, worst window and its key frames). One input "
         "file only; implies --segments auto. An existing FILE is refused without --overwrite.")]
OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Replace an existing --segments-csv or --plot file (as `vqa2 batch --overwrite`).")]
PlotDirOpt = Annotated[Optional[Path], typer.Option(
    "--plot-dir", metavar="DIR",
    help="Draw one score-over-time picture per file into DIR (NAME.png). Implies --segments auto. A picture "
         "already there is refused without --resume or --overwrite.")]

PLOT_SUFFIXES = (".png", ".svg")



@dataclass(frozen=True)
class SegmentPlan:
    """The command's window options, validated; ``window_s`` None = windows only past the limits."""

    window_s: float | None = None
    csv: str | None = None
    fail_segment_under: float | None = None
    plot: str | None = None
    plot_dir: str | None = None
    pool: str | None = None  # --pool as given: a file scored without windows is then noted on stderr


def segment_options(settings: Settings, *, segments: str | None, pool: str | None, segments_csv=None,
                    fail_segment_under: float | None = None, plot=None, plot_dir=None,
                    n_files: int | None = None, overwrite: bool | None = None) -> tuple[Settings, SegmentPlan]:
    """Validate the options (UsageError, exit 2) and fold ``--pool`` into the settings (flags win).

    ``overwrite`` (``score``; None for ``batch``, which checks its outputs with its --resume): an existing
    --segments-csv or --plot file is a UsageError without it, the rule of ``batch``'s outputs."""
    from ..video.segments import window_seconds

    if pool is not None:
        settings = settings.replace(scoring={"pool": pool})
    if fail_segment_under is not None and not 0.0 <= fail_segment_under <= 1.0:
        raise UsageError(f"--fail-segment-under must be between 0 and 1, got {fail_segment_under}",
                         "scores are on the 0-1 scale")
    if plot is not None:
        if Path(plot).suffix.lower() not in PLOT_SUFFIXES:
            raise UsageError(f"--plot {plot}: unknown picture type", "name a .png or .svg file")
        if n_files is not None and n_files != 1:
            raise UsageError("--plot draws one file's timeline", "score one file, or use `vqa2 batch --plot-dir DIR`")
    if plot_dir is not None and not Path(plot_dir).is_dir():
        raise UsageError(f"--plot-dir {plot_dir}: not a folder", "create it first")
    for output in (segments_csv, plot):  # exit 5 before the weights load, as every output
        if output is not None:
            check_output_path(str(output))
    if overwrite is not None:
        from ..pipeline.resume import refuse_existing

        refuse_existing([str(o) for o in (segments_csv, plot) if o is not None], overwrite=overwrite)
    window = window_seconds(segments, settings.video) if segments is not None else None
    implied = any(v is not None for v in (segments_csv, fail_segment_under, plot, plot_dir))
    if window is None and (segments is not None or implied):
        window = window_seconds(None, settings.video)
    elif settings.video.long_clip_policy == "segments":  # the card's window, used past the limits
        window_seconds(None, settings.video)
    return settings, SegmentPlan(window, str(segments_csv) if segments_csv else None, fail_segment_under,
                                 str(plot) if plot else None, str(plot_dir) if plot_dir else None, pool)


def check_segments_csv(plan: SegmentPlan | None, *, resume: bool, overwrite: bool,
                       distributed: bool = False) -> SegmentPlan:
    """`batch`: the --segments-csv file follows the outputs' rules (--resume / --overwrite); one writer only."""
    from ..pipeline.resume import OutputSpec, check_existing

    plan = plan or SegmentPlan()
    if plan.csv and distributed:
        raise UsageError("--segments-csv is not supported under torchrun (one file, several writers)",
                         "use --shard K/N with one --segments-csv per shard")
    if plan.csv:
        check_existing([OutputSpec(plan.csv, "csv")], resume=resume, overwrite=overwrite)
    return plan


def check_plot_dir(plan: SegmentPlan | None, paths: list[str], *, resume: bool, overwrite: bool) -> None:
    """`batch --plot-dir`: a picture already there for an input (``NAME.png``) is refused without --resume
    (which redraws only the files still to score) or --overwrite, as every other output (UsageError, exit 2)."""
    if plan is None or not plan.plot_dir or resume or overwrite:
        return
    for path in paths:
        name = os.path.join(plan.plot_dir, f"{Path(path).stem or 'video'}.png")
        if os.path.exists(name):
            raise UsageError(f"{name} already exists", "add --resume to keep the pictures already drawn and draw "
                             "the rest, or --overwrite to draw them all again")


def segment_columns(levels: tuple[str, ...]) -> list[str]:
    """Tidy per-window CSV columns; ``p_<level>`` follow the card's level words."""
    return (["path", "index", "start_s", "end_s", "score", "official_score", "level"]
            + [f"p_{w.strip()}" for w in levels] + ["keyframes", "motion_frames", "size_bytes", "mtime"])


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
        self.plots_done: set[str] = set()
        self.stream = self.writer = None
        if plan.csv:
            self._open(plan.csv, append)

    def _open(self, path: str, append: bool) -> None:
        from ..pipeline.resume import path_key, repair_tail

        if append and os.path.exists(path):
            dropped = repair_tail(path)
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
        from ..pipeline.resume import path_key

        key = (path_key(path), entry["index"], int(stat.get("size_bytes", -1)), round(float(stat.get("mtime", 0)), 3))
        if key in self.done:
            return
        probs = list(entry["probs"].values())
        row = {"path": path, **{k: entry[k] for k in ("index", "start_s", "end_s", "score", "official_score",
                                                       "level", "keyframes", "motion_frames")},
               "size_bytes": stat.get("size_bytes", ""), "mtime": stat.get("mtime", "")}
        for column, p in zip(self.columns[7:7 + len(probs)], probs):
            row[column] = p
        with writing(self.plan.csv):
            self.writer.writerow(row)
            self._flush()
        self.done.add(key)

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

        target = self.plan.plot or self._plot_name(record.path)
        with writing(target):
            plot_timeline(record, target, thumbnails=thumbnails, levels=self.settings.scoring.levels,
                          weights=self.settings.scoring.weights)
        self.console.info(f"{record.path}: timeline written to {target}")

    def _plot_name(self, path: str) -> str:
        stem = Path(path).stem or "video"
        name = os.path.join(self.plan.plot_dir, f"{stem}.png")
        if name in self.plots_done:
            digest = hashlib.sha1(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()[:8]
            name = os.path.join(self.plan.plot_dir, f"{stem}-{digest}.png")
        self.plots_done.add(name)
        return name

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


def score_exit_code(console, n_files: int, failed: int, below: int, fail_under: float | None,
                    outputs: SegmentOutputs, fail_segment_under: float | None) -> ExitCode:
    """The exit code of ``score`` (in-process or ``--server``): 3 when an input failed, else 1 when a file
    scored below ``--fail-under`` or has a window below ``--fail-segment-under`` (each said on stderr), else 0."""
    if failed:
        return ExitCode.INPUT
    if below:
        console.error(f"{below} of {n_files} file(s) scored below --fail-under {fail_under}")
    if outputs.failed_files:
        console.error(f"{outputs.failed_files} of {n_files} file(s) have a window below "
                      f"--fail-segment-under {fail_segment_under}")
    if below or outputs.failed_files:
        return ExitCode.GATE_FAILED
    return ExitCode.OK
