"""transformers' own log output while the model is loaded or saved: one helper shared by ``loading.py`` and
``quant_cache.py`` (its own module so neither imports the other's private names: no import circle)."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def quiet_transformers():
    """transformers' own warnings (load report, config-type notes) off; errors still raise."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # a local load takes seconds; its per-tensor bar is noise on stderr
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
        if bars:
            hf_logging.enable_progress_bar()
