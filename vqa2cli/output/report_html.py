"""Score records → one self-contained HTML page (``vqa2 report``, docs/report.md).

Rendered with Jinja2 (``templates/report.html.j2``) with autoescaping on, so every text that comes from a record
(file names with ``<script>``, quotes, control characters; error messages) is HTML text, never markup. The
page needs no network when viewed: CSS and the sorting script (vanilla JavaScript, ~30 lines) are inline, each
timeline is an inline SVG drawn here from numbers only, the ``--plot-dir`` pictures are ``data:`` URIs, and a
Content-Security-Policy (``default-src 'none'``) forbids any fetch. Jinja2 is imported when a page is rendered.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..records.cells import table_text
from .tables import variant_suffix

# (sort key, heading). Every column sorts numerically; a missing value sorts last either way.
COLUMNS = (
    ("score", "score"),
    ("worst", "worst window"),
    ("level", "level"),
    ("spread", "spread"),
    ("bitrate", "bitrate (kbit/s)"),
)
CALIBRATED = ("calibrated", "calibrated")  # a column only when a record carries a calibrated value
SVG_W, SVG_H, SVG_PAD = 240, 48, 2  # pixels
URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
URL_SAFE = "/:@!$&'()*+,;=~-._%"  # RFC 3986 reserved and unreserved characters, and existing %XX escapes


def calibrated_of(record) -> tuple[float | None, str]:
    """(value, scale) of the record's ``calibrated`` object (``--calibration``: the score on the team's scale,
    docs/calibration.md); ``(None, "")`` without one. The scale is shown as text whatever its JSON type."""
    cal = record.calibrated if isinstance(record.calibrated, dict) else {}
    value, scale = cal.get("value"), cal.get("scale")
    text = scale if isinstance(scale, str) else ("" if scale is None else str(scale))
    return (float(value) if _finite(value) else None), text


@dataclass
class ReportEntry:
    """One file of the page: its record, where it was read (``source``: ``FILE:LINE``), its ``spread`` (a
    field other versions may add to the record; ``None`` when absent) and its ``--plot-dir`` picture as a
    ``data:image/png;base64,...`` URI (or ``None``)."""

    record: Any  # ScoreRecord
    source: str
    spread: float | None = None
    plot: str | None = None


def bitrate_kbps(input_info: dict[str, Any]) -> float | None:
    """The file's bitrate in kbit/s: the record's ``input.bit_rate`` (bit/s) when present, else
    ``size_bytes × 8 / duration_s`` (what ffprobe reports as the format's ``bit_rate``); None if unknown."""
    rate = input_info.get("bit_rate")
    if isinstance(rate, (int, float)) and rate > 0:
        return rate / 1000
    size, duration = input_info.get("size_bytes"), input_info.get("duration_s")
    if isinstance(size, (int, float)) and isinstance(duration, (int, float)) and duration > 0:
        return size * 8 / duration / 1000
    return None


def level_rank(record) -> float | None:
    """The level's rank for sorting: the level words in the card's order (``probs``: best first) counted from
    the worst, so a higher level sorts higher; None without a level."""
    words = list(record.probs or {})
    if record.level is None or record.level not in words:
        return None
    return float(len(words) - 1 - words.index(record.level))


def timeline_svg(record) -> str:
    """An inline SVG (``SVG_W`` × ``SVG_H`` pixels) of the windows' scores over time: one step per window
    (score 0 at the bottom, 1 at the top), the worst window shaded red, the mean as a dashed line. Only numbers
    go into it. ``""`` for a record without windows."""
    windows = [
        w
        for w in record.segments or ()
        if all(_finite(w.get(k)) for k in ("score", "end_s")) and _finite(w.get("start_s") or 0)
    ]
    if not windows:
        return ""
    end = max(float(w["end_s"]) for w in windows) or 1.0
    x = lambda t: SVG_PAD + (SVG_W - 2 * SVG_PAD) * max(0.0, float(t)) / end  # noqa: E731
    y = lambda s: SVG_PAD + (SVG_H - 2 * SVG_PAD) * (1 - min(1.0, max(0.0, float(s))))  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{SVG_W}" height="{SVG_H}" '
        f'viewBox="0 0 {SVG_W} {SVG_H}" role="img"><title>score over {end:.1f} s</title>'
        f'<rect width="{SVG_W}" height="{SVG_H}" fill="#f6f8fa"/>'
    ]
    worst = record.worst or {}
    if _finite(worst.get("start_s")) and _finite(worst.get("end_s")):
        x0, x1 = x(worst["start_s"]), x(worst["end_s"])
        parts.append(
            f'<rect class="worst" x="{x0:.1f}" y="0" width="{max(x1 - x0, 1):.1f}" height="{SVG_H}" '
            'fill="#d7301f" fill-opacity="0.25"/>'
        )
    points = []
    for w in sorted(windows, key=lambda w: float(w.get("start_s") or 0)):
        points += [
            f"{x(w.get('start_s') or 0):.1f},{y(w['score']):.1f}",
            f"{x(w['end_s']):.1f},{y(w['score']):.1f}",
        ]
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#0969da" stroke-width="1.5"/>')
    mean = (record.pooled or {}).get("mean")
    if _finite(mean):
        parts.append(
            f'<line x1="0" x2="{SVG_W}" y1="{y(mean):.1f}" y2="{y(mean):.1f}" stroke="#555" '
            'stroke-dasharray="3 2" stroke-width="1"/>'
        )
    return "".join(parts) + "</svg>"


def file_url(path: str) -> str | None:
    """The link of an input: a URL input (``https://``, ``rtsp://`` ...) with unsafe characters percent-encoded
    (:func:`url_href`; records hold it without credentials), none for
    ``-`` (standard input), else the ``file://`` URL of ``path`` (relative names from the current folder),
    every unsafe byte percent-encoded (bytes of a non-UTF-8 name included)."""
    if path == "-":
        return None
    if URL_SCHEME.match(path):
        return url_href(path)
    return Path(os.path.abspath(path)).as_uri()


def url_href(url: str) -> str:
    """A URL input as a valid link: every character a URL may not hold (a space, a quote, non-ASCII, a control
    character) percent-encoded as UTF-8, the URL's own delimiters and ``%XX`` escapes kept (RFC 3986)."""
    from urllib.parse import quote

    scheme, rest = url.split("://", 1)
    return f"{scheme}://{quote(rest, safe=URL_SAFE + '?#[]')}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(value: Any, fmt: str) -> tuple[str, str]:
    """(``data-v`` sort value, shown text) of a number; ``("", "")`` when missing."""
    return (repr(float(value)), format(value, fmt)) if _finite(value) else ("", "")


def _row(entry: ReportEntry) -> dict[str, Any]:
    from markupsafe import Markup

    record = entry.record
    worst = (record.worst or {}).get("score")
    values = {
        "score": (record.score, ".3f"),
        "worst": (worst, ".3f"),
        "spread": (entry.spread, ".3f"),
        "bitrate": (bitrate_kbps(record.input or {}), ".0f"),
        "calibrated": (calibrated_of(record)[0], ".2f"),
    }
    sort, shown = {}, {}
    for key, (value, fmt) in values.items():
        sort[key], shown[key] = _number(value, fmt)
    rank = level_rank(record)
    sort["level"], shown["level"] = ("" if rank is None else repr(rank)), table_text(record.level or "")
    scale = calibrated_of(record)[1]
    if shown["calibrated"] and scale:
        shown["calibrated"] += f" {table_text(scale)}"
    start, end = (record.worst or {}).get("start_s"), (record.worst or {}).get("end_s")
    if shown["worst"] and _finite(start) and _finite(end):
        shown["worst"] += f" @ {start:.1f}–{end:.1f} s"
    return {
        "name": table_text(record.path) + variant_suffix(getattr(record, "origin", None) or {}),
        "url": file_url(record.path),
        "source": table_text(entry.source),
        "status": "ok" if record.ok else "error",
        "error_code": table_text(record.error_code or ""),
        "error": table_text(record.error or ""),
        "sort": sort,
        "shown": shown,
        "svg": Markup(timeline_svg(record)),
        "plot": entry.plot,
        "explanation": table_text(str((record.shown_explanation() or {}).get("text") or "")),
    }


def render_report(entries: list[ReportEntry], sources: list[str], notes: Sequence[str] = ()) -> str:
    """The page (``str``) listing ``entries`` in the order given; ``sources``: the JSONL files read; ``notes``:
    lines shown above the table (what was left out). A ``calibrated`` column (value and scale, sortable) is
    added when any record carries a calibrated value; each file's explanation (``--explain``: the clip's, else
    its worst explained window's text) is shown under its name."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vqa2cli.output", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    rows = [_row(e) for e in entries]
    n_ok = sum(r["status"] == "ok" for r in rows)
    scales = sorted({calibrated_of(e.record)[1] for e in entries if calibrated_of(e.record)[0] is not None})
    heading = f"calibrated ({table_text(', '.join(scales))})" if any(scales) else "calibrated"
    return env.get_template("report.html.j2").render(
        rows=rows,
        columns=COLUMNS + (((CALIBRATED[0], heading),) if scales else ()),
        sources=[table_text(s) for s in sources],
        n_ok=n_ok,
        n_error=len(rows) - n_ok,
        version=__version__,
        notes=[table_text(n) for n in notes],
    )
