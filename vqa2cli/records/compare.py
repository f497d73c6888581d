"""``vqa2 compare``'s records: the report (:class:`CompareRecord`, schema ``vqa2.compare/1``, one JSON object)
and its tidy CSV rows (:class:`CompareRow`: one per file, then one per window). docs/compare.md documents
every key. New keys may be added in a minor version; existing ones never change meaning or type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import __version__
from .cells import clean, path_bytes

COMPARE_SCHEMA = "vqa2.compare/1"

FILE_KEYS = (
    "path",
    "status",
    "score",
    "level",
    "bitrate_kbps",
    "video_kbps",
    "width",
    "height",
    "codec",
    "avg_fps",
    "vfr",
    "duration_s",
    "windows",
    "error_code",
    "error",
)
COMPARE_COLUMNS = (
    "row",
    "path",
    "status",
    "index",
    "start_s",
    "end_s",
    "score",
    "delta",
    "bitrate_kbps",
    "width",
    "height",
    "codec",
    "avg_fps",
    "duration_s",
    "ladder",
    "on_hull",
    "verdict",
    "error",
    "path_bytes",
)


@dataclass
class CompareRecord:
    """The whole comparison. ``files``: per file the :data:`FILE_KEYS` (``windows``: index, start_s, end_s,
    score, bitrate_kbps) plus ``ladder``/``on_hull`` in ladder mode; ``pairs``: per candidate against
    ``baseline`` the paired window statistics (``pipeline/paired.py``); ``ladders``: per ladder its points
    and hull, ``bd_rate`` against the first ladder; ``order_violations``: see ``pipeline/rate_quality.py``; ``order_check``: whether the order could be checked
    (``status`` kept / violated / partly checked / not checked, ``judged``, ``not_judged``, ``reason``:
    jobs/compare_report.py)."""

    kind: ClassVar[str] = "compare"
    many: ClassVar[bool] = False
    baseline: str | None
    window_s: float | None
    files: list[dict[str, Any]]
    pairs: list[dict[str, Any]] = field(default_factory=list)
    ladders: list[dict[str, Any]] | None = None
    order_violations: list[dict[str, Any]] = field(default_factory=list)
    order_check: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    model: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return clean(
            {
                "schema": COMPARE_SCHEMA,
                "baseline": self.baseline,
                "window_s": self.window_s,
                "files": self.files,
                "pairs": self.pairs,
                "ladders": self.ladders,
                "order_violations": self.order_violations,
                "order_check": self.order_check,
                "warnings": list(self.warnings),
                "model": self.model,
                "tool": {"name": "vqa2", "version": __version__},
            }
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareRecord:
        """The record of a ``vqa2.compare/1`` object (``vqa2 compare --server``: the server's answer)."""
        return cls(
            baseline=data.get("baseline"),
            window_s=data.get("window_s"),
            files=data.get("files") or [],
            pairs=data.get("pairs") or [],
            ladders=data.get("ladders"),
            order_violations=data.get("order_violations") or [],
            order_check=data.get("order_check"),
            warnings=data.get("warnings") or [],
            model=data.get("model"),
        )

    def rows(self) -> list[CompareRow]:
        """The tidy CSV rows: every file, then every window of every file (``delta``: against the baseline's
        aligned window, pooled for the file row)."""
        verdicts = {p["candidate"]: p for p in self.pairs}
        out = []
        for f in self.files:
            pair = verdicts.get(f["path"], {})
            out.append(CompareRow("file", f, None, pair.get("delta"), pair.get("verdict")))
        for f in self.files:
            deltas = {c: d for _, c, d in verdicts.get(f["path"], {}).get("aligned", ())}
            for w in f.get("windows") or ():
                out.append(CompareRow("window", f, w, deltas.get(w["index"]), None))
        return out


@dataclass
class CompareRow:
    """One tidy CSV row of ``vqa2 compare --format csv`` (:data:`COMPARE_COLUMNS`): ``row`` is ``file`` or
    ``window``; a window row has ``index``/``start_s``/``end_s`` (seconds) and the window's score and video
    bitrate (kbit/s)."""

    kind: ClassVar[str] = "compare_row"
    many: ClassVar[bool] = True
    columns: ClassVar[tuple[str, ...]] = COMPARE_COLUMNS
    row: str
    file: dict[str, Any]
    window: dict[str, Any] | None
    delta: float | None
    verdict: str | None

    def to_row(self) -> dict[str, Any]:
        f, w = self.file, self.window or {}
        row = {
            k: f.get(k)
            for k in (
                "path",
                "status",
                "width",
                "height",
                "codec",
                "avg_fps",
                "duration_s",
                "ladder",
                "on_hull",
                "error",
            )
        }
        row.update(
            row=self.row,
            path_bytes=path_bytes(f["path"]),
            delta=self.delta,
            verdict=self.verdict,
            score=w.get("score") if self.window else f.get("score"),
            bitrate_kbps=w.get("bitrate_kbps") if self.window else f.get("bitrate_kbps"),
            index=w.get("index"),
            start_s=w.get("start_s"),
            end_s=w.get("end_s"),
        )
        return clean({c: "" if row.get(c) is None else row[c] for c in COMPARE_COLUMNS})

    def to_dict(self) -> dict[str, Any]:
        return self.to_row()
