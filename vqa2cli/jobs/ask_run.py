"""The run of ``vqa2 ask``, once for every front-end: the questions, one decode of the video (or of each
window with ``--segments``), one answer per question, records through the writer registry (the table
streams each answer as it is generated) and the exit code.

Where the model runs is an *asking source*: :class:`LocalAsking` (weights loaded here) or
:class:`~vqa2cli.remote.scorers.RemoteAsking` (a ``vqa2 serve --assistant`` server). A source's
``answers(path, questions)`` yields :class:`PendingAnswer`\\ s in order (per window, every question) and
raises ``InputError`` for a video it cannot use; ``warnings`` holds the decode's notes once it is done.
The server's ``/v1/ask`` uses :func:`prepare_clip` and :func:`pending_answers` directly (its decode and
its model run in different threads).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from ..config import Settings
from ..errors import ExitCode, InputError, UsageError
from ..records.results import AnswerRecord

OnText = Callable[[str], None]


@dataclass
class PendingAnswer:
    """One answer to come: ``produce(on_text)`` generates it (``on_text`` receives the text as it streams,
    or None) and returns its record. ``span``: the window's ``{"index", "start_s", "end_s"}`` (seconds) with
    ``--segments``, else None."""

    question: str
    span: dict[str, Any] | None
    produce: Callable[[OnText | None], AnswerRecord]


class AskingSource(Protocol):
    warnings: list[str]

    def answers(self, path: str, questions: list[str]) -> Iterator[PendingAnswer]: ...


def collect_questions(
    question: str | None, questions: list[str] | None, questions_file: Path | None
) -> list[str]:
    """QUESTION, every ``--question`` and the lines of ``--questions-file`` (blank lines and ``# comment``
    lines left out), in that order. UsageError when none is given, when the file is missing, or when a
    question names an existing file (``vqa2 ask a.mp4 b.mp4`` asks about one video: b.mp4 is no question)."""
    asked = [question] if question else []
    asked += list(questions or [])
    for q in asked:
        if os.path.isfile(q.strip()):
            raise UsageError(
                f"'{q}' is a file, not a question: `vqa2 ask` takes one video and then questions",
                "ask about one file at a time, quote the question, or use --question TEXT",
            )
    if questions_file is not None:
        if not Path(questions_file).is_file():
            raise UsageError(f"{questions_file}: questions file not found", "check the --questions-file path")
        lines = Path(questions_file).read_text(encoding="utf-8").splitlines()
        asked += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not asked:
        raise UsageError("no question given", "pass QUESTION, --question TEXT or --questions-file FILE")
    return asked


class WholeClip:
    """A clip decoded once, iterated as the one window ``(None, clip)`` of a clip asked about whole."""

    warnings: tuple[str, ...] = ()

    def __init__(self, clip):
        self.clip = clip

    def __iter__(self):
        yield None, self.clip


def prepare_clip(asker, path: str, questions: list[str], window_s: float | None, info=None):
    """The decode of ``path`` sized for the longest question: a :class:`WholeClip`, or with ``window_s`` the
    streaming :class:`~vqa2cli.video.decode.WindowStream` (each window decoded as it is iterated). Raises
    ``InputError`` subclasses."""
    longest = max(questions, key=len)
    if window_s is not None:
        from ..pipeline.segmented import ask_windows

        return ask_windows(asker, path, window_s, question=longest, info=info)
    return WholeClip(asker.decode(path, question=longest, info=info))


def pending_answers(asker, prepared, path: str, questions: list[str]) -> Iterator[PendingAnswer]:
    """Every question about each window of ``prepared`` (:func:`prepare_clip`): the one asking loop."""
    from ..pipeline.segmented import segment_tag

    for window, clip in prepared:
        span = segment_tag(window) if window is not None else None
        for q in questions:
            yield PendingAnswer(q, span, partial(_answer, asker, clip, path, q, span))
        del clip


def _answer(asker, clip, path: str, question: str, span, on_text: OnText | None) -> AnswerRecord:
    record = asker.answer(clip, path, question, on_text=on_text)
    if span is not None:
        record.segment = span
    return record


class LocalAsking:
    """The assistant loaded in this process, after the input's preflight (an unreadable file loads nothing)."""

    def __init__(
        self, settings: Settings, ref, console, *, window_s: float | None = None, offline: bool = False
    ):
        self.settings, self.ref, self.console, self.window_s, self.offline = (
            settings,
            ref,
            console,
            window_s,
            offline,
        )
        self.warnings: list[str] = []

    def answers(self, path: str, questions: list[str]) -> Iterator[PendingAnswer]:
        from ..pipeline.asking import Asker
        from ..pipeline.run import CheckedInputs
        from .score_run import WindowProgress

        checked = CheckedInputs.check([path])  # before the weights load, once: the decode reuses its probe
        if checked.errors:
            raise checked.errors[str(path)]
        self.console.info(f"Loading {self.settings.model.label} ...")
        asker = Asker.load(self.settings, self.ref, offline=self.offline, clips=checked.shapes())
        for line in asker.memory_lines:
            self.console.info(line)
        info = checked.info(path)
        prepared = prepare_clip(asker, path, questions, self.window_s, info=info)
        progress = WindowProgress(self.console, lambda _path: info.duration_s if info is not None else None)
        for item in pending_answers(asker, prepared, path, questions):
            if item.span is not None and item.question == questions[0]:
                progress(path, item.span["index"], item.span["start_s"], item.span["end_s"])
            yield item
        self.warnings = list(prepared.warnings) if self.window_s is not None else []


def run_ask(
    path: str, questions: list[str], source: AskingSource, settings: Settings, fmt: str, console
) -> ExitCode:
    """Answer ``questions`` about ``path`` from ``source``: the table streams ``Q:``/``A:`` (and a
    ``[start–end]`` line per window), other formats write records. An unusable video: one error line and,
    in json/jsonl/csv, one error record per question; exit 3. Else 0."""
    from ..output.render import make_writer
    from ..pipeline import interrupts as interrupt
    from ..pipeline.stages import format_timing

    interrupt.expect(1, "the answers printed so far are complete")
    writer = None if fmt == "table" else make_writer(fmt, sys.stdout, "answer")
    code = ExitCode.OK
    try:
        try:
            for item in _printed(source.answers(path, questions), writer, len(questions)):
                console.debug(f"{path}: {format_timing(item.timing)}")
        except InputError as exc:
            console.error(exc.one_line())
            for q in questions if writer is not None else ():
                assert writer is not None
                writer.write(
                    AnswerRecord(
                        path=str(path),
                        question=q,
                        status="error",
                        error_code=exc.code,
                        error=exc.one_line(),
                        config=settings.to_dict(),
                    )
                )
            code = ExitCode.INPUT
    finally:
        if writer is not None:
            writer.close()
    console.warnings(source.warnings, prefix=f"{path}: ")  # a repeated kind once, counted
    interrupt.advance()
    return code


def _printed(pending: Iterator[PendingAnswer], writer, n_questions: int) -> Iterator[AnswerRecord]:
    """Each answer written as it comes: a record to ``writer``, or (table) streamed to stdout."""
    from ..video.segments import format_time

    span = None
    for item in pending:
        if writer is not None:
            record = item.produce(None)
            writer.write(record)
            yield record
            continue
        if item.span is not None and item.span != span:
            sys.stdout.write(f"[{format_time(item.span['start_s'])}–{format_time(item.span['end_s'])}]\n")
        span = item.span
        sys.stdout.write(f"Q: {item.question}\nA: ")
        sys.stdout.flush()
        record = item.produce(_echo)
        sys.stdout.write("\n\n" if n_questions > 1 or span is not None else "\n")
        sys.stdout.flush()
        yield record


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
