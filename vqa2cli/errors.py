"""Error types and exit codes.

Every expected failure raises a :class:`Vqa2Error` subclass carrying a one-line message, an optional
fix, and the process exit code the CLI uses for it. ``cli.app.main`` prints ``Error: <message>`` (plus
the fix) as one line on stderr; ``VQA2_DEBUG=1`` adds the traceback.
"""

from __future__ import annotations

import enum
import errno


class ExitCode(enum.IntEnum):
    """Documented process exit codes (README "Exit codes", man page)."""

    OK = 0
    GATE_FAILED = 1  # --fail-under: some score was below the threshold
    USAGE = 2  # bad flag, unknown model or config key, quantization unavailable, bad data
    INPUT = 3  # some inputs were unreadable (partial results are still written)
    RUNTIME = 4  # the model could not be fetched, loaded or run (Hub offline, bad checkpoint, OOM)
    OUTPUT = 5  # an output could not be written (disk full, read-only folder, closed stdout/pipe); rows kept
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    BROKEN_PIPE = 141  # the reader of stdout/stderr stopped early (`vqa2 ... | head`): quiet, as SIGPIPE ends ffprobe
    TERMINATED = 143  # SIGTERM (kill, Slurm, Kubernetes): 128 + 15, as a shell reports it


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


class FileMissingError(InputError):
    code = "file_missing"


class NotAFileError(InputError):
    code = "not_a_file"


class EmptyFileError(InputError):
    code = "empty_file"


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
        super().__init__(f"cannot write {output}: {exc.strerror or exc} ({code})",
                         fix or OUTPUT_FIXES.get(exc.errno or 0, "check the output path and the disk"))
        self.output = output
        self.errno = exc.errno


# --- runtime (exit 4) ---------------------------------------------------------------------------
MODEL_ERROR_CODES = ("runtime_error", "internal_error")  # a record's error_code when the model failed: exit 4, HTTP 500
class HubError(Vqa2Error):
    """The Hugging Face Hub could not be reached or refused the download."""


class CheckpointError(Vqa2Error):
    """A checkpoint folder is incomplete or has missing/unexpected keys."""


class ModelRuntimeError(Vqa2Error):
    """The model failed while running (out of memory, device error)."""
