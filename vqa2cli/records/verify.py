"""``vqa2 verify``'s record: one object (``--format json``) or a table, through the writer registry.

Keys: ``mode`` (``record``, ``verify`` or ``precisions``), ``golden`` (the golden file, or None), ``n_clips``,
``baseline`` (``precision``: what the recorded or first run used), ``runs`` (one per compared run:
``precision``, ``tolerance``, ``passed``, ``differences`` (``key: old → new`` lines: settings, versions,
weight hashes, changed clips), ``clips`` (``path``, ``recorded``, ``current``, ``delta``), ``max_abs_delta``,
``mean_abs_delta``, ``srcc``, ``flipped_pairs``), ``passed`` (every run within its tolerance), ``unreadable`` (clips that could not be scored: exit 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass
class VerifyRecord:
    kind: ClassVar[str] = "verify"
    many: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ("mode", "passed")
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.body)

    def to_row(self) -> dict[str, Any]:
        return {"mode": self.body.get("mode"), "passed": self.body.get("passed")}
