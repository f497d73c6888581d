"""Third-party messages on stderr routed through vqa2's console (``-q``/``-v`` decide, like vqa2's own lines).

bitsandbytes logs (Python ``logging``, logger ``bitsandbytes.*``) two messages that are harmless for vqa2
and would otherwise flood stderr (bitsandbytes 0.48, read from its source):

* ``MatMul8bitLt: inputs will be cast from torch.bfloat16 to float16 during quantization`` — logged on
  every forward of every 8-bit Linear (``autograd/_functions.py``): LLM.int8() always quantizes its
  inputs from fp16; the cast is the method, not a fault.
* ``Failed to load CPU gemm_4bit_forward from kernels-community: ...`` — logged at every import of
  bitsandbytes on CPUs with AVX512-BF16 when the optional ``kernels`` package is absent
  (``backends/cpu/ops.py``); bitsandbytes then uses its own CPU kernel.

Known messages are shown once each as ``debug:`` lines (``-v``) and never by default or with ``-q``. Any
other bitsandbytes record is a ``Warning:`` line once per distinct text (errors and worse as ``Error:``)
unless ``-q``. Python ``warnings`` with a known text (older bitsandbytes raised the MatMul8bitLt one as a
``UserWarning``) are ignored unless ``-v``; other warnings keep Python's default (once per location).

:func:`route_library_messages` is called by the CLI for its command only (``cli/options.py``
``start_console``); importing the library API (``vqa2cli.api``) changes no logging or warnings state.
"""

from __future__ import annotations

import logging
import re
import warnings

LIBRARY_LOGGERS = ("bitsandbytes",)
KNOWN_HARMLESS = (
    r"MatMul8bitLt: inputs will be cast from .* to float16",
    r"Failed to load CPU gemm_4bit_forward from kernels-community",
)
_KNOWN = re.compile("|".join(f"(?:{k})" for k in KNOWN_HARMLESS))


class ConsoleHandler(logging.Handler):
    """A logging handler writing each distinct message once through a vqa2 ``Console``."""

    def __init__(self, console):
        super().__init__(logging.DEBUG)
        self.console = console
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a library's bad format arguments must not break the command
            text = str(record.msg)
        if text in self.seen:
            return
        self.seen.add(text)
        if _KNOWN.search(text):
            self.console.debug(f"{record.name}: {text}")
        elif record.levelno >= logging.ERROR:
            self.console.error(f"{record.name}: {text}")
        elif record.levelno >= logging.WARNING:
            self.console.warning(f"{record.name}: {text}")
        else:
            self.console.debug(f"{record.name}: {text}")


def route_library_messages(console) -> None:
    """Send the libraries' log records (``LIBRARY_LOGGERS``) to ``console`` and quiet known harmless warnings.

    Replaces a handler installed by an earlier call (one per logger); the logger stops propagating to the
    root logger so that Python's last-resort handler does not print the record a second time."""
    from .console import VERBOSE

    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, ConsoleHandler)]:
            logger.removeHandler(old)
        logger.addHandler(ConsoleHandler(console))
        logger.setLevel(logging.DEBUG if console.level >= VERBOSE else logging.WARNING)
        logger.propagate = False
    action = "once" if console.level >= VERBOSE else "ignore"
    for pattern in KNOWN_HARMLESS:
        warnings.filterwarnings(action, message=pattern)
