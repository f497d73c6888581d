"""Versioned, checksummed JSON documents that vqa2 writes and reads back: the calibration file
(``vqa2.calibration/N``, calibration/file.py) and the golden file (``vqa2.golden/N``, verify/golden.py).

One rule for both: ``schema`` names the kind and its version; ``checksum`` is the SHA-256 of the document's
other keys as sorted ASCII JSON, so a hand-edited or corrupt file is refused instead of silently applied;
a document from a newer vqa2 (a higher version) is refused with "upgrade"; files are written atomically
(temporary file beside the target, fsync, ``os.replace``), so a crash never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import OutputError, UsageError


def checksum(body: dict[str, Any]) -> str:
    """SHA-256 hex of ``body`` without its ``checksum`` key (sorted keys, ASCII JSON)."""
    text = json.dumps({k: v for k, v in body.items() if k != "checksum"}, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def sealed(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with its ``checksum`` key set."""
    return body | {"checksum": checksum(body)}


def write_json(body: dict[str, Any], path: str | Path) -> None:
    """Write ``body`` as indented UTF-8 JSON atomically; OutputError (exit 5) on OS errors."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(body, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise OutputError(str(path), exc) from None


def read_json(path: str | Path, what: str, remake: str) -> Any:
    """The JSON of ``path``; UsageError naming ``what`` ("calibration file") when missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise UsageError(f"{path}: {what} not found", "check the path") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable {what} ({type(exc).__name__})", remake) from None


def check_document(body: Any, kind: str, version: int, path: str, what: str, remake: str) -> dict[str, Any]:
    """``body`` checked as a ``{kind}/N`` document of at most ``version``, with an intact checksum.

    Raises UsageError (exit 2, one line naming ``path``): not such a document, an unknown or newer schema
    ("upgrade vqa2"), a checksum mismatch (edited by hand or corrupt); ``remake`` is the fix offered."""
    if not isinstance(body, dict) or not str(body.get("schema", "")).startswith(f"{kind}/"):
        raise UsageError(f"{path}: not a vqa2 {what} (no schema {kind}/N)", remake)
    try:
        found = int(str(body["schema"]).rsplit("/", 1)[1])
    except ValueError:
        raise UsageError(f"{path}: unknown schema {body['schema']!r}", remake) from None
    if found > version:
        made_by = (body.get("tool") or {}).get("version", "?")
        raise UsageError(
            f"{path}: made by a newer vqa2 ({made_by}, schema {body['schema']})", "upgrade vqa2 to use it"
        )
    if body.get("checksum") != checksum(body):
        raise UsageError(f"{path}: checksum mismatch: the file was edited by hand or is corrupt", remake)
    return body
