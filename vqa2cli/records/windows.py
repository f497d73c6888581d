"""``--segments-csv``: one tidy row per scored window (``score`` and ``batch``), a record like every other row.

Rows are job data written by the row-file writer (``jobs/rowfiles.py``, the CSV writer of
``output/render.py``: OWASP formula escape and the CR-safe dialect of ``records/cells.py``) and read back by
``--resume`` through the same index as the score rows (``jobs/resume.py``, keyed by path, window index,
size and mtime). The ``path`` cell keeps the name exactly as given (the file is written with
``surrogateescape``), as :class:`~vqa2cli.records.reports.EvalRow` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .cells import clean

DEFAULT_LEVELS = ("high", "good", "fair", "poor", "low")


def window_columns(levels: tuple[str, ...] = DEFAULT_LEVELS) -> tuple[str, ...]:
    """The tidy per-window CSV columns; ``p_<level>`` follow the card's level words (in their order)."""
    return (
        ("path", "index", "start_s", "end_s", "score", "official_score", "level")
        + tuple(f"p_{w.strip()}" for w in levels)
        + (
            "keyframes",
            "motion_frames",
            "size_bytes",
            "mtime",
            "score_std",
            "score_entropy",  # appended: records/spread.py
            "explanation",
        )
    )  # score --explain (docs/explain.md)


@dataclass
class WindowRow:
    """One window of one file: times in seconds from the clip's start, ``score`` on the 0-1 scale,
    ``probs`` the level-word probabilities (in the card's level order), ``size_bytes``/``mtime`` the file's
    stat taken before decoding (the resume key, with ``path`` and ``index``)."""

    kind: ClassVar[str] = "window_row"
    many: ClassVar[bool] = True
    columns: ClassVar[tuple[str, ...]] = window_columns()
    path: str
    index: int
    start_s: float
    end_s: float
    score: float
    official_score: float
    level: str
    probs: dict[str, float] = field(default_factory=dict)
    keyframes: Any = ""
    motion_frames: Any = ""
    size_bytes: Any = ""
    mtime: Any = ""
    levels: tuple[str, ...] = DEFAULT_LEVELS
    spread: dict[str, float] = field(
        default_factory=dict
    )  # {"std", "entropy"} of the window (records/spread.py)
    explanation: str = ""  # the assistant's words about the window (score --explain, pipeline/explain.py)

    @classmethod
    def of(cls, path: str, entry: dict[str, Any], stat: dict[str, Any], levels: tuple[str, ...]) -> WindowRow:
        """The row of ``entry`` (a ``segments`` entry of a windowed score record) of file ``path``."""
        return cls(
            path,
            entry["index"],
            entry["start_s"],
            entry["end_s"],
            entry["score"],
            entry["official_score"],
            entry["level"],
            dict(entry["probs"]),
            entry.get("keyframes", ""),
            entry.get("motion_frames", ""),
            stat.get("size_bytes", ""),
            stat.get("mtime", ""),
            tuple(levels),
            dict(entry.get("spread") or {}),
            (entry.get("explanation") or {}).get("text", ""),
        )

    def to_row(self) -> dict[str, Any]:
        row = {
            "path": self.path,
            "index": self.index,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "score": self.score,
            "official_score": self.official_score,
            "level": self.level,
            "keyframes": self.keyframes,
            "motion_frames": self.motion_frames,
            "size_bytes": self.size_bytes,
            "mtime": self.mtime,
            **{f"score_{k}": v for k, v in self.spread.items()},
            "explanation": self.explanation,
        }
        names = [f"p_{w.strip()}" for w in self.levels]
        row.update(zip(names, self.probs.values()))  # by position: the model's level order
        return {c: row.get(c, "") for c in window_columns(self.levels)}

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (a live run's JSONL window rows): the CSV row with ``null`` where a number is absent
        (CSV writes an empty cell there)."""
        text = ("path", "level", "explanation")
        return clean({k: (None if v == "" and k not in text else v) for k, v in self.to_row().items()})
