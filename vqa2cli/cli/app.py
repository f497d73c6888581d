"""The `vqa2` root command: registers subcommands and maps exceptions to one stderr line + exit code."""

from __future__ import annotations

import errno
import importlib
import os
import sys

import typer

from .. import __version__, startup
from ..errors import ExitCode, OutputError, Vqa2Error, exit_codes_help

HELP = """Score and question the perceptual quality of videos with the VQA² models.

Results go to stdout, diagnostics to stderr; each command's --help lists the exit codes it can end with.
Set VQA2_DEBUG=1 to see tracebacks."""

EXAMPLES = """Examples:

  vqa2 score clip.mp4

  vqa2 score *.mp4 --format json --fail-under 0.6

  vqa2 ask clip.mp4 "Is there stutter?"

  vqa2 batch encodes/ --csv scores.csv --resume

  vqa2 probe clip.mp4

  vqa2 models list"""

# Each module defines register(app). Order = order in `vqa2 --help`.
COMMAND_MODULES = (
    "score",
    "ask",
    "batch",
    "compare",
    "report",
    "probe",
    "models_cmd",
    "eval",
    "train",
    "serve",
    "doctor",
    "calibrate",
    "verify",
)

app = typer.Typer(
    name="vqa2",
    help=HELP,
    epilog=EXAMPLES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vqa2 {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Score and question the perceptual quality of videos with the VQA² models."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__package__}.{_name}").register(app)


def add_exit_codes(typer_app: typer.Typer, path: str = "") -> None:
    """Append each command's ``Exit codes:`` block (rendered from errors.EXIT_CODES / COMMAND_EXIT_CODES)
    to its --help epilog, for every registered command and group: no command words its exit codes itself."""
    typer_app.info.epilog = f"{(typer_app.info.epilog or '').rstrip()}\n\n{exit_codes_help(path)}".lstrip()
    for info in typer_app.registered_commands:
        name = f"{path} {info.name}".strip()
        info.epilog = f"{(info.epilog or '').rstrip()}\n\n{exit_codes_help(name)}".lstrip()
    for group in typer_app.registered_groups:
        add_exit_codes(group.typer_instance, f"{path} {group.name or group.typer_instance.info.name}".strip())


add_exit_codes(app)


def report_error(exc: Vqa2Error) -> int:
    from ..output.console import get_console

    get_console().error(exc.one_line())
    return int(exc.exit_code)


class GuardedStdout:
    """``sys.stdout`` (or ``sys.stderr``, ``name``) while a command runs: an OS error writing it (``/dev/full``,
    a closed pipe) or a closed stream (``None``) becomes an :class:`OutputError` naming it instead of a
    traceback: exit 5, or 141 quietly when its reader stopped early (EPIPE, ``vqa2 ... | head``).

    ``best_effort`` (stderr: diagnostics): a failure is kept in ``failed`` and every later write dropped, so
    the run goes on and its results still reach stdout and the row files; :func:`main` then exits 5 (141 on
    EPIPE). Text the stream's encoding cannot hold (a cp1252 redirect, ``PYTHONIOENCODING=ascii``) is written
    degraded (``±`` as ``+-``, others as ``\\xNN``: output/encoding.py), never a ``UnicodeEncodeError``."""

    def __init__(self, stream, name: str = "stdout", best_effort: bool = False):
        self.stream, self.name, self.best_effort = stream, name, best_effort
        self.failed: OSError | None = None

    def _fail(self, exc: OSError) -> None:
        if not self.best_effort:
            raise OutputError(self.name, exc) from None
        self.failed = self.failed or exc

    def write(self, text: str) -> int:
        if self.failed is not None:
            return len(text)
        if self.stream is None:
            self._fail(OSError(errno.EBADF, f"{self.name} is closed"))
            return len(text)
        try:
            try:
                return self.stream.write(text)
            except UnicodeEncodeError:
                from ..output.encoding import degrade, stream_encoding

                return self.stream.write(degrade(text, stream_encoding(self.stream) or "ascii"))
        except OSError as exc:
            self._fail(exc)
            return len(text)

    def flush(self) -> None:
        if self.stream is None or self.failed is not None:
            return
        try:
            self.stream.flush()
        except OSError as exc:
            self._fail(exc)

    def isatty(self) -> bool:
        try:
            return self.stream is not None and self.stream.isatty()
        except ValueError:  # a closed stream (kept by a console made while a command ran) is not a terminal
            return False

    def __getattr__(self, name: str):
        return getattr(self.stream, name)


def _silence_stdout(fd: int = 1) -> None:
    """After stdout (fd 1) or stderr (fd 2) failed: point it at /dev/null so that the interpreter's final
    flush stays quiet (its failure would otherwise exit 120)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def _stream_failed(exc: OSError | OutputError) -> None:
    """stdout or stderr could not be written: EPIPE (the reader stopped early, ``| head``) exits 141 quietly
    as ffprobe does; any other failure exits 5, said on stderr when stderr still works. Never 1 (the gate)."""
    name = getattr(exc, "output", "stderr")
    _silence_stdout(1 if name == "stdout" else 2)
    if exc.errno == errno.EPIPE:
        sys.exit(int(ExitCode.BROKEN_PIPE))
    if name == "stdout" and isinstance(exc, OutputError):
        try:
            report_error(exc)
        except (OSError, OutputError):
            _silence_stdout(2)
    sys.exit(int(ExitCode.OUTPUT))


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
    real_stdout, real_stderr = sys.stdout, sys.stderr
    diagnostics = GuardedStdout(real_stderr, "stderr", best_effort=True)
    sys.stdout, sys.stderr = GuardedStdout(real_stdout), diagnostics
    try:
        _main(argv)
    except OutputError as exc:  # stderr failed while an error was being reported
        _stream_failed(exc)
    except OSError as exc:  # click wrote to the real stderr (a usage error) and failed
        _stream_failed(exc)
    finally:
        startup.restore()  # a command that ended before its first result: the collector back on
        sys.stdout, sys.stderr = real_stdout, real_stderr
        if diagnostics.failed is not None:  # results were written; a diagnostic was lost: exit 5 (141 EPIPE)
            _stream_failed(diagnostics.failed)


def _main(argv: list[str] | None) -> None:
    from ..pipeline import interrupts as interrupt

    debug = os.environ.get("VQA2_DEBUG", "") not in ("", "0")
    try:
        with interrupt.catching():
            code = app(args=argv, prog_name="vqa2", standalone_mode=False)
        if (
            interrupt.was_interrupted()
        ):  # typer turns Ctrl-C into a silent exit 130; batch stops cleanly on it
            _interrupted()
    except Vqa2Error as exc:
        if debug:
            import traceback

            traceback.print_exc()
        if (
            isinstance(exc, OutputError)
            and exc.output in ("stdout", "stderr")
            and getattr(sys, exc.output).stream is getattr(sys, f"__{exc.output}__")
        ):
            _stream_failed(exc)
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
    from ..extras import missing_extra

    if (extra := missing_extra(exc)) is not None:  # pip install 'vqa2cli[serve]', exit 2 (vqa2cli/extras.py)
        sys.exit(report_error(extra))
    from ..output.console import visible_line

    sys.stderr.write(
        "Error: "
        + visible_line(
            f"internal error: {type(exc).__name__}: {exc} (set VQA2_DEBUG=1 for the traceback and report it)"
        )
        + "\n"
    )
    sys.exit(int(ExitCode.RUNTIME))


def _interrupted() -> None:
    """Ctrl-C / SIGTERM: the one ``interrupted: N of M files done; ...`` line on stderr, exit 130 / 143
    (pipeline/interrupts.py)."""
    from ..output.console import visible_line
    from ..pipeline import interrupts as interrupt

    sys.stderr.write(visible_line(interrupt.line()) + "\n")
    sys.stderr.flush()
    sys.exit(int(ExitCode.TERMINATED if interrupt.stopped_by_sigterm() else ExitCode.INTERRUPTED))
