"""``vqa2 compare --plot``: one picture with every file's window scores over time (top) and the rate–quality
chart (bottom: bitrate in kbit/s on a log axis, pooled score; ladders' hulls as lines). matplotlib's object
API (no pyplot), imported only here."""

from __future__ import annotations

from pathlib import Path

WIDTH_IN, HEIGHT_IN, DPI = 12.0, 9.0, 100  # 1200 x 900 px PNG


MIN_SCORE_SPAN = 0.1  # the rate-quality y axis spans at least this much of the 0-1 scale


def score_axis(scores: list[float]) -> tuple[float, float]:
    """The rate-quality chart's y limits: the scores' range widened to at least :data:`MIN_SCORE_SPAN`
    (a 0.0002 difference is not drawn as the chart's full height) with a margin, inside 0-1."""
    low, high = min(scores), max(scores)
    pad = max(MIN_SCORE_SPAN - (high - low), 0.0) / 2 + 0.05 * max(high - low, MIN_SCORE_SPAN)
    low, high = max(0.0, low - pad), min(1.0, high + pad)
    if high - low < MIN_SCORE_SPAN:  # against an edge of the scale
        low, high = (0.0, MIN_SCORE_SPAN) if low <= 0.0 else (1.0 - MIN_SCORE_SPAN, 1.0)
    return low, high


def plot_compare(record, target: str | Path) -> Path:
    """Write the charts of ``record`` (a CompareRecord) to ``target`` (.png or .svg). OSError if unwritable."""
    from matplotlib.figure import Figure

    target = Path(target)
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    top, bottom = fig.subplots(2, 1)
    ok = [f for f in record.files if f["status"] == "ok"]
    for f in ok:
        xs, ys = [], []
        for w in f["windows"]:
            xs += [w["start_s"], w["end_s"]]
            ys += [w["score"], w["score"]]
        top.plot(xs, ys, label=Path(f["path"]).name, linewidth=1.5)
    top.set(xlabel="time (s)", ylabel="window score (0-1)", title="scores over time")
    top.set_ylim(0, 1)
    top.legend(loc="lower left", fontsize="small")
    rated = [f for f in ok if f.get("bitrate_kbps")]
    for f in rated:
        bottom.scatter([f["bitrate_kbps"]], [f["score"]], s=30)
        bottom.annotate(
            Path(f["path"]).name,
            (f["bitrate_kbps"], f["score"]),
            xytext=(4, 4),
            textcoords="offset points",
            fontsize="x-small",
            annotation_clip=False,
        )
    for lad in record.ladders or ():
        hull = [p for p in lad["points"] if p["on_hull"]]
        bottom.plot(
            [p["bitrate_kbps"] for p in hull], [p["score"] for p in hull], label=f"{lad['name']} hull"
        )
    if record.ladders:
        bottom.legend(loc="lower right", fontsize="small")
    if rated:
        bottom.set_xscale("log")
        bottom.set_ylim(*score_axis([f["score"] for f in rated]))
        bottom.margins(x=0.15)  # room for the labels right of the last point
    bottom.set(xlabel="bitrate (kbit/s)", ylabel="score (0-1)", title="rate-quality")
    fig.tight_layout()
    fig.savefig(target, format=target.suffix.lower().lstrip(".") or "png")
    return target
