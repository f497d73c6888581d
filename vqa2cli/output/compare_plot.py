"""``vqa2 compare --plot``: one picture with every file's window scores over time (top) and the rate–quality
chart (bottom: bitrate in kbit/s on a log axis, pooled score; ladders' hulls as lines). matplotlib's object
API (no pyplot), imported only here."""

from __future__ import annotations

from pathlib import Path

WIDTH_IN, HEIGHT_IN, DPI = 12.0, 9.0, 100  # 1200 x 900 px PNG


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
        bottom.annotate(Path(f["path"]).name, (f["bitrate_kbps"], f["score"]), fontsize="x-small")
    for lad in record.ladders or ():
        hull = [p for p in lad["points"] if p["on_hull"]]
        bottom.plot(
            [p["bitrate_kbps"] for p in hull], [p["score"] for p in hull], label=f"{lad['name']} hull"
        )
    if record.ladders:
        bottom.legend(loc="lower right", fontsize="small")
    if rated:
        bottom.set_xscale("log")
    bottom.set(xlabel="bitrate (kbit/s)", ylabel="score (0-1)", title="rate-quality")
    fig.tight_layout()
    fig.savefig(target, format=target.suffix.lower().lstrip(".") or "png")
    return target
