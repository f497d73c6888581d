"""Diagnostics and progress on stderr. Colour only when stderr is a terminal and ``NO_COLOR`` is unset.

stdout is reserved for results (output/render.py). ``--quiet`` keeps only errors; ``--verbose`` adds
debug lines. Progress bars are shown only on a terminal.

Every line goes through :meth:`Console._emit`, which shows control characters (a newline, CR, TAB, ESC of an
ANSI sequence, DEL, C1 ...) in a message as ``\\n``/``\\r``/``\\t``/``\\xNN``, the same function as tables
(records/cells.py ``table_text``): one message is always one line, and a hostile file name cannot move the
cursor or colour the terminal. JSON/CSV results keep the real name.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

QUIET, NORMAL, VERBOSE = 0, 1, 2


def color_enabled(stream=None) -> bool:
    stream = stream or sys.stderr
    if os.environ.get("NO_COLOR", "") != "":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class Console:
    def __init__(self, level: int = NORMAL, stream=None):
        self.level = level
        self.stream = stream or sys.stderr
        self._rich = None

    @property
    def rich(self):
        if self._rich is None:
            from rich.console import Console as RichConsole

            color = color_enabled(self.stream)
            self._rich = RichConsole(
                file=self.stream,
                no_color=not color,
                color_system="auto" if color else None,
                highlight=False,
                soft_wrap=True,
                force_terminal=color,
            )
        return self._rich

    def _emit(self, prefix: str, style: str, message: str) -> None:
        message = visible_line(message)
        if color_enabled(self.stream):
            self.rich.print(f"[{style}]{prefix}[/{style}]{_escape(message)}")
        else:
            self.stream.write(f"{prefix}{message}\n")
            self.stream.flush()

    def error(self, message: str) -> None:
        self._emit("Error: ", "bold red", message)

    def warning(self, message: str) -> None:
        if self.level >= NORMAL:
            self._emit("Warning: ", "yellow", message)

    def warnings(self, messages, prefix: str = "") -> None:
        """Each kind of warning in ``messages`` once, with a count when it repeats (:func:`group_repeats`):
        a clip of 98 windows with the same note prints one line, not 98. ``prefix`` starts every line (the
        file's path)."""
        for message in group_repeats(messages):
            self.warning(f"{prefix}{message}")

    def info(self, message: str) -> None:
        if self.level >= NORMAL:
            self._emit("", "dim", message)

    def debug(self, message: str) -> None:
        if self.level >= VERBOSE:
            self._emit("debug: ", "dim", message)

    @property
    def interactive(self) -> bool:
        return self.level >= NORMAL and bool(getattr(self.stream, "isatty", lambda: False)())

    @contextmanager
    def progress(self, total: int | None, description: str) -> Iterator[callable]:
        """Yields ``advance(n=1)``; draws a bar with ETA only on a terminal, else nothing."""
        if not self.interactive:
            yield lambda n=1: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.rich,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n=1: bar.advance(task, n)


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def warning_kind(message: str) -> str:
    """What makes two warnings "the same kind": their text with every number masked (``window 3: only 1
    frame(s)`` and ``window 97: only 2 frame(s)`` are one kind)."""
    return _NUMBER.sub("#", message)


def group_repeats(messages) -> list[str]:
    """``messages`` with each kind (:func:`warning_kind`) said once, in first-seen order: the first message
    of a kind, followed by ``" (and N more like it)"`` when the kind repeats (exact duplicates included)."""
    first: dict[str, str] = {}
    counts: dict[str, int] = {}
    for message in messages:
        kind = warning_kind(message)
        first.setdefault(kind, message)
        counts[kind] = counts.get(kind, 0) + 1
    return [
        msg if counts[k] == 1 else f"{msg} (and {counts[k] - 1} more like it)" for k, msg in first.items()
    ]


def visible_line(message: str) -> str:
    """``message`` as one visible line for stderr: control characters escaped (records/cells.py)."""
    from ..records.cells import table_text

    return table_text(message)


def _escape(message: str) -> str:
    from rich.markup import escape

    return escape(message)


_console = Console()


def get_console() -> Console:
    return _console


def set_console(console: Console) -> None:
    global _console
    _console = console
