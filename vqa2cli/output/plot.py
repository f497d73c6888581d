"""A windowed score record → a picture of the score over time (``--plot``, ``batch --plot-dir``).

Drawn with matplotlib's object API (``matplotlib.figure.Figure``, no pyplot, no GUI backend: headless and
thread-safe), imported only when a plot is asked for. The picture shows:

* the score scale's bands, each the score range nearest to a level's weight, labelled as a score range
  (``score ≈ fair (0.5)``), not as a level: a window's *level* is its most likely level word, which
  can differ from the band its score falls in (probabilities split between ``high`` and ``low`` give a
  ``fair``-band score with the level ``high``);
* each window's score as a horizontal step over its time range, with a dot at its centre marked with the
  window's level word (its most likely word, as the record's ``level``);
* the pooled score (``scoring.pool``) as a dashed line;
* the worst window shaded red, and below the chart a strip of that window's key frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

BAND_COLOURS = ("#d7301f", "#fc8d59", "#fdcc8a", "#a6d96a", "#1a9641")  # lowest weight → highest
TICK_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)  # at most 10 time ticks
WIDTH_IN, HEIGHT_IN, DPI = 12.0, 6.0, 100  # 1200 x 600 px PNG
MAX_LEVEL_MARKS = 40  # windows whose dots are labelled with their level word (more would overlap)


def level_bands(levels: Sequence[str], weights: Sequence[float]) -> list[tuple[str, float, float]]:
    """``(level word, low, high)`` score ranges: each level owns the scores nearest its weight, lowest first."""
    order = sorted(zip(weights, (w.strip() for w in levels)))
    bands = []
    for i, (weight, word) in enumerate(order):
        low = 0.0 if i == 0 else (order[i - 1][0] + weight) / 2
        high = 1.0 if i == len(order) - 1 else (weight + order[i + 1][0]) / 2
        bands.append((word, low, high))
    return bands


def band_label(word: str, levels: Sequence[str], weights: Sequence[float]) -> str:
    """A band's label: the score range nearest to level ``word``'s weight, said as a score (``score ≈ fair
    (0.5)``) so it is not read as the windows' level (their most likely word, marked on each dot)."""
    weight = dict(zip((w.strip() for w in levels), weights))[word.strip()]
    return f"score ≈ {word.strip()} ({weight:g})"


def plot_timeline(
    record, target: str | Path, *, thumbnails: Sequence = (), levels: Sequence[str], weights: Sequence[float]
) -> Path:
    """Write the picture of ``record`` (a ScoreRecord with ``segments``) to ``target`` (.png or .svg).

    ``thumbnails``: uint8 RGB arrays [h, w, 3] of the worst window's key frames (may be empty).
    Raises ``ValueError`` for a record without segments; OSError if the file cannot be written.
    """
    from matplotlib.figure import Figure

    if not record.segments:
        raise ValueError(f"{record.path}: no windows to plot")
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN if thumbnails else HEIGHT_IN * 0.7), dpi=DPI)
    grid = fig.add_gridspec(
        2 if thumbnails else 1, 1, height_ratios=(3, 1) if thumbnails else (1,), hspace=0.35
    )
    ax = fig.add_subplot(grid[0])
    _draw_scores(ax, record, levels, weights)
    if thumbnails:
        _draw_strip(fig.add_subplot(grid[1]), record, thumbnails)
    fig.subplots_adjust(left=0.06, right=0.86, top=0.92, bottom=0.08)
    target = Path(target)
    fig.savefig(target, format=target.suffix.lower().lstrip(".") or "png")
    return target


def _draw_scores(ax, record, levels, weights) -> None:
    from ..video.segments import format_time

    segs = record.segments
    end = max(s["end_s"] for s in segs)
    for (word, low, high), colour in zip(level_bands(levels, weights), BAND_COLOURS):
        ax.axhspan(low, high, color=colour, alpha=0.18, lw=0)
        ax.text(
            1.005,
            (low + high) / 2,
            band_label(word, levels, weights),
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8,
        )
    worst = record.worst
    ax.axvspan(
        worst["start_s"],
        worst["end_s"],
        color="#b2182b",
        alpha=0.16,
        lw=1.5,
        ec="#b2182b",
        label=f"worst window {format_time(worst['start_s'])}–{format_time(worst['end_s'])}: "
        f"score {worst['score']:.3f}, level {worst['level']}",
    )
    _draw_explanation(ax, record, worst)
    for s in segs:
        ax.hlines(s["score"], s["start_s"], s["end_s"], color="#08306b", lw=2.2)
    centres = [(s["start_s"] + s["end_s"]) / 2 for s in segs]
    ax.plot(
        centres,
        [s["score"] for s in segs],
        "-o",
        color="#08306b",
        ms=3.5,
        lw=0.6,
        alpha=0.8,
        label="window score (dot labels: the window's level, its most likely word)",
    )
    if len(segs) <= MAX_LEVEL_MARKS:
        for x, s in zip(centres, segs):
            ax.annotate(
                s["level"],
                (x, s["score"]),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize=7,
                color="#08306b",
            )
    pool = (record.config or {}).get("scoring", {}).get("pool", "weighted_mean")
    ax.axhline(record.score, color="black", ls="--", lw=1.2, label=f"pooled ({pool}): {record.score:.3f}")
    ax.set_xlim(0, end if end > 0 else 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (0-1); bands: score ranges")
    ax.set_xlabel("time")
    step = next((t for t in TICK_STEPS_S if end / t <= 10), TICK_STEPS_S[-1])
    ticks = [i * step for i in range(int(end // step) + 1)]
    ax.set_xticks(ticks)
    ax.set_xticklabels([format_time(t) for t in ticks], fontsize=8)
    ax.set_title(f"{Path(record.path).name}: {len(segs)} windows", fontsize=11)
    ax.legend(loc="lower left", fontsize=8, framealpha=0.85)


def short_explanation(text: str, limit: int = 60) -> str:
    """The plot's short form of an explanation (``score --explain``): its first sentence, at most ``limit``
    characters (cut at a word, with an ellipsis)."""
    first = " ".join(text.split()).split(". ")[0].rstrip(".")
    if len(first) <= limit:
        return first
    return first[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def _draw_explanation(ax, record, worst) -> None:
    """The worst window's explanation, short, written beside it (above its score line)."""
    entry = next((s for s in record.segments if s["index"] == worst["index"]), {})
    explained = entry.get("explanation")
    if not explained or not explained.get("text"):
        return
    y = worst["score"] + 0.06 if worst["score"] < 0.85 else worst["score"] - 0.1
    ax.text(
        (worst["start_s"] + worst["end_s"]) / 2,
        y,
        f"why: {short_explanation(explained['text'])}",
        ha="center",
        va="bottom",
        fontsize=7,
        color="#67001f",
        clip_on=True,
        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#b2182b", "alpha": 0.85},
    )


def _draw_strip(ax, record, thumbnails) -> None:
    import numpy as np

    from ..video.segments import format_time

    height = max(t.shape[0] for t in thumbnails)
    gap = np.full((height, 4, 3), 255, np.uint8)
    tiles = []
    for thumb in thumbnails:
        pad = np.full((height - thumb.shape[0], thumb.shape[1], 3), 255, np.uint8)
        tiles += [np.concatenate([thumb, pad]), gap]
    ax.imshow(np.concatenate(tiles[:-1], axis=1))
    ax.set_axis_off()
    worst = record.worst
    ax.set_title(
        f"key frames of the worst window ({format_time(worst['start_s'])}–{format_time(worst['end_s'])}, "
        f"{worst['level']})",
        fontsize=9,
    )
