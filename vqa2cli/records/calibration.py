"""``vqa2 calibrate``'s record: the calibration file's JSON (``vqa2.calibration/1``, calibration/file.py),
printed on stdout by the writer registry (``--format json``: that object; table: the held-out metrics)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass
class CalibrationRecord:
    kind: ClassVar[str] = "calibration"
    many: ClassVar[bool] = False
    columns: ClassVar[tuple[str, ...]] = ("kind", "n")
    body: dict[str, Any]  # the calibration file's JSON, as written

    def to_dict(self) -> dict[str, Any]:
        return dict(self.body)

    def to_row(self) -> dict[str, Any]:
        return {"kind": self.body.get("kind"), "n": self.body.get("n")}
