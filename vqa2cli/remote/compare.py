"""``vqa2 compare --server URL``: the comparison run by a warm ``vqa2 serve`` (``POST /v1/compare``).

The server opens the files itself, so they must be on a filesystem it sees under its ``--allow-root``
(as ``vqa2 score --server-paths``): paths are sent absolute and the answer names them as given here.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import UsageError
from ..records.cells import relabel_paths


def remote_compare(url: str, plan, *, segments: str | None, tolerance_s: float, options: dict[str, Any]):
    """The server's CompareRecord for ``plan`` (a jobs.compare.ComparePlan, checked here first).

    ``options``: request options (CLI names: ``model``, ``device``, ``dtype``, ``quant``; they must match what
    the server runs). Raises UsageError (the server's 422 line), ServerError (unreachable, refused)."""
    from ..records.compare import CompareRecord
    from .client import ServerClient, ServerError

    names = {os.path.abspath(p): p for p in plan.paths}
    body = {
        "paths": [os.path.abspath(p) for p in plan.paths] if not plan.ladders else [],
        "ladders": [[os.path.abspath(p) for p in lad] for lad in plan.ladders] if plan.ladders else None,
        "ladder_names": list(plan.ladder_names) if plan.ladders and plan.ladder_names else None,
        "duration_tolerance": tolerance_s,
        "options": {**{k: v for k, v in options.items() if v is not None}, "segments": segments or "auto"},
    }
    client = ServerClient(url)
    try:
        answer = client._json(client._send("POST", "/v1/compare", json=body))
    finally:
        client.close()
    if not isinstance(answer, dict) or answer.get("schema") != "vqa2.compare/1":
        raise ServerError(
            f"the vqa2 server at {url} gave no vqa2.compare/1 answer", "is it a vqa2 with compare?"
        )
    return CompareRecord.from_dict(relabel_paths(answer, names))


def refuse_config(config) -> None:
    if config is not None:
        raise UsageError(
            "--config cannot be sent to a server", "start the server with `vqa2 serve --config FILE`"
        )
