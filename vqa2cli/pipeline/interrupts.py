"""Ctrl-C (SIGINT) for every command: one line on stderr, ``interrupted: N of M files done; <what is kept>``,
and exit 130.

Typer turns a ``KeyboardInterrupt`` raised inside a command into a silent exit 130 (``typer.core._main``), so
the root command never sees it. :func:`catching` therefore installs a SIGINT handler that records the
interrupt and then raises ``KeyboardInterrupt`` exactly as Python's default handler does (commands that stop
cleanly on it, like ``batch``, still do); afterwards the root command prints :func:`line` and exits 130.
A SIGINT that was ignored when the process started (``nohup``, background jobs) stays ignored. ``serve``
installs its own handler while it runs (drain, exit 0).

SIGTERM (``kill``, Slurm's time limit, Kubernetes stopping a pod) is handled the same way when its handler is
the default: the current file's row is finished (:func:`deferred`), the line says ``terminated (SIGTERM): ...``
and the exit code is 143 (128 + 15, what a shell reports for a process killed by SIGTERM).

Commands say how many files they will do (:func:`expect`, with what an interrupted run keeps) and count
each one done (:func:`advance`). A result written and its count are one step: inside :func:`deferred` a
SIGINT waits until the block ends, so N is exactly the results printed or rows written.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass
class Tally:
    """The running command's progress, for the interrupted line."""

    total: int | None = None  # files the command will do; None: not a per-file command (or not started)
    done: int = 0
    kept: str = ""  # what an interrupted run keeps, and how to go on
    interrupted: bool = False
    holding: int = 0  # nesting depth of deferred() blocks
    pending: bool = False  # a SIGINT arrived inside one
    signum: int = signal.SIGINT  # the signal that stopped the command (SIGINT or SIGTERM)


_tally = Tally()


def expect(total: int, kept: str) -> None:
    """The command is about to do ``total`` files; ``kept`` says what an interrupt leaves behind."""
    _tally.total, _tally.done, _tally.kept = total, 0, kept


def advance(n: int = 1) -> None:
    """``n`` more files done (a result printed or a row written, errors included)."""
    _tally.done += n


def keep(kept: str) -> None:
    """Replace what the interrupted line says is kept (e.g. counts known only at the end)."""
    _tally.kept = kept


def was_interrupted() -> bool:
    """Whether a SIGINT arrived while :func:`catching` was active."""
    return _tally.interrupted


def stopped_by_sigterm() -> bool:
    """Whether the stop came from SIGTERM (exit 143) rather than Ctrl-C (exit 130)."""
    return _tally.signum == signal.SIGTERM


def line() -> str:
    """``interrupted: N of M files done; kept`` (``interrupted`` alone for commands without files;
    ``terminated (SIGTERM)`` instead of ``interrupted`` after a SIGTERM)."""
    text = "terminated (SIGTERM)" if stopped_by_sigterm() else "interrupted"
    if _tally.total is not None:
        text += f": {_tally.done} of {_tally.total} files done"
    return text + (f"; {_tally.kept}" if _tally.kept else "")


def _on_sigint(signum, frame) -> None:
    _tally.interrupted, _tally.signum = True, signum
    if _tally.holding:
        _tally.pending = True  # raised when the deferred() block ends
        return
    signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A step that must not be cut in two (write a result, then count it): a SIGINT during the block raises
    ``KeyboardInterrupt`` when it ends. Without :func:`catching` (library use) Ctrl-C is not deferred."""
    tally = _tally
    tally.holding += 1
    try:
        yield
    finally:
        tally.holding -= 1
    if tally.pending and not tally.holding:
        tally.pending = False
        raise KeyboardInterrupt


@contextlib.contextmanager
def catching() -> Iterator[None]:
    """A fresh tally and the recording SIGINT handler for one command run (main thread only; the previous
    handler comes back afterwards)."""
    global _tally
    _tally = Tally()
    main = threading.current_thread() is threading.main_thread()
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    installed = {
        sig: signal.signal(sig, _on_sigint)
        for sig, default in defaults.items()
        if main and signal.getsignal(sig) is default
    }
    try:
        yield
    finally:
        for sig, previous in installed.items():
            signal.signal(sig, previous)
