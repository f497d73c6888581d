"""Score records built through the records' own classes, written as the JSONL `vqa2 batch --jsonl` writes, for
the report tests (tests/test_report.py, tests/test_report_browser.py)."""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser

from vqa2cli.records.results import ScoreRecord, error_score_record

LEVELS = ("high", "good", "fair", "poor", "low")
HOSTILE = '<script>document.title="pwned"</script>\'"&.mp4'


def scored(
    path: str, windows: list[float], *, size_bytes: int = 1_000_000, level: str = "good"
) -> ScoreRecord:
    """A windowed record: one 2 s window per score, pooled mean, the lowest window as ``worst``."""
    segments = [
        {"index": i, "start_s": 2.0 * i, "end_s": 2.0 * i + 2, "score": s, "level": level}
        for i, s in enumerate(windows)
    ]
    low = min(segments, key=lambda s: s["score"])
    mean = sum(windows) / len(windows)
    return ScoreRecord(
        path=path,
        score=mean,
        level=level,
        probs={w: 0.2 for w in LEVELS},
        input={"size_bytes": size_bytes, "duration_s": 2.0 * len(windows)},
        segments=segments,
        pooled={"mean": mean, "min": low["score"]},
        worst={k: low[k] for k in ("index", "start_s", "end_s", "score", "level")},
    )


def write_jsonl(path, records, extra: dict | None = None) -> None:
    """Records as JSONL lines (``to_dict``), each object updated with ``extra[record.path]`` when given."""
    with open(path, "w", encoding="utf-8") as stream:
        for record in records:
            obj = record.to_dict()
            obj.update((extra or {}).get(record.path, {}))
            stream.write(json.dumps(obj, ensure_ascii=False) + "\n")


def sample_records() -> list[ScoreRecord]:
    """Four files (scores 0.5, 0.8, 0.3 + an error), names hostile to HTML, terminals and UTF-8."""
    return [
        scored(HOSTILE, [0.6, 0.4], size_bytes=4_000_000),
        scored("clip a.mp4", [0.9, 0.7], size_bytes=1_000_000),
        scored(os.fsdecode(b"bad\xff\nname.mp4"), [0.2, 0.4, 0.3], size_bytes=2_000_000, level="poor"),
        error_score_record("gone.mp4", "file_missing", "gone.mp4: no such file"),
    ]


class PageText(HTMLParser):
    """What a page shows: its ``<script>`` elements, the texts and hrefs of links, ``<img>`` sources."""

    def __init__(self, html: str):
        super().__init__()
        self.scripts, self.links, self.hrefs, self.images, self._in = 0, [], [], [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.scripts += tag == "script"
        if tag == "a":
            self.hrefs.append(attrs.get("href"))
            self.links.append("")
            self._in = "a"
        if tag == "img":
            self.images.append(attrs.get("src"))

    def handle_endtag(self, tag):
        if tag == "a":
            self._in = None

    def handle_data(self, data):
        if self._in == "a":
            self.links[-1] += data
