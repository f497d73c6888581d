"""The golden file (``vqa2.golden/1``, JSON) of ``vqa2 verify``: clips with their scores and everything that
can move them, sealed by a checksum.

Keys: ``schema``, ``tool``, ``created`` (UTC ISO 8601), ``reference`` (what to load again: ``model`` as given
to ``-m`` or the card name, ``dtype``, ``quant``, ``device`` flags, None = default), ``model`` (``name``,
``repo``, ``revision``, ``weights``: ``{file name: sha256}`` of the checkpoint's files), ``card`` (the card
name, when ``model`` is one), ``settings`` (the resolved settings), ``precision`` (``dtype``, ``quant``,
``device`` as loaded), ``environment`` (versions of vqa2, python, torch, transformers, av + FFmpeg's
libavcodec, bitsandbytes, numpy), ``clips`` (``[{"path", "sha256", "score", "probs"}]``: relative to the
golden file's folder when the clip is under it, else absolute; :func:`clip_path`), ``checksum``
(SHA-256 of the canonical JSON of every other key). A newer schema, corrupt or hand-edited file is refused in
one line (UsageError, exit 2).

Default tolerances on ``max |Δ|`` (scores on the 0–1 scale; ``--tolerance`` overrides), see :func:`tolerance`.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import UsageError
from ..records.documents import check_document, read_json, sealed, write_json

SCHEMA = "vqa2.golden/1"
SCHEMA_VERSION = 1
REMAKE = "record it again with vqa2 verify --record"
SAME = 1e-6  # same precision, device and environment: bit-identical at the records' 6 digits
SAME_PRECISION = 5e-3  # same precision, another device type or library version
ACROSS_PRECISION = {
    "fp32": 0.02,
    "fp16": 0.03,
    "bf16": 0.03,
    "8bit": 0.05,
    "4bit": 0.08,
}  # by the current one
ENV_PACKAGES = ("torch", "transformers", "av", "bitsandbytes", "numpy")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".model", ".txt")


def precision_name(precision: dict[str, Any]) -> str:
    """``8bit``/``4bit`` when quantized, else the dtype (``fp32``, ``bf16``, ``fp16``)."""
    quant = precision.get("quant")
    return quant if quant and quant != "none" else str(precision.get("dtype"))


def tolerance(recorded: dict[str, Any], current: dict[str, Any], env_differs: bool) -> float:
    """The default max |Δ|: :data:`SAME` for the same precision and device type with the same versions,
    :data:`SAME_PRECISION` for the same precision elsewhere, else :data:`ACROSS_PRECISION` of the current one
    (initial defaults: not yet measured on the published weights)."""
    if precision_name(recorded) != precision_name(current):
        return ACROSS_PRECISION.get(precision_name(current), 0.08)
    same_device = (
        str(recorded.get("device", "")).split(":")[0] == str(current.get("device", "")).split(":")[0]
    )
    return SAME if same_device and not env_differs else SAME_PRECISION


def environment() -> dict[str, Any]:
    """Versions of what can move a score (None: not installed)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, Any] = {"vqa2": __version__, "python": platform.python_version()}
    for name in ENV_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    try:
        import av

        out["libavcodec"] = ".".join(map(str, av.library_versions.get("libavcodec", ())))
    except ImportError:
        out["libavcodec"] = None
    return out


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def weight_hashes(folder: str | Path) -> dict[str, str]:
    """``{file name: sha256}`` of a checkpoint folder's weights, config and tokenizer files."""
    folder = Path(folder)
    return {
        p.name: sha256_file(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES
    }


def stored_path(clip: str, golden: str | Path) -> str:
    """A clip's path as the golden file stores it: relative to the golden file's folder when under it (the
    folder can move as a whole), else absolute."""
    clip_abs, folder = Path(os.path.abspath(clip)), Path(os.path.abspath(golden)).parent
    try:
        return clip_abs.relative_to(folder).as_posix()
    except ValueError:
        return str(clip_abs)


def make(
    reference: dict[str, Any],
    records: list,
    weights: dict[str, str],
    card: str | None,
    golden: str | Path = ".",
) -> dict[str, Any]:
    """The golden JSON of ok score ``records`` (all ok: the caller refuses others) for the file ``golden``."""
    first = records[0]
    model = first.model
    body = {
        "schema": SCHEMA,
        "tool": {"name": "vqa2", "version": __version__},
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "reference": reference,
        "card": card,
        "model": {"name": model.name, "repo": model.repo, "revision": model.revision, "weights": weights},
        "settings": first.config,
        "precision": {"dtype": model.dtype, "quant": model.quant, "device": model.device},
        "environment": environment(),
        "clips": [
            {
                "path": stored_path(r.path, golden),
                "sha256": sha256_file(r.path),
                "score": round(float(r.score), 6),
                "probs": r.probs,
            }
            for r in records
        ],
    }
    return sealed(body)


def write(body: dict[str, Any], path: str) -> None:
    """Atomically (temporary file + rename); OutputError on OS errors."""
    write_json(body, path)


def load(path: str | Path) -> dict[str, Any]:
    """Read and check a golden file: UsageError (one line) when missing, corrupt, hand-edited or newer."""
    return check(read_json(path, "golden file", REMAKE), str(path))


def check(body: Any, path: str = "golden") -> dict[str, Any]:
    """:func:`load`'s checks on a golden file's JSON (a file's content or a server request's ``golden``)."""
    check_document(body, "vqa2.golden", SCHEMA_VERSION, path, "golden file", REMAKE)
    if not isinstance(body.get("clips"), list) or not body["clips"]:
        raise UsageError(f"{path}: no clips", REMAKE)
    return body


def clip_path(entry: dict[str, Any], golden: str | Path, media_root: str | Path | None = None) -> str:
    """Where a recorded clip is now: an absolute path as is, a relative one from ``media_root`` or else the
    golden file's folder."""
    path = entry["path"]
    if os.path.isabs(path):
        return path
    base = Path(media_root) if media_root is not None else Path(golden).parent
    return str(base / path)
