"""The resolved settings beside every batch output: ``<output>.vqa2.json``.

CSV rows cannot carry the resolved config, so ``vqa2 batch`` writes it once next to each output file, and
``--resume`` refuses to append rows made with different settings (another model, revision, precision, frame
policy...) to a file: mixing them would silently make the scores incomparable.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .. import __version__
from ..config import Settings
from ..errors import UsageError

# Keys that may differ between runs without changing the numbers' meaning (each torchrun rank has its own GPU).
IGNORED = {("runtime", "device")}


def sidecar_path(output: str) -> str:
    return f"{output}.vqa2.json"


def _flat(config: dict[str, Any]) -> dict[tuple[str, str], Any]:
    return {(s, k): v for s, values in config.items() for k, v in values.items() if (s, k) not in IGNORED}


RESTART = "start again with --overwrite"  # `vqa2 batch`'s way; other commands pass their own ``restart``


def check_or_write(
    output: str,
    settings: Settings,
    *,
    resume: bool,
    write: bool = True,
    run: dict[str, Any] | None = None,
    restart: str = RESTART,
) -> None:
    """On ``--resume`` compare with the recorded settings (UsageError naming the keys that differ); then
    (re)write them. ``run``: per-run choices outside :class:`Settings` that change the numbers (recorded as
    section ``run``; a key missing from an older record compares as None). ``restart``: the command's own
    way to start the output again, named in the refusal's hint (only options the command has)."""
    path = sidecar_path(output)
    config = settings.to_dict() | ({"run": dict(run)} if run else {})
    if resume and os.path.isfile(path):
        try:
            recorded = json.loads(open(path, encoding="utf-8").read())["config"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(
                f"{path}: unreadable settings record ({exc})", "delete it to resume anyway"
            ) from exc
        old, new = _flat(recorded), _flat(config)
        added = _flat(Settings().to_dict())  # a key newer than the record ran with its default then
        changed = sorted(
            f"{s}.{k}"
            for s, k in old.keys() | new.keys()
            if old.get((s, k), added.get((s, k))) != new.get((s, k))
        )
        if changed:
            raise UsageError(
                f"{output} was written with other settings ({', '.join(changed)})",
                f"resume with the same model and flags, or {restart}",
            )
    if write:
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(
                {
                    "tool": {"name": "vqa2", "version": __version__},
                    "output": os.path.basename(output),
                    "config": config,
                },
                f,
                indent=2,
            )
        os.replace(tmp, path)


def record_settings(
    output: str,
    settings: Settings,
    *,
    resume: bool,
    write: bool = True,
    run: dict[str, Any] | None = None,
    restart: str = RESTART,
) -> None:
    """:func:`check_or_write` for a job's output; an OS error writing the record is an
    :class:`~vqa2cli.errors.OutputError` naming the ``.vqa2.json`` file (exit 5)."""
    from ..errors import OutputError

    try:
        check_or_write(output, settings, resume=resume, write=write, run=run, restart=restart)
    except OSError as exc:
        raise OutputError(sidecar_path(output), exc) from None
