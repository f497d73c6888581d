"""Quantized-weights cache: quantize a checkpoint once, keep the bitsandbytes-serialized model, read it later.

Quantizing on the CPU costs far more than reading the shards (bitsandbytes quantizes every decoder
weight at each load; benchmarks/RESULTS.md "Scale"). The first 8/4-bit load quantizes as before and then
writes the quantized model with transformers' ``save_pretrained`` (bitsandbytes-serialized 4-bit/8-bit
weights plus ``quantization_config`` in config.json, the format ``from_pretrained`` loads as
"pre-quantized"); later loads read that folder instead, with the unquantized parts in their stored dtype.

Where: ``$VQA2_QUANT_CACHE_DIR``, else ``$HF_HOME/vqa2/quantized`` (``~/.cache/huggingface/vqa2/quantized``),
one folder per entry named by :func:`cache_key`: a hash of the source checkpoint's identity (name, size and
mtime of every shard and of config.json), the bitsandbytes config, the load dtype, the device type and the
torch / transformers / bitsandbytes versions. A changed checkpoint or library is a different key.

Safety: an entry is written into a temporary folder and published with one ``rename`` under a file lock
(``<key>.lock``), its manifest (:data:`MANIFEST`, with every file's size) written last. Before reading an
entry, the manifest, the file sizes and the safetensors headers are checked; a mismatch (a truncated file,
a half-deleted folder) or a failed read is a *stale* entry: it is removed and rebuilt with a warning. Bit
flips inside tensor data that keep every size are not detected (hashing would cost a second full read).
A cache folder that cannot be written (read-only, disk full) is a warning and the uncached load.

Scores are identical bit for bit to a fresh quantized load (tests/test_quant_cache.py): the entry is
written right after quantization, before any forward (bitsandbytes' CPU 4-bit forward repacks the weights
in place; a model saved after it no longer reproduces the fresh load's state exactly).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_ENV = "VQA2_QUANT_CACHE_DIR"
MANIFEST = "vqa2-quant-cache.json"
FORMAT = 1  # bump when the entry layout changes: old entries become other keys
SPACE_MARGIN = 1.1  # free disk wanted before writing: the entry's estimated size x this
LOCK_TIMEOUT_S = 600.0  # a writer waits this long for another process writing the same entry


def cache_root() -> Path:
    """The cache folder: ``$VQA2_QUANT_CACHE_DIR``, else ``$HF_HOME/vqa2/quantized``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HOME).expanduser() / "vqa2" / "quantized"


def _versions() -> dict[str, str]:
    import bitsandbytes
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "bitsandbytes": bitsandbytes.__version__,
    }


def source_identity(local_dir: Path) -> list[dict[str, Any]]:
    """Name, size and mtime (ns) of every shard and of config.json: what a changed checkpoint changes.
    Raises OSError when a file cannot be stat'ed."""
    from .memory import shard_files

    out = []
    for path in [*shard_files(local_dir), Path(local_dir) / "config.json"]:
        st = path.stat()  # follows the HF cache's snapshot symlinks to the blobs
        out.append({"name": path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def cache_key(
    local_dir: Path, quantization: dict[str, Any], load_dtype: str, device_type: str
) -> tuple[str, dict]:
    """(key, the fields it hashes). ``quantization``: ``BitsAndBytesConfig.to_dict()``."""
    fields = {
        "format": FORMAT,
        "files": source_identity(local_dir),
        "quantization": quantization,
        "load_dtype": load_dtype,
        "device": device_type,
        "versions": _versions(),
    }
    blob = json.dumps(fields, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32], fields


@dataclass(frozen=True)
class Entry:
    """One cache entry: its folder, size on disk, what it was built from (for ``vqa2 doctor``)."""

    key: str
    path: Path
    size_bytes: int
    source: str
    quant: str
    created: str
    current: bool  # the source folder still holds the shards the entry was built from (else: reclaimable)


def entry_dir(key: str) -> Path:
    return cache_root() / key


def check_entry(folder: Path, key: str) -> str | None:
    """None when ``folder`` is a complete entry for ``key``; else what is wrong (one phrase)."""
    from ..errors import CheckpointError
    from .memory import read_header

    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"without a readable manifest ({type(exc).__name__})"
    if (
        not isinstance(manifest, dict)
        or manifest.get("key") != key
        or not isinstance(manifest.get("files"), dict)
    ):
        return "with a manifest for another key"
    for name, size in manifest["files"].items():
        path = folder / name
        try:
            actual = path.stat().st_size
        except OSError:
            return f"missing {name}"
        if actual != size:
            return f"with {name} of {actual} bytes instead of {size}"
        if name.endswith(".safetensors"):
            try:
                read_header(path)
            except CheckpointError:
                return f"with a corrupt {name}"
    return None


def remove_entry(folder: Path) -> None:
    """Delete an entry: renamed aside first (readers never see half of it), then removed."""
    aside = folder.with_name(f".stale-{folder.name}-{os.getpid()}")
    try:
        os.replace(folder, aside)
    except OSError:
        aside = folder
    shutil.rmtree(aside, ignore_errors=True)


def write_entry(model, key: str, fields: dict, *, source: str, quant: str, size_hint: int) -> str:
    """Save the freshly quantized ``model`` as entry ``key``; returns a note for stderr.

    Raises OSError (read-only folder, disk full, lock timeout): the caller warns and goes on uncached.
    ``size_hint``: the bytes the entry will take (the preflight's weight estimate), checked against free space.
    """
    from filelock import FileLock, Timeout

    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if free < size_hint * SPACE_MARGIN:
        raise OSError(f"{free / 1e9:.1f} GB free in {root}, the entry needs about {size_hint / 1e9:.1f} GB")
    final = root / key
    try:
        with FileLock(str(root / f"{key}.lock"), timeout=LOCK_TIMEOUT_S):
            if final.is_dir() and check_entry(final, key) is None:
                return f"quantized weights already cached in {final} by another process"
            if final.exists():
                remove_entry(final)
            tmp = root / f".tmp-{key}-{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                _save(model, tmp, key, fields, source=source, quant=quant)
                os.replace(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except Timeout as exc:
        raise OSError(f"another process holds {exc.lock_file} for over {LOCK_TIMEOUT_S:g} s") from exc
    size = sum(p.stat().st_size for p in final.iterdir())
    return f"quantized weights cached in {final} ({size / 1e9:.2f} GB): later loads read them"


def _save(model, tmp: Path, key: str, fields: dict, *, source: str, quant: str) -> None:
    from .hf_logging import quiet_transformers

    tmp.mkdir(parents=True)
    with quiet_transformers():
        model.save_pretrained(str(tmp), safe_serialization=True)
    files = {p.name: p.stat().st_size for p in sorted(tmp.iterdir())}
    manifest = {
        "key": key,
        "source": source,
        "quant": quant,
        "files": files,
        "fields": fields,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with open(tmp / MANIFEST, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1, default=str)
        fh.flush()
        os.fsync(fh.fileno())


def list_entries() -> list[Entry]:
    """Every published entry under :func:`cache_root` (unreadable manifests listed with what is known)."""
    root = cache_root()
    if not root.is_dir():
        return []
    out = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        out.append(
            Entry(
                folder.name,
                folder,
                size,
                str(manifest.get("source", "?")),
                str(manifest.get("quant", "?")),
                str(manifest.get("created", "?")),
                _is_current(manifest),
            )
        )
    return out


def _is_current(manifest: dict) -> bool:
    """Whether the manifest's source folder still has the same shards (names, sizes, mtimes)."""
    from ..errors import CheckpointError

    try:
        return source_identity(Path(manifest["source"])) == manifest["fields"]["files"]
    except (KeyError, TypeError, OSError, CheckpointError):
        return False
