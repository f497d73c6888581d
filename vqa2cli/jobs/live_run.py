"""The live run of ``vqa2 score`` (docs/live.md): an input scored window by window as it arrives, for every
front-end. ``cli/score.py`` hands :class:`LiveScoring` (a scoring source) to
:func:`~vqa2cli.jobs.score_run.run_score` when :func:`is_live` says so; the API's ``score_stream`` is
:func:`score_stream`; the server never reads a pipe or a URL for a request (a ``--server`` client refuses a
live input before sending anything: :func:`refuse_live_with_server`).

Live when: ``-`` with windows asked (``--segments``, or an option implying ``--segments auto``), or any input
with ``--duration``. ``-`` without them is read whole first, as before (inputs/stdin.py). The window length
of a live run without ``--segments`` is the card's ``video.segment_s`` (``--segments auto``, 10 s for the
shipped cards). Each window's row goes to stdout as soon as it is scored (``--format table``/``jsonl``; JSON,
CSV and vmaf-json are one document or one header: their stdout is the pooled record only), then the pooled
record when the stream ends or ``--duration`` is reached.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..config import Settings
from ..errors import InputError, UsageError
from ..records.results import ScoreRecord
from .windows import SegmentPlan

STREAMED_FORMATS = ("table", "jsonl")  # the formats whose stdout carries each window's row as it is scored


def parse_limit(duration: str | None) -> float | None:
    """``--duration TEXT`` → seconds (the forms of ``--segments``: 90, 2.5, 10s, 1m30s, 00:01:30); None when
    not given. Raises UsageError (exit 2, one line) for text it cannot read and for zero or less."""
    from ..video.segments import DURATION_FORMS, parse_duration

    if duration is None:
        return None
    try:
        seconds = parse_duration(duration) if duration.strip().lower() != "auto" else None
    except UsageError:
        seconds = None
    if seconds is None:
        raise UsageError(
            f"--duration {duration!r}: not a positive duration",
            f"use {DURATION_FORMS.replace(' or auto', '')}",
        )
    return seconds


def is_live(
    paths: list[str], plan: SegmentPlan, limit_s: float | None, *, explain: bool = False, stalling=None
) -> bool:
    """Whether ``score`` runs live: any input with ``--duration``, or ``-`` with windows asked. Raises
    UsageError (exit 2) for what a live run cannot do: ``-`` twice, ``--explain`` (it re-decodes windows
    after scoring), ``--stalling`` (flags for a whole clip of known length)."""
    from ..inputs.given import STDIN

    live = limit_s is not None or (STDIN in paths and plan.window_s is not None)
    if not live:
        return False
    if paths.count(STDIN) > 1:
        raise UsageError("- (stdin) is given more than once", "a pipe can be read once: give - once")
    if STDIN in paths:
        _stdin_source()  # a terminal on stdin: refused before anything loads
    for flag, given in (("--explain", explain), ("--stalling", stalling is not None)):
        if given:
            raise UsageError(
                f"{flag} cannot be used on a live run (- with --segments, or --duration)",
                f"score the recorded file with {flag}",
            )
    return True


def refuse_live_with_server(urls: list[str], duration: str | None, paths: list[str], windows: bool) -> None:
    """``--server`` (``urls``) with a live run (``--duration``, or ``-`` with windows asked: ``windows``):
    UsageError (exit 2) before anything is sent. The server never reads a pipe or a URL for a request, and
    a stream that may never end cannot be uploaded first (a plain ``-`` is read to its end by the client
    and uploaded: inputs/materialize.py)."""
    from ..inputs.given import STDIN

    if not urls:
        return
    if duration is not None:
        raise UsageError(
            "--duration cannot be used with --server (a live run reads its input in this process)",
            "score without --server, or cut the input first (ffmpeg -t D)",
        )
    if windows and STDIN in paths:
        raise UsageError(
            "- with windows (--segments and the flags that imply it) cannot be used with --server: "
            "a live run reads the pipe in this process",
            "score without --server, or leave the window flags out to upload the whole pipe",
        )


class LiveScoring:
    """A scoring source (jobs/score_run.py) for live inputs: each path (``-``, a file, a URL) copied as it
    arrives (inputs/live.py), its windows planned and decoded as its frames come (video/live.py), scored by
    the :class:`~vqa2cli.pipeline.segmented.SegmentingScorer`; each window's row also written to stdout when
    ``fmt`` streams (:data:`STREAMED_FORMATS`). An input that cannot be read, stalls or passes the size cap is
    its error record (one line, exit 3); windows scored before stay written."""

    def __init__(
        self,
        settings: Settings,
        ref,
        plan: SegmentPlan,
        console,
        *,
        limit_s: float | None = None,
        fmt: str = "jsonl",
        offline: bool = False,
        scorer=None,
    ):
        self.settings, self.ref, self.plan, self.console = settings, ref, plan, console
        self.limit_s, self.fmt, self.offline = limit_s, fmt, offline
        self.scorer = scorer

    def records(self, paths: list[str], on_window) -> Iterator[ScoreRecord]:
        writer = None
        if self.fmt in STREAMED_FORMATS:
            from ..output.render import make_writer
            from ..records.windows import window_columns

            columns = window_columns(self.settings.scoring.levels)
            writer = make_writer(self.fmt, sys.stdout, "window_row", columns=columns)

        def each_window(name: str, entry: dict[str, Any]) -> None:
            on_window(name, entry, {})
            if writer is not None:
                from ..records.windows import WindowRow

                writer.write(WindowRow.of(name, entry, {}, self.settings.scoring.levels))

        for given in paths:
            yield self.score_one(given, each_window)

    def thumbnails(self):
        return self.scorer.last_thumbnails if self.scorer is not None else ()

    def score_one(self, given: Any, on_window: Callable[[str, dict[str, Any]], None] | None = None):
        """Score one live input: ``-`` (stdin), a path, a URL string or a binary file object (named
        ``stream``); → its record (an error record for an unreadable input). Model errors raise."""
        from ..inputs.given import STDIN, shown
        from ..inputs.live import Spool
        from ..pipeline.run import error_record

        name = (
            shown(given) if isinstance(given, str) else (given.name if hasattr(given, "name") else "stream")
        )
        name = name if isinstance(name, str) else "stream"
        try:
            source, owned = _open_source(given)
        except InputError as exc:
            return error_record(name, exc, self.settings)
        if isinstance(source, Path) and self.limit_s is None:  # a file beside `-`: scored as any file
            return self._whole_file(str(source), on_window)
        spool = Spool.of_file(str(source), name) if isinstance(source, Path) else Spool(source, name).start()
        try:
            return self._score(spool, name, on_window)
        finally:
            spool.close()
            if owned and given != STDIN and not isinstance(source, Path):
                source.close()

    def _whole_file(self, path: str, on_window) -> ScoreRecord:
        """A local file in a live run without ``--duration`` (``score a.mp4 - --segments 10s``): the usual
        path (``SegmentingScorer.score_files``), its numbers those of ``score a.mp4 --segments 10s``."""
        scorer = self._scorer(None)

        def each_window(where, entry, stat):
            if on_window is not None:
                on_window(path, entry)

        scorer.on_window = each_window
        return next(iter(scorer.score_files([path])))

    def _score(self, spool, name: str, on_window) -> ScoreRecord:
        from ..pipeline.run import PreparedClip, error_record
        from ..pipeline.segmented import SegmentedPrep
        from ..video.live import FrameCounter, LiveWindows, LiveWindowStream, limit_frames
        from ..video.planning import sampling_args
        from ..video.segments import window_frames, window_seconds

        video = self.settings.video
        stalled = lambda: spool.stalled  # noqa: E731
        end_at = spool.end_at if spool.owned else None  # a local file is read in place: nothing to stop
        counter = FrameCounter(spool.reader, spool.path, name, video.stream, stalled, end_at).start()
        names = {spool.path: name} if spool.owned else {}
        try:
            info = counter.wait_info()
        except InputError as exc:
            return _renamed(error_record(spool.path, spool_fault(spool) or exc, self.settings), names)
        if spool.stalled:  # before a single window: no weights loaded for it
            return _renamed(error_record(spool.path, spool.stall_error(), self.settings), names)
        window_s = self.plan.window_s or window_seconds(None, video)
        frames = window_frames(info.avg_fps, window_s, video.keyframe_fps)
        scorer = self._scorer([(frames, info.avg_fps)])

        def each_window(path, entry, stat):
            if on_window is not None:
                on_window(name, entry)

        scorer.on_window = each_window
        budget, copies = scorer.visual_limits()
        sampling = sampling_args(video, token_budget=budget, motion_copies=copies, source=spool.path)
        limit = limit_frames(self.limit_s, info.avg_fps)
        windows = LiveWindows(info.avg_fps, window_s, sampling, limit_frames=limit)
        counter.plan(windows)
        stream = LiveWindowStream(counter, windows, video, _opener(spool, name, limit), limit_s=self.limit_s)
        prep = SegmentedPrep(stream, window_s, "requested")
        try:  # a windowed clip has no inputs of its own: each window's are built as it is decoded
            record = scorer.run(PreparedClip(spool.path, prep, None, 0.0))  # type: ignore[arg-type]
        except InputError as exc:
            return _renamed(error_record(spool.path, spool_fault(spool) or exc, self.settings), names)
        if fault := spool_fault(spool):
            return _renamed(error_record(spool.path, fault, self.settings), names)
        if self.limit_s is not None:
            record.sampling["duration_limit_s"] = self.limit_s
        return _renamed(record, names)

    def _scorer(self, clips):
        """The scorer, loaded once (after the first input showed a frame: an unreadable one loads nothing)."""
        if self.scorer is None:
            from ..pipeline.segmented import SegmentingScorer

            self.console.info(f"Loading {self.settings.model.label} ...")
            scorer = SegmentingScorer.load(self.settings, self.ref, offline=self.offline, clips=clips)
            for line in scorer.memory_lines:
                self.console.info(line)
            self.scorer = scorer.configure(
                window_s=self.plan.window_s, keep_thumbnails=bool(self.plan.plot or self.plan.plot_dir)
            )
        return self.scorer


def spool_fault(spool) -> InputError | None:
    """What ended a live copy badly: the stall time-out, the size cap or a read error; None otherwise."""
    if spool.stalled:
        return spool.stall_error()
    return spool.error if isinstance(spool.error, InputError) else None


def _renamed(record: ScoreRecord, names: dict[str, str]) -> ScoreRecord:
    """``record`` naming the input as given (``-``, a URL as shown) instead of its live copy."""
    from ..inputs.materialize import named_as_given

    given = names.get(record.path)
    return record if given is None else named_as_given(record, given)


def _open_source(given: Any) -> tuple[Any, bool]:
    """(what the capture reads, whether this run opened it): stdin's bytes, a local file's ``Path`` (read in
    place, not copied), a URL string (PyAV reads it), or the caller's binary file object. Raises InputError for a path that cannot
    be read, UsageError for stdin on a terminal."""
    from ..inputs.given import STDIN, is_network

    if not isinstance(given, str):
        return given, False
    if given == STDIN:
        return _stdin_source(), True
    if is_network(given):
        return given, False
    from ..video.probe import check_path

    return Path(str(check_path(given))), False  # read in place (Spool.of_file)


def _stdin_source():
    """stdin's bytes, unbuffered: a capture thread still blocked in a read when the run ends then holds no
    lock that the interpreter's shutdown would wait for (a BufferedReader's would abort it). Raises
    UsageError (exit 2) for a terminal."""
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError(
            "- reads a video from stdin, but stdin is a terminal",
            "pipe a video in: ffmpeg -re -i in.mp4 -c copy -f matroska - | vqa2 score - --segments 10s",
        )
    buffer = (
        sys.stdin.buffer
    )  # its raw file: reads return what the pipe has, without waiting to fill a buffer
    return buffer.raw if isinstance(buffer, io.BufferedReader) else buffer


def _opener(spool, name: str, limit: int | None):
    """The decode pass's container: a new reader of the live copy (``limit``: its first frames only)."""

    def open_copy():
        import av

        from ..errors import CorruptContainerError
        from ..video.live import FirstFrames

        try:
            container = av.open(spool.reader(), mode="r", metadata_errors="replace")
        except (av.error.FFmpegError, OSError) as exc:
            reason = exc.strerror or str(exc)  # FFmpegError and OSError both carry strerror
            raise CorruptContainerError(
                name, f"not a readable video stream ({reason})", "check the source"
            ) from exc
        return container if limit is None else FirstFrames(container, limit)

    return open_copy


def score_stream(
    scorer,
    source: Any,
    *,
    segments: str | float | None = None,
    duration: str | float | None = None,
    on_window: Callable[[str, dict[str, Any]], None] | None = None,
) -> ScoreRecord:
    """Score ``source`` as it arrives with a loaded ``scorer`` (``vqa2cli.load_scorer``): ``source`` is
    ``"-"`` (stdin), a path, an ``http(s)://`` URL or a binary file object (a pipe, a socket's
    ``makefile("rb")``). ``segments``: window length (seconds or ``"10s"``; default the card's
    ``video.segment_s``); ``duration``: stop after that many seconds of video (default: the stream's end).
    ``on_window(name, entry)`` gets each window's entry (the record's ``segments`` item: ``index``,
    ``start_s``, ``end_s`` in seconds, ``score`` 0-1, ``level``, ``probs``) as soon as it is scored. Returns
    the pooled :class:`~vqa2cli.records.results.ScoreRecord` (``status="error"`` for an input that cannot be
    read, stalls or passes the size cap). Raises UsageError for a bad ``segments``/``duration``."""
    from ..video.segments import window_seconds

    settings = scorer.settings
    window_s = window_seconds(None if segments is None else str(segments), settings.video)
    limit_s = parse_limit(None if duration is None else str(duration))
    saved = (scorer.window_s, scorer.on_window, scorer.keep_thumbnails)
    live = LiveScoring(settings, None, SegmentPlan(window_s), _Silent(), limit_s=limit_s, scorer=scorer)
    try:
        scorer.configure(window_s=window_s)
        return live.score_one(source, on_window)
    finally:
        scorer.configure(window_s=saved[0], on_window=saved[1], keep_thumbnails=saved[2])


class _Silent:
    """The API has no console: nothing is printed."""

    def info(self, message: str) -> None:
        pass
