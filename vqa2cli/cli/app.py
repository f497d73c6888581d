"""The `vqa2` root command: registers subcommands and maps exceptions to one stderr line + exit code."""

from __future__ import annotations

import errno
import importlib
import os
import sys

import typer

from .. import __version__, startup
from ..errors import ExitCode, OutputError, Vqa2Error

HELP = """Score and question the perceptual quality of videos with the VQA² models.

Results go to stdout, diagnostics to stderr. Exit codes: 0 ok, 1 --fail-under gate failed,
2 usage error, 3 some inputs unreadable, 4 model could not be fetched/loaded/run, 5 an output could not be
written (disk full, read-only folder, stdout closed), 130 Ctrl-C, 143 SIGTERM. Set VQA2_DEBUG=1 to see
tracebacks."""

EXAMPLES = """Examples:

  vqa2 score clip.mp4

  vqa2 score *.mp4 --format json --fail-under 0.6

  vqa2 ask clip.mp4 "Is there stutter?"

  vqa2 batch encodes/ --csv scores.csv --resume

  vqa2 probe clip.mp4

  vqa2 models list"""

# Each module defines register(app). Order = order in `vqa2 --help`.
COMMAND_MODULES = ("score", "ask", "batch", "probe", "models_cmd", "eval", "train", "serve", "doctor")

app = typer.Typer(
    name="vqa2", help=HELP, epilog=EXAMPLES, no_args_is_help=True, add_completion=False,
    rich_markup_mode=None, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vqa2 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Score and question the perceptual quality of videos with the VQA² models."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__package__}.{_name}").register(app)


def report_error(exc: Vqa2Error) -> int:
    from ..output.console import get_console

    get_console().error(exc.one_line())
    return int(exc.exit_code)


class GuardedStdout:
    """``sys.stdout`` while a command runs: an OS error writing it (``/dev/full``, a closed pipe) or a closed
    stdout (``None``) becomes an :class:`OutputError` naming stdout (exit 5) instead of a traceback."""

    def __init__(self, stream):
        self.stream = stream

    def _fail(self, exc: OSError):
        raise OutputError("stdout", exc) from None

    def write(self, text: str) -> int:
        if self.stream is None:
            self._fail(OSError(errno.EBADF, "stdout is closed"))
        try:
            return self.stream.write(text)
        except OSError as exc:
            self._fail(exc)

    def flush(self) -> None:
        if self.stream is None:
            return
        try:
            self.stream.flush()
        except OSError as exc:
            self._fail(exc)

    def isatty(self) -> bool:
        return self.stream is not None and self.stream.isatty()

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _silence_stdout() -> None:
    """After stdout failed: point fd 1 at /dev/null so that the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass


def passive_openmp_threads(environ: dict[str, str] | os._Environ = os.environ) -> None:
    """Make torch's OpenMP threads sleep instead of spin while they wait, unless the user chose.

    Sets ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` when it is unset; must run before torch is imported (OpenMP
    reads it once, at start-up), so only the console entry point calls it, not the Python API. Why: with GNU
    OpenMP's default, idle threads spin for a while between parallel regions; during generation (one token at a
    time, many small regions) on a machine shared with encoders that spin was counted as work: 4 ``ask``
    questions cost 1.38× the CPU of 1 with the default and 1.03× with PASSIVE (benchmarks/RESULTS.md, "Ask").
    Numbers are unaffected (scheduling only). ``OMP_WAIT_POLICY=ACTIVE`` (or an empty value, OpenMP's own
    default) restores spinning."""
    environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> None:
    """Console entry point: `vqa2 ...`."""
    passive_openmp_threads()
    startup.pause()  # the imports and the model load without the cyclic GC (vqa2cli/startup.py)
    real_stdout = sys.stdout
    sys.stdout = GuardedStdout(real_stdout)
    try:
        _main(argv)
    finally:
        sys.stdout = real_stdout


def _main(argv: list[str] | None) -> None:
    from ..pipeline import interrupts as interrupt

    debug = os.environ.get("VQA2_DEBUG", "") not in ("", "0")
    try:
        with interrupt.catching():
            code = app(args=argv, prog_name="vqa2", standalone_mode=False)
        if interrupt.was_interrupted():  # typer turns Ctrl-C into a silent exit 130; batch stops cleanly on it
            _interrupted()
    except Vqa2Error as exc:
        if debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, OutputError) and exc.output == "stdout" and sys.stdout.stream is sys.__stdout__:
            _silence_stdout()
        sys.exit(report_error(exc))
    except KeyboardInterrupt:
        _interrupted()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors come as click exceptions
        _handle_click(exc, debug)
    sys.exit(code if isinstance(code, int) else 0)  # click returns typer.Exit codes when not standalone


def _handle_click(exc: Exception, debug: bool) -> None:
    import click

    if isinstance(exc, click.exceptions.Abort):
        _interrupted()
    if isinstance(exc, click.ClickException):
        exc.show()
        sys.exit(int(ExitCode.USAGE))
    if isinstance(exc, click.exceptions.Exit):
        sys.exit(exc.exit_code)
    if debug:
        raise exc
    from ..output.console import visible_line

    sys.stderr.write("Error: " + visible_line(f"internal error: {type(exc).__name__}: {exc} (set VQA2_DEBUG=1 for "
                                              "the traceback and report it)") + "\n")
    sys.exit(int(ExitCode.RUNTIME))


def _interrupted() -> None:
    """Ctrl-C / SIGTERM: the one ``interrupted: N of M files done; ...`` line on stderr, exit 130 / 143
    (pipeline/interrupts.py)."""
    from ..output.console import visible_line
    from ..pipeline import interrupts as interrupt

    sys.stderr.write(visible_line(interrupt.line()) + "\n")
    sys.stderr.flush()
    sys.exit(int(ExitCode.TERMINATED if interrupt.stopped_by_sigterm() else ExitCode.INTERRUPTED))
