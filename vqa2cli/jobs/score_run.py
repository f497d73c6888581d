"""The run of ``vqa2 score``, once for every front-end: the loop over files, the records, the window
outputs and the exit code. Where the model runs is a *scoring source* (:class:`LocalScoring`: weights
loaded here, :class:`~vqa2cli.remote.scorers.RemoteScoring`: a ``vqa2 serve`` server); ``cli/score.py``
maps flags to the settings, the window plan and the source, then calls :func:`run_score`.

A scoring source has ``records(paths, on_window) → Iterator[ScoreRecord]`` (an unreadable input is its
``status="error"`` record, never an exception; a model failure raises) and ``thumbnails()`` (the last
record's worst-window key frames for ``--plot``, or ``()``).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ..config import Settings
from ..errors import ExitCode
from ..records.results import ScoreRecord
from ..video.decode_pool import DEFAULT_DECODE_PROCESSES
from .windows import SegmentOutputs, SegmentPlan


class ScoringSource(Protocol):
    def records(self, paths: list[str], on_window) -> Iterator[ScoreRecord]: ...

    def thumbnails(self) -> Any: ...


class LocalScoring:
    """The model loaded in this process (:class:`~vqa2cli.pipeline.segmented.SegmentingScorer`), after the
    inputs' preflight: when no input is readable no weights are loaded at all."""

    def __init__(
        self, settings: Settings, ref, plan: SegmentPlan, console, *, stalling=None, offline: bool = False
    ):
        self.settings, self.ref, self.plan, self.console = settings, ref, plan, console
        self.stalling, self.offline = stalling, offline
        self.scorer = None
        self.workers: int | None = None  # read-ahead threads (None: jobs.prefetch.default_workers())
        self.decode_processes = DEFAULT_DECODE_PROCESSES  # decode worker processes (jobs/feeding.py)

    def feed(self, workers: int | None, decode_processes: int) -> None:
        """``--workers`` / ``--decode-processes``: clips n+1… decoded while the model runs clip n."""
        from .feeding import check_counts

        check_counts(workers, decode_processes)
        self.workers, self.decode_processes = workers, decode_processes

    def records(self, paths: list[str], on_window) -> Iterator[ScoreRecord]:
        from ..pipeline.run import CheckedInputs, error_record
        from ..pipeline.segmented import SegmentingScorer

        checked = CheckedInputs.check(paths)  # the preflight, once: score_files reuses it
        if len(checked.errors) == len(set(paths)):
            yield from (error_record(path, checked.errors[path], self.settings) for path in paths)
            return
        self.console.info(f"Loading {self.settings.model.label} ...")
        scorer = SegmentingScorer.load(self.settings, self.ref, offline=self.offline, clips=checked.shapes())

        def duration(path: str) -> float | None:  # seconds; None when the file was not probed (or changed)
            info = checked.info(path)
            return info.duration_s if info is not None else None

        progress = WindowProgress(self.console, duration)

        def each_window(path, entry, stat):
            on_window(path, entry, stat)
            progress(path, entry["index"], entry["start_s"], entry["end_s"])

        self.scorer = scorer.configure(
            window_s=self.plan.window_s,
            on_window=each_window,
            keep_thumbnails=bool(self.plan.plot or self.plan.plot_dir),
        )
        for line in scorer.memory_lines:
            self.console.info(line)
        from .feeding import feeding
        from .prefetch import default_workers

        workers = default_workers() if self.workers is None else self.workers
        with feeding(scorer, workers=workers, processes=self.decode_processes, read_ahead=len(paths) > 1):
            yield from scorer.score_files(paths, stalling=self.stalling, checked=checked)

    def thumbnails(self):
        return self.scorer.last_thumbnails if self.scorer is not None else ()


class WindowProgress:
    """``PATH: window 7/18, ETA 00:01:20`` on stderr as each window of a long file is done, only when stderr
    is a terminal (``console.interactive``; never in logs or pipes). The total comes from the file's
    duration (``duration_of(path)`` in seconds, None when unknown: then ``window 7``); the ETA from the
    pace of the windows done so far."""

    def __init__(self, console, duration_of: Callable[[str], float | None]):
        self.console, self.duration_of = console, duration_of
        self.path: str | None = None
        self.first, self.started = 0, 0.0

    def __call__(self, path: str, index: int, start_s: float, end_s: float) -> None:
        if not self.console.interactive:
            return
        from ..video.segments import format_time

        now = time.monotonic()
        if path != self.path:
            self.path, self.first, self.started = path, index, now
        duration = self.duration_of(path)
        span = end_s - start_s
        total = max(index + 1, math.ceil(duration / span - 1e-6)) if duration and span > 0 else None
        line = f"{path}: window {index + 1}" + (f"/{total}" if total else "")
        if total and index > self.first:
            pace = (now - self.started) / (index - self.first)
            line += f", ETA {format_time(pace * (total - index - 1))}"
        self.console.info(line)


def run_score(
    paths: list[str],
    source: ScoringSource,
    settings: Settings,
    fmt: str,
    fail_under: float | None,
    console,
    plan: SegmentPlan | None = None,
    gates=None,
) -> ExitCode:
    """Score ``paths`` from ``source`` and print each record as it comes (``fmt`` through the writer
    registry), the window outputs of ``plan`` (tidy rows, gate, plot) as they finish; → the exit code of
    :func:`score_exit_code`, then of ``gates`` (``calibration.apply.RecordGates``: ``--calibration`` applied
    to each record before it is written, ``--fail-calibrated-under``/``--fail-uncertain-over``). Raises
    OutputError (exit 5) when stdout or an output cannot be written."""
    from ..output.render import make_writer
    from ..pipeline import interrupts as interrupt
    from ..pipeline.stages import format_timing

    interrupt.expect(len(paths), "the results printed so far are complete")
    plan = plan or SegmentPlan()
    segment_out = SegmentOutputs(plan, settings, console)
    writer = make_writer(fmt, sys.stdout, "score", fail_under=fail_under)  # the table marks files below it
    failed, below = 0, []
    try:
        for record in source.records(paths, segment_out.on_window):
            if not record.ok:
                console.error(record.error)
                failed += 1
            console.warnings(record.warnings, prefix=f"{record.path}: ")  # a repeated kind once, counted
            if gates is not None:
                gates.apply(record, console)
            if record.timing:
                console.debug(f"{record.path}: {format_timing(record.timing)}")
            with interrupt.deferred():  # printed and counted together: Ctrl-C waits for both
                writer.write(record)
                interrupt.advance()
            if (
                record.ok
                and fail_under is not None
                and record.score is not None
                and record.score < fail_under
            ):
                below.append(record)
            segment_out.after(record, source.thumbnails())
    finally:
        writer.close()
        segment_out.close()
    code = score_exit_code(
        console, len(paths), failed, below, fail_under, segment_out, plan.fail_segment_under
    )
    return gates.exit_code(code, console) if gates is not None else code


def shown_limit(limit: float) -> str:
    """A threshold as the user wrote it: ``%g`` when that is exact, else the shortest repr."""
    return f"{limit:g}" if float(f"{limit:g}") == limit else repr(limit)


def gate_text(score: float, limit: float) -> str:
    """``"<score> < <limit>"`` with enough digits that the line is true as printed: the limit as given, the
    score rounded to 3 decimals or more until the rounding no longer reaches the limit (0.51494999 below
    0.51495 prints ``0.5149 < 0.51495``, never ``0.515 < 0.51495``)."""
    for digits in range(3, 18):
        text = f"{score:.{digits}f}"
        if float(text) < limit:
            return f"{text} < {shown_limit(limit)}"
    return f"{score!r} < {shown_limit(limit)}"


def score_exit_code(
    console,
    n_files: int,
    failed: int,
    below: list,
    fail_under: float | None,
    outputs: SegmentOutputs,
    fail_segment_under: float | None,
) -> ExitCode:
    """The exit code of ``score`` (every front-end): 3 when an input failed (takes precedence), else 1 when
    a file scored below ``--fail-under`` or has a window below ``--fail-segment-under``, else 0. ``below``:
    the records under ``--fail-under``, each named on stderr with its score (windows are named by
    :class:`SegmentOutputs`)."""
    for record in below:  # below the gate only when the gate was given
        assert fail_under is not None and record.score is not None
        console.error(f"{record.path} scored {gate_text(record.score, fail_under)} (--fail-under)")
    if failed:
        return ExitCode.INPUT
    if below:
        assert fail_under is not None
        console.error(
            f"{len(below)} of {n_files} file(s) scored below --fail-under {shown_limit(fail_under)}"
        )
    if outputs.failed_files:
        assert fail_segment_under is not None  # a window fails only the gate that was given
        console.error(
            f"{outputs.failed_files} of {n_files} file(s) have a window below "
            f"--fail-segment-under {shown_limit(fail_segment_under)}"
        )
    if below or outputs.failed_files:
        return ExitCode.GATE_FAILED
    return ExitCode.OK
