"""The environment variables vqa2 reads: each declared once, here.

The man pages' ENVIRONMENT section and docs/reference.md are rendered from :data:`ENVIRONMENT`;
``tests/test_declarations.py`` fails when the code reads a variable that is not declared here (or one
declared here is read nowhere). Defaults are the values used when the variable is unset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class EnvVar:
    """``name``: the variable; ``meaning``: one sentence; ``default``: when unset ("" = nothing)."""

    name: str
    meaning: str
    default: str = ""


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("HF_HOME", "Hugging Face cache folder where model weights are kept.", "~/.cache/huggingface"),
    EnvVar("HF_HUB_OFFLINE", "Set to 1 to never contact the Hub (same as --offline)."),
    EnvVar("HF_ENDPOINT", "Hub mirror URL.", "https://huggingface.co"),
    EnvVar("HF_TOKEN", "Hub token for gated or private repos (vqa2 doctor reports whether one is set)."),
    EnvVar("NO_COLOR", "Disable colour on stderr (colour is only ever used on a terminal)."),
    EnvVar("VQA2_DEBUG", "Set to 1 to print tracebacks instead of one-line errors."),
    EnvVar(
        "VQA2_GOLDEN_DIR",
        "Folder of card golden files for `vqa2 verify --card NAME` (NAME.golden.json).",
        "the model cards' folder",
    ),
    EnvVar(
        "OMP_WAIT_POLICY",
        "The vqa2 command sets PASSIVE when unset: torch's idle CPU threads sleep instead "
        "of spinning (numbers unchanged); ACTIVE restores spinning.",
        "PASSIVE",
    ),
    EnvVar(
        "OMP_NUM_THREADS",
        "torch's CPU threads; when set, batch's decode workers leave torch's thread count as it is.",
    ),
    EnvVar(
        "VQA2_SERVER",
        "Send score/ask/batch to this vqa2 serve URL (as --server; batch: several, comma- or "
        "space-separated).",
    ),
    EnvVar("VQA2_TOKEN", "The bearer token a --server client sends."),
    EnvVar(
        "VQA2_SERVER_WAIT", "Seconds a --server client waits out a busy (503) server before exit 4.", "300"
    ),
    EnvVar("VQA2_SERVER_TIMEOUT", "Seconds a --server client waits for one answer.", "900"),
    EnvVar(
        "VQA2_SKIP_MEMORY_CHECK",
        "Set to 1 to load even when the memory preflight says the model does not "
        "fit (for an estimate you know is pessimistic).",
    ),
    EnvVar("VQA2_QUANT_CACHE_DIR", "The quantized-weights cache folder.", "$HF_HOME/vqa2/quantized"),
    EnvVar(
        "VQA2_STDIN_MAX_GB",
        "score -: the most GB read from stdin into a temporary file; more is refused (exit 3).",
        "8",
    ),
    EnvVar(
        "VQA2_NET_MAX_GB",
        "http(s) URLs and HLS/DASH manifests: the most GB one input may download (a manifest's segments "
        "together); more is refused (exit 3).",
        "8",
    ),
    EnvVar(
        "VQA2_NET_TIMEOUT_S",
        "http(s) URLs and manifests: seconds to wait for a connection and for each read before the input "
        "fails (exit 3).",
        "30",
    ),
    EnvVar(
        "VQA2_LIVE_TIMEOUT_S",
        "A live run (- with --segments, --duration): seconds without a byte from the stream before it "
        "counts as stalled (one line, exit 3; windows scored before are kept).",
        "30",
    ),
    EnvVar(
        "VQA2_FAKE_AVAILABLE_MEMORY_GB",
        "Test/debug hook: the preflight and vqa2 doctor take this many GB as the available memory.",
    ),
)


def describe(var: EnvVar) -> str:
    """``meaning`` plus ``(default: X)`` when the variable has one."""
    return f"{var.meaning} (default: {var.default})" if var.default else var.meaning


def positive_number(name: str, unit: str) -> float:
    """The declared variable ``name`` as a positive number of ``unit`` (seconds, GB): its declared default
    when unset or empty. Raises UsageError (exit 2) naming the variable for anything else."""
    from .errors import UsageError

    default = next(var.default for var in ENVIRONMENT if var.name == name)
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw.strip() else float(default)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise UsageError(f"{name}={raw!r}: not a positive number of {unit}", f"e.g. {default}")
    return value
