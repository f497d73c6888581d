"""The statistics of ``vqa2 compare`` from the scored files' rows (jobs/compare.py): pairs against the
baseline, ladders (points, hull, BD-rate) and the order check, gathered into the CompareRecord."""

from __future__ import annotations

from typing import Any

from ..pipeline.paired import MIN_WINDOWS
from ..records.compare import CompareRecord


class WindowPairs:
    """Paired window statistics of any two ok files (by path), computed once per ordered pair."""

    def __init__(self, files: list[dict[str, Any]]):
        self.rows = {f["path"]: f for f in files if f["status"] == "ok"}
        self.cache: dict[tuple[str, str], Any] = {}

    def delta(self, base: str, other: str):
        """:class:`~vqa2cli.pipeline.paired.PairedDelta` of ``other − base`` and the aligned index pairs, or
        ``(None, [])`` when no window lines up."""
        from ..pipeline.paired import align_windows, paired_delta

        if (base, other) not in self.cache:
            a, b = self.rows[base]["windows"], self.rows[other]["windows"]
            pairs = align_windows(a, b)
            result = None
            if pairs:
                result = paired_delta(
                    [a[i]["score"] for i, _ in pairs],
                    [b[j]["score"] for _, j in pairs],
                    [(a[i]["start_s"], a[i]["end_s"]) for i, _ in pairs],
                )
            self.cache[(base, other)] = (result, pairs)
        return self.cache[(base, other)]


def pair_entry(pairs: WindowPairs, base: str, other: str) -> dict[str, Any]:
    """The ``pairs`` item of ``other`` against ``base`` (docs/compare.md, JSON schema)."""
    result, aligned = pairs.delta(base, other)
    entry = {
        "baseline": base,
        "candidate": other,
        "score_delta": round(pairs.rows[other]["score"] - pairs.rows[base]["score"], 6),
    }
    if result is None:
        return {
            **entry,
            "windows": 0,
            "delta": None,
            "ci95": None,
            "verdict": "no windows line up",
            "aligned": [],
        }
    a, b = pairs.rows[base]["windows"], pairs.rows[other]["windows"]
    return {
        **entry,
        **result.to_dict(),
        "aligned": [
            [a[i]["index"], b[j]["index"], round(b[j]["score"] - a[i]["score"], 6)] for i, j in aligned
        ],
    }


def _ladder(name: str, paths: tuple[str, ...], pairs: WindowPairs) -> dict[str, Any]:
    from ..pipeline.rate_quality import upper_hull

    ok = sorted(
        (p for p in paths if p in pairs.rows and pairs.rows[p]["bitrate_kbps"]),
        key=lambda p: pairs.rows[p]["bitrate_kbps"],
    )  # rate-quality points in bitrate order
    points = [(pairs.rows[p]["bitrate_kbps"], pairs.rows[p]["score"]) for p in ok]
    hull = [ok[i] for i in upper_hull(points)]
    return {
        "name": name,
        "files": list(paths),
        "points": [
            {"path": p, "bitrate_kbps": r, "score": s, "on_hull": p in hull} for p, (r, s) in zip(ok, points)
        ],
        "hull": hull,
        "bd_rate": None,
    }


def _bd(anchor: dict[str, Any], test: dict[str, Any]) -> dict[str, Any]:
    from ..pipeline.rate_quality import bd_rate

    def curve(ladder):
        pts = [p for p in ladder["points"] if p["on_hull"]]
        return [p["bitrate_kbps"] for p in pts], [p["score"] for p in pts]

    return {"anchor": anchor["name"], **bd_rate(*curve(anchor), *curve(test)).to_dict()}


def _violations(
    groups, pairs: WindowPairs, rate_margin: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The order violations and the ``order_check`` summary: ``status`` ``kept`` (every rendition pair with
    clearly more bitrate at one resolution was judged: none scores clearly lower), ``violated``, ``partly
    checked`` (some such pairs had no interval) or ``not checked`` (none could be judged: too few windows, or
    no two renditions at one resolution differ by the bitrate margin); ``judged``/``not_judged`` pairs;
    ``reason`` when not every pair was judged."""
    from ..pipeline.rate_quality import order_violations

    found: list[dict[str, Any]] = []
    tally = {"judged": 0, "not_judged": 0}
    for group in groups:
        items = [pairs.rows[p] for p in group if p in pairs.rows]

        def delta(i: int, j: int, items: list = items) -> Any:
            result = pairs.delta(items[i]["path"], items[j]["path"])[0]
            tally["judged" if result is not None and result.high is not None else "not_judged"] += 1
            return result

        found += order_violations(items, delta, rate_margin=rate_margin)
    judged, unjudged = tally["judged"], tally["not_judged"]
    reason = None
    if unjudged:
        reason = f"{unjudged} rendition pair(s) with fewer than {MIN_WINDOWS} aligned windows"
    elif not judged:
        reason = f"no two renditions at one resolution differ by {rate_margin:.0%} or more in bitrate"
    if found:
        status = "violated"
    elif not judged:
        status = "not checked"
    else:
        status = "partly checked" if unjudged else "kept"
    return found, {"status": status, "judged": judged, "not_judged": unjudged, "reason": reason}


def _shortest(pairs: WindowPairs) -> float | None:
    """The shortest duration (seconds) of the scored files (the window hint must fit every one)."""
    durations = [f["duration_s"] for f in pairs.rows.values() if f.get("duration_s")]
    return min(durations) if durations else None


def build_report(
    plan,
    files: list[dict[str, Any]],
    *,
    window_s: float,
    model: dict[str, Any] | None,
    rate_margin: float,
    step_s: float = 1.0,
) -> CompareRecord:
    """The CompareRecord of the scored ``files`` (jobs/compare.py rows) under ``plan`` (a ComparePlan);
    ``step_s``: the key-frame step in seconds (``1 / video.keyframe_fps``) for the ``--segments`` hint."""
    from ..pipeline.paired import segments_fix

    pairs = WindowPairs(files)
    warnings = list(plan.warnings)
    pair_list: list[dict[str, Any]] = []
    ladders = None
    if plan.ladders:
        names = list(plan.ladder_names or ())
        ladders = [
            _ladder(names[k] if k < len(names) and names[k] else f"ladder {k + 1}", lad, pairs)
            for k, lad in enumerate(plan.ladders)
        ]
        for lad in ladders[1:]:
            lad["bd_rate"] = _bd(ladders[0], lad)
            if lad["bd_rate"]["percent"] is None:
                warnings.append(
                    f"BD-rate of {lad['name']} against {ladders[0]['name']}: {lad['bd_rate']['reason']}"
                )
        for file in files:
            for lad in ladders:
                if file["path"] in lad["files"]:
                    file.update(ladder=lad["name"], on_hull=file["path"] in lad["hull"])
                    break
        groups = plan.ladders
    else:
        if plan.baseline in pairs.rows:
            pair_list = [pair_entry(pairs, plan.baseline, p) for p in plan.paths[1:] if p in pairs.rows]
        elif files:
            warnings.append(f"the baseline {plan.baseline} could not be scored: no pairs compared")
        groups = (plan.paths,)
        few = [p["candidate"] for p in pair_list if p["ci95"] is None]
        if few:
            warnings.append(
                f"{len(few)} pair(s) with fewer than {MIN_WINDOWS} aligned windows ({', '.join(few[:3])}):"
                f" no interval, no verdict and no gate; {segments_fix(_shortest(pairs), step_s, window_s)}"
            )
    violations, order_check = _violations(groups, pairs, rate_margin)
    if order_check["status"] == "partly checked" or (
        order_check["status"] == "not checked" and order_check["not_judged"]
    ):
        warnings.append(
            f"order check {order_check['status']}: {order_check['reason']}; "
            f"{segments_fix(_shortest(pairs), step_s, window_s)}"
        )
    if violations:
        shown = "; ".join(
            f"{v['higher_rate']} ({v['bitrate_kbps'][1]:.0f} kbit/s) below {v['lower_rate']} "
            f"({v['bitrate_kbps'][0]:.0f} kbit/s)"
            for v in violations[:3]
        )
        warnings.append(
            f"order check: {len(violations)} rendition pair(s) score clearly lower at clearly more "
            f"bitrate ({shown}): the model's ordering is not trustworthy for this content"
        )
    return CompareRecord(
        baseline=None if plan.ladders else plan.baseline,
        window_s=window_s,
        files=files,
        pairs=pair_list,
        ladders=ladders,
        order_violations=violations,
        order_check=order_check,
        warnings=warnings,
        model=model,
    )
