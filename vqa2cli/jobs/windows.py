"""The window options of `score` / `batch` / the server (``segment_options`` → :class:`SegmentPlan`; the
typer declarations are :mod:`vqa2cli.cli.segments`) and what a run does with each finished window and record:
tidy per-window CSV rows (flushed, fsync'd, resumable), the --fail-segment-under gate and the plots."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..errors import UsageError
from .rowfiles import RowFiles, check_output_path, writing

if TYPE_CHECKING:
    from .resume import DoneIndex


@dataclass(frozen=True)
class SegmentPlan:
    """The command's window options, validated; ``window_s`` None = windows only past the limits."""

    window_s: float | None = None
    csv: str | None = None
    fail_segment_under: float | None = None
    plot: str | None = None
    plot_dir: str | None = None
    pool: str | None = None  # --pool as given: a file scored without windows is then noted on stderr


def check_segments_csv(
    plan: SegmentPlan | None, *, resume: bool, overwrite: bool, distributed: bool = False
) -> SegmentPlan:
    """`batch`: the --segments-csv file follows the outputs' rules (--resume / --overwrite); one writer only."""
    from .resume import OutputSpec, check_existing

    plan = plan or SegmentPlan()
    if plan.csv and distributed:
        raise UsageError(
            "--segments-csv is not supported under torchrun (one file, several writers)",
            "use --shard K/N with one --segments-csv per shard",
        )
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
    (UsageError, exit 2). The folder is created (with its parents) when missing: OutputError (exit 5) when it
    cannot be, before any model loads."""
    if plan is None or not plan.plot_dir:
        return
    try:
        os.makedirs(plan.plot_dir, exist_ok=True)
    except OSError as exc:
        from ..errors import OutputError

        raise OutputError(plan.plot_dir, exc) from None
    if resume or overwrite:
        return
    for path in paths:
        name = plot_name(plan.plot_dir, path)
        if os.path.exists(name):
            raise UsageError(
                f"{name} already exists",
                "add --resume to keep the pictures already drawn and draw "
                "the rest, or --overwrite to draw them all again",
            )


def segment_columns(levels: tuple[str, ...]) -> list[str]:
    """Tidy per-window CSV columns; ``p_<level>`` follow the card's level words (records/windows.py)."""
    from ..records.windows import window_columns

    return list(window_columns(levels))


PLOT_SUFFIXES = (".png", ".svg")


def segment_options(
    settings: Settings,
    *,
    segments: str | None,
    pool: str | None,
    segments_csv=None,
    fail_segment_under: float | None = None,
    plot=None,
    plot_dir=None,
    n_files: int | None = None,
    overwrite: bool | None = None,
) -> tuple[Settings, SegmentPlan]:
    """Validate the options (UsageError, exit 2) and fold ``--pool`` into the settings (flags win).

    ``overwrite`` (``score``; None for ``batch``, which checks its outputs with its --resume): an existing
    --segments-csv or --plot file is a UsageError without it, the rule of ``batch``'s outputs."""
    from ..video.segments import window_seconds

    if pool is not None:
        settings = settings.replace(scoring={"pool": pool})
    if fail_segment_under is not None and not 0.0 <= fail_segment_under <= 1.0:
        raise UsageError(
            f"--fail-segment-under must be between 0 and 1, got {fail_segment_under}",
            "scores are on the 0-1 scale",
        )
    if plot is not None:
        if Path(plot).suffix.lower() not in PLOT_SUFFIXES:
            raise UsageError(f"--plot {plot}: unknown picture type", "name a .png or .svg file")
        if n_files is not None and n_files != 1:
            raise UsageError(
                "--plot draws one file's timeline", "score one file, or use `vqa2 batch --plot-dir DIR`"
            )
    if plot_dir is not None and Path(plot_dir).exists() and not Path(plot_dir).is_dir():  # missing: created
        raise UsageError(f"--plot-dir {plot_dir}: not a folder", "name a folder (it is created when missing)")
    for output in (segments_csv, plot):  # exit 5 before the weights load, as every output
        if output is not None:
            check_output_path(str(output))
    if overwrite is not None:
        from .resume import refuse_existing

        refuse_existing([str(o) for o in (segments_csv, plot) if o is not None], overwrite=overwrite)
    window = window_seconds(segments, settings.video) if segments is not None else None
    implied = any(v is not None for v in (segments_csv, fail_segment_under, plot, plot_dir))
    if window is None and (segments is not None or implied):
        window = window_seconds(None, settings.video)
    elif settings.video.long_clip_policy == "segments":  # the card's window, used past the limits
        window_seconds(None, settings.video)
    return settings, SegmentPlan(
        window,
        str(segments_csv) if segments_csv else None,
        fail_segment_under,
        str(plot) if plot else None,
        str(plot_dir) if plot_dir else None,
        pool,
    )


class SegmentOutputs:
    """Per window: the tidy CSV row (a :class:`~vqa2cli.records.windows.WindowRow` written by the row-file
    writer, fsync'd row by row). Per record: the segment gate and the plot. With ``append`` (batch --resume)
    rows already in the CSV for the same file (path, size, mtime) and window are not written again (the
    resume index of jobs/resume.py), so a resumed run leaves exactly one row per window."""

    def __init__(
        self, plan: SegmentPlan, settings: Settings, console, *, append: bool = False, durable: bool = False
    ):
        self.plan, self.settings, self.console = plan, settings, console
        self.columns = segment_columns(settings.scoring.levels)
        self.index: DoneIndex | None = None  # the rows already in the CSV (append)
        self.failed_files = 0
        self.rows: RowFiles | None = None  # the --segments-csv file
        if plan.csv:
            self._open(plan.csv, append)

    def _open(self, path: str, append: bool) -> None:
        from .resume import DoneIndex, OutputSpec, repair_tail

        if append and os.path.exists(path):
            dropped = repair_tail(path, "csv")
            if dropped:
                self.console.warning(
                    f"{path}: dropped a torn last line ({dropped} bytes) left by an interrupted run"
                )
            self.index = DoneIndex()
            self.index.add_file(
                OutputSpec(path, "csv", tuple(self.columns), "use --overwrite to start it again", key="index")
            )
        columns = tuple(self.columns)

        def make_writer(fmt, stream, header):
            from ..output.render import make_writer as writer_for

            return writer_for(fmt, stream, "window_row", header=header, columns=columns)

        self.rows = RowFiles([path], ["csv"], append=append, make_writer=make_writer)

    def on_window(self, path: str, entry: dict[str, Any], stat: dict[str, Any]) -> None:
        """``SegmentingScorer.on_window``: one tidy row as soon as the window is scored."""
        if self.rows is None:
            return
        from ..records.windows import WindowRow

        size, mtime = stat.get("size_bytes"), stat.get("mtime")
        if (
            self.index is not None
            and size is not None
            and mtime is not None
            and self.index.match(path, (size, mtime), retry_errors=False, key=str(entry["index"]))
        ):
            return
        self.rows.write(WindowRow.of(path, entry, stat, self.settings.scoring.levels), ())

    def explained(self, record) -> None:
        """``batch --explain``: each explained window's row again, now with its explanation (appended: the last
        row of a window is the current one, as in the row files and their resume index)."""
        if self.rows is None:
            return
        from ..records.windows import WindowRow

        stat = {k: record.input[k] for k in ("size_bytes", "mtime") if k in record.input}
        for entry in record.segments or ():
            if entry.get("explanation"):
                self.rows.write(WindowRow.of(record.path, entry, stat, self.settings.scoring.levels), ())

    def after(self, record, thumbnails=()) -> bool:
        """Gate and plot for a finished record; True when a window is below --fail-segment-under."""
        if record.status != "ok":
            return False
        if not record.segments:
            if self.plan.pool:  # never a silently ignored flag
                self.console.warning(
                    f"{record.path}: --pool {self.plan.pool} not applied: the clip was scored in "
                    "one forward (within the model's limits); add --segments 10s to pool windows"
                )
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
        from .score_run import gate_text

        for s in low:
            self.console.error(
                f"{record.path} {format_time(s['start_s'])}–{format_time(s['end_s'])} "
                f"scored {gate_text(s['score'], limit)}"
            )
        self.failed_files += bool(low)
        return bool(low)

    def _plot(self, record, thumbnails) -> None:
        from ..output.plot import plot_timeline

        if self.plan.plot:
            target = self.plan.plot
        elif self.plan.plot_dir:
            target = plot_name(self.plan.plot_dir, record.path)
        else:
            return
        with writing(target):
            plot_timeline(
                record,
                target,
                thumbnails=thumbnails,
                levels=self.settings.scoring.levels,
                weights=self.settings.scoring.weights,
            )
        self.console.info(f"{record.path}: timeline written to {target}")

    def close(self) -> None:
        if self.rows is not None:
            rows, self.rows = self.rows, None
            try:
                rows.close()
            except Exception:  # noqa: BLE001 - a failed write was already reported (OutputError, exit 5)
                pass


def wired_scorer(
    settings: Settings,
    ref,
    plan: SegmentPlan,
    outputs: SegmentOutputs,
    *,
    offline: bool = False,
    clips: list[tuple[int, float]] | None = None,
):
    """A :class:`~vqa2cli.pipeline.segmented.SegmentingScorer` wired to ``outputs``; ``clips`` = the inputs'
    ``(n_frames, avg_fps)`` for the memory preflight."""
    from ..inputs.materialize import as_given, is_local_copy
    from ..pipeline.segmented import SegmentingScorer

    def on_window(path, entry, stat):  # a local copy of -, a URL, a manifest: its rows name it as given
        if is_local_copy(path):  # the copy's mtime says nothing about the input (as in its JSON record)
            stat = {k: v for k, v in stat.items() if k != "mtime"}
        outputs.on_window(as_given(path), entry, stat)

    scorer = SegmentingScorer.load(settings, ref, offline=offline, clips=clips)
    return scorer.configure(
        window_s=plan.window_s, on_window=on_window, keep_thumbnails=bool(plan.plot or plan.plot_dir)
    )
