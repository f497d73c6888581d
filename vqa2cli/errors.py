"""Error types, exit codes and the server's error codes: each declared once, here.

Every expected failure raises a :class:`Vqa2Error` subclass carrying a one-line message, an optional
fix, and the process exit code the CLI uses for it. ``cli.app.main`` prints ``Error: <message>`` (plus
the fix) as one line on stderr; ``VQA2_DEBUG=1`` adds the traceback.

What users read about exit codes (``--help`` epilogs, man pages, docs/reference.md) is rendered from
:data:`EXIT_CODES` and :data:`COMMAND_EXIT_CODES`; what the server answers (HTTP status, the CLI's exit
code) from :data:`API_ERRORS`. ``tests/test_declarations.py`` fails when any of them drifts.
"""

from __future__ import annotations

import enum
import errno
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """Process exit codes; what each means: :data:`EXIT_CODES` (rendered into --help, man pages, docs/reference.md)."""

    OK = 0
    GATE_FAILED = 1  # --fail-under: some score was below the threshold
    USAGE = 2  # bad flag, unknown model or config key, quantization unavailable, an extra missing, bad data
    INPUT = 3  # some inputs were unreadable (partial results are still written)
    RUNTIME = 4  # the model could not be fetched, loaded or run (Hub offline, bad checkpoint, OOM)
    OUTPUT = 5  # an output could not be written (disk full, read-only folder, closed stdout/pipe); rows kept
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    BROKEN_PIPE = (
        141  # the reader of stdout/stderr stopped early (`vqa2 ... | head`): quiet, as SIGPIPE ends ffprobe
    )
    TERMINATED = 143  # SIGTERM (kill, Slurm, Kubernetes): 128 + 15, as a shell reports it


# What each exit code means, in the words every --help, man page and doc uses (one declaration).
EXIT_CODES: dict[ExitCode, str] = {  # each line fits a 100-column --help
    ExitCode.OK: "success",
    ExitCode.GATE_FAILED: "a CI gate failed: a --fail-* threshold, or verify beyond its --tolerance",
    ExitCode.USAGE: "usage error: bad flag, model, config key or value; quantization unavailable; output locked",
    ExitCode.INPUT: "some inputs unreadable (or damaged under --strict); the others are written; wins over 1",
    ExitCode.RUNTIME: "the model could not be fetched, loaded or run (Hub offline, out of memory, no server)",
    ExitCode.OUTPUT: "an output could not be written (disk full, read-only, stdout closed); rows written are kept",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); results already written are kept (batch: resume with --resume)",
    ExitCode.BROKEN_PIPE: "the reader of stdout/stderr stopped early (`| head`): quiet, as SIGPIPE ends ffprobe",
    ExitCode.TERMINATED: "stopped by SIGTERM (kill, Slurm, Kubernetes); results already written are kept",
}

_ALWAYS = (ExitCode.OK, ExitCode.USAGE)
_SIGNALS = (ExitCode.INTERRUPTED, ExitCode.BROKEN_PIPE, ExitCode.TERMINATED)
# The exit codes each command can end with (``vqa2 serve`` stops cleanly, exit 0, on SIGTERM/Ctrl-C).
COMMAND_EXIT_CODES: dict[str, tuple[ExitCode, ...]] = {
    "score": (*_ALWAYS, ExitCode.GATE_FAILED, ExitCode.INPUT, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
    "ask": (*_ALWAYS, ExitCode.INPUT, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
    "batch": (*_ALWAYS, ExitCode.GATE_FAILED, ExitCode.INPUT, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
    "probe": (*_ALWAYS, ExitCode.INPUT, ExitCode.OUTPUT, *_SIGNALS),
    "calibrate": (*_ALWAYS, ExitCode.INPUT, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
    "verify": (*_ALWAYS, ExitCode.GATE_FAILED, ExitCode.INPUT, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
    "report": (*_ALWAYS, ExitCode.INPUT, ExitCode.OUTPUT, *_SIGNALS),
    "compare": (*_ALWAYS, ExitCode.GATE_FAILED, ExitCode.INPUT, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
    "eval": (*_ALWAYS, ExitCode.INPUT, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
    "train": (*_ALWAYS, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
    "serve": (*_ALWAYS, ExitCode.RUNTIME),
    "doctor": (*_ALWAYS, ExitCode.OUTPUT, *_SIGNALS),
    "models": (*_ALWAYS, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS),
}


def exit_codes_for(command: str) -> tuple[ExitCode, ...]:
    """The exit codes of ``command`` (``"score"``, ``"models list"`` → the ``models`` group's), sorted;
    every code for the root command ``""``."""
    if not command:
        return tuple(ExitCode)
    # A command missing from the table gets every code but 1 and 3 (tests/test_declarations.py fails on it).
    fallback = (*_ALWAYS, ExitCode.RUNTIME, ExitCode.OUTPUT, *_SIGNALS)
    return tuple(sorted(COMMAND_EXIT_CODES.get(command.split()[0], fallback)))


def exit_codes_help(command: str) -> str:
    """The ``Exit codes:`` block of ``command``'s --help epilog: one ``CODE  meaning`` line per code
    (``\\b`` keeps click from re-wrapping it)."""
    lines = [f"  {int(c):<5}{EXIT_CODES[c]}" for c in exit_codes_for(command)]
    return "\b\nExit codes:\n" + "\n".join(lines)


class Vqa2Error(Exception):
    """Base class: ``message`` says what went wrong, ``fix`` what to do about it."""

    exit_code: ExitCode = ExitCode.RUNTIME

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.one_line()

    def one_line(self) -> str:
        """The message and fix as one line: runs of whitespace (a library's multi-line text) become one space.
        A file name is kept exactly as it is (see :class:`InputError`); whoever shows the line on a terminal
        makes its control characters visible (output/console.py)."""
        text = self.message if not self.fix else f"{self.message} ({self.fix})"
        return " ".join(text.split())


# --- usage / configuration (exit 2) -------------------------------------------------------------
class UsageError(Vqa2Error):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """Unknown or ill-typed config key, bad config file."""


class ModelNotFoundError(UsageError):
    """A model reference that is no card name, no local folder and no Hub repo id."""


class QuantizationUnavailableError(UsageError):
    """4/8-bit asked for but bitsandbytes (or accelerate) is missing or broken: never a silent fallback."""


class DataError(UsageError):
    """A training or evaluation dataset record is malformed (the message names the record index)."""


# --- inputs (exit 3) ----------------------------------------------------------------------------
class InputError(Vqa2Error):
    """A video input cannot be used. ``path`` names the file."""

    exit_code = ExitCode.INPUT
    code = "input_error"  # stable machine-readable code, used in JSON/CSV `error_code`

    def __init__(self, path: str, message: str, fix: str | None = None):
        super().__init__(f"{path}: {message}", fix)
        self.path = str(path)
        self.detail = message

    def one_line(self) -> str:
        """``PATH: message (fix)``: whitespace collapsed in the message and fix only, never in the file name
        (a name with a newline or CR stays the real name, so tables/stderr escape it the same way as the
        path column and JSON keeps it exact)."""
        text = self.detail if not self.fix else f"{self.detail} ({self.fix})"
        return f"{self.path}: " + " ".join(text.split())


class UnopenedInputError(InputError):
    """An input a front-end refused before opening it (the server's ``--allow-root`` confinement): its error
    row is made from the refusal alone, the name is never stat'ed or opened again. ``code``: the refusal's
    (``forbidden``, ...); no class-level code, so it adds none to :data:`API_ERRORS`."""

    def __init__(self, path: str, message: str, fix: str | None = None, *, code: str = "input_error"):
        super().__init__(path, message, fix)
        self.code = code


class FileMissingError(InputError):
    code = "file_missing"


class NotAFileError(InputError):
    code = "not_a_file"


class EmptyFileError(InputError):
    code = "empty_file"


class NetworkInputError(InputError):
    """A URL (or a manifest's segment) that could not be downloaded: unreachable, TLS, an HTTP error status,
    too many redirects, a length other than announced, past VQA2_NET_MAX_GB (inputs/http.py)."""

    code = "network_error"


class ManifestError(InputError):
    """An HLS/DASH manifest without a video variant, malformed, or using what is not supported (live,
    encryption, byte ranges; inputs/manifest.py)."""

    code = "manifest_error"


class UnreadableFileError(InputError):
    """The operating system refused to open or read the file (permission denied, name too long, I/O error)."""

    code = "unreadable"


class NoVideoStreamError(InputError):
    code = "no_video_stream"


class CorruptContainerError(InputError):
    code = "corrupt_container"


class DecodeFailedError(InputError):
    code = "decode_failed"


class ClipTooShortError(InputError):
    code = "too_short"


class DamagedInputError(InputError):
    """``--strict`` (``video.strict``): the file decoded only in part, or with damaged frames.

    ``input`` holds what was measured (``n_frames``, ``decoded_frames``, ``damaged_frames``) for the
    error record's ``input`` section."""

    code = "damaged_input"

    def __init__(self, path: str, message: str, fix: str | None = None, input: dict | None = None):
        super().__init__(path, message, fix)
        self.input = dict(input or {})


# --- outputs (exit 5) ---------------------------------------------------------------------------
OUTPUT_FIXES = {
    errno.ENOSPC: "free space on that disk; what was written before is kept",
    errno.EDQUOT: "free space within your disk quota; what was written before is kept",
    errno.EROFS: "write to a folder on a writable file system",
    errno.EACCES: "write to a folder you may write to",
    errno.EPERM: "write to a folder you may write to",
    errno.EPIPE: "the program reading vqa2's output stopped early",
    errno.EBADF: "stdout is closed: redirect it to a file or to /dev/null",
}


class OutputError(Vqa2Error):
    """An output (a file, stdout) could not be written. ``output`` names it; the message carries the OS error."""

    exit_code = ExitCode.OUTPUT

    def __init__(self, output: str, exc: OSError, fix: str | None = None):
        code = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno is not None else "?"
        super().__init__(
            f"cannot write {output}: {exc.strerror or exc} ({code})",
            fix or OUTPUT_FIXES.get(exc.errno or 0, "check the output path and the disk"),
        )
        self.output = output
        self.errno = exc.errno


# --- runtime (exit 4) ---------------------------------------------------------------------------
class HubError(Vqa2Error):
    """The Hugging Face Hub could not be reached or refused the download."""


class CheckpointError(Vqa2Error):
    """A checkpoint folder is incomplete or has missing/unexpected keys."""


class ModelRuntimeError(Vqa2Error):
    """The model failed while running (out of memory, device error)."""


# --- the server's refusals and error records --------------------------------------------------------
@dataclass(frozen=True)
class ApiErrorCode:
    """What ``vqa2 serve`` answers for an error ``code``: the HTTP ``status`` (None: the status of the
    underlying HTTP error) and the exit code the ``--server`` client ends with."""

    status: int | None
    exit_code: ExitCode
    meaning: str


def _input_codes(cls: type[InputError] = InputError) -> list[str]:
    """The ``code`` of ``cls`` and of every subclass, depth first (each declared on its class above)."""
    codes = [cls.code] if "code" in vars(cls) else []
    sub: type[InputError]
    for sub in cls.__subclasses__():
        codes += _input_codes(sub)
    return codes


INPUT_STATUS = 422  # an input the model cannot use: its error record, the CLI's exit 3
API_ERRORS: dict[str, ApiErrorCode] = {
    "bad_request": ApiErrorCode(400, ExitCode.USAGE, "malformed JSON or multipart body"),
    "unauthorized": ApiErrorCode(401, ExitCode.RUNTIME, "missing or wrong bearer token"),
    "forbidden": ApiErrorCode(
        403, ExitCode.INPUT, "a path outside --allow-root, a pipe or URL, or path requests disabled"
    ),
    "no_assistant": ApiErrorCode(
        404, ExitCode.USAGE, "an ask request to a server started without --assistant"
    ),
    "json_too_large": ApiErrorCode(
        413, ExitCode.USAGE, "a JSON request body over 1 MiB (options and a path)"
    ),
    "too_large": ApiErrorCode(413, ExitCode.INPUT, "an upload over --max-upload-mb: that file's error"),
    "timeout": ApiErrorCode(
        408, ExitCode.RUNTIME, "no byte of the body for --body-timeout seconds (connection closed)"
    ),
    "client_disconnected": ApiErrorCode(400, ExitCode.USAGE, "the client closed the connection mid-body"),
    "unsupported_media_type": ApiErrorCode(415, ExitCode.USAGE, "neither multipart/form-data nor JSON"),
    "usage": ApiErrorCode(422, ExitCode.USAGE, "bad options: the CLI's exit-2 message"),
    **{
        code: ApiErrorCode(INPUT_STATUS, ExitCode.INPUT, "an input the model cannot use (its error record)")
        for code in _input_codes()
    },
    "runtime_error": ApiErrorCode(
        500, ExitCode.RUNTIME, "the model failed (out of memory...): its error record"
    ),
    "internal_error": ApiErrorCode(500, ExitCode.RUNTIME, "an unexpected failure: its error record"),
    "http": ApiErrorCode(
        None, ExitCode.RUNTIME, "an HTTP error of the framework (unknown route, wrong method)"
    ),
    "not_ready": ApiErrorCode(503, ExitCode.RUNTIME, "the model is still loading, or failed to load"),
    "queue_full": ApiErrorCode(503, ExitCode.RUNTIME, "--max-queue requests are waiting (Retry-After)"),
    "shutting_down": ApiErrorCode(
        503, ExitCode.RUNTIME, "the server is draining after SIGTERM (Retry-After)"
    ),
}
# Error codes of records whose failure is the model's, not the input's (the CLI's exit 4; HTTP 500).
MODEL_ERROR_CODES: tuple[str, ...] = tuple(code for code, e in API_ERRORS.items() if e.status == 500)


class ApiError(Vqa2Error):
    """A refusal or failure of ``vqa2 serve``: HTTP ``status``, stable ``code`` (a key of :data:`API_ERRORS`),
    one-line ``message``, the CLI's ``exit_code``, and ``retry_after`` seconds for 503s.

    ``status`` and ``exit_code`` come from :data:`API_ERRORS`; the positional ``status``/``exit_code``
    arguments (``ApiError(422, "usage", msg, 2)``) must agree with it (tests/test_declarations.py) and are
    only used for a code whose status varies (``http``)."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        exit_code: int | None = None,
        retry_after: int | None = None,
    ):
        declared = API_ERRORS.get(code)
        super().__init__(" ".join(message.split()))
        self.code = code
        self.status = (declared.status if declared and declared.status else status) or 500
        self.exit_code = declared.exit_code if declared else ExitCode(exit_code or ExitCode.RUNTIME)
        self.retry_after = retry_after
