"""The table of ``vqa2 compare`` (``--format table``): per file its score, bitrate and stream facts, then
each candidate against the baseline (Δ, 95 % interval, share of windows better, verdict, worst window),
the ladders (hull, BD-rate) and the order check. Names through ``table_text`` (one line per file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from ..records.cells import table_text


def _num(value: Any, fmt: str = ".4f") -> str:
    return "-" if value is None else format(value, fmt)


def _ladder_order(files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ladder mode: each ladder's renditions together, in bitrate order (error rows last); else as given."""
    if not any(f.get("ladder") for f in files):
        return files
    rank = {
        name: k for k, name in enumerate(dict.fromkeys(f.get("ladder") for f in files if f.get("ladder")))
    }
    return sorted(
        files,
        key=lambda f: (
            f["status"] != "ok",
            rank.get(f.get("ladder"), len(rank)),
            f.get("bitrate_kbps") or 0.0,
        ),
    )


def _file_lines(files: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'SCORE':<7}  {'KBIT/S':>9}  {'SIZE':>9}  {'CODEC':<6}  {'FPS':>6}  {'WIN':>3}  FILE"]
    for f in _ladder_order(files):
        if f["status"] != "ok":
            lines.append(
                f"{'ERROR':<7}  {'':>9}  {'':>9}  {'':<6}  {'':>6}  {'':>3}  {table_text(str(f['error']))}"
            )
            continue
        size = f"{f['width']}x{f['height']}"
        hull = "  (hull)" if f.get("on_hull") else ""
        lines.append(
            f"{_num(f['score']):<7}  {_num(f['bitrate_kbps'], '.1f'):>9}  {size:>9}  {f['codec'] or '-':<6}  "
            f"{_num(f['avg_fps'], '.5g'):>6}  {len(f['windows']):>3}  {table_text(f['path'])}{hull}"
        )
    return lines


def signed(value: float | None, digits: int = 4) -> str:
    """``+0.0123`` / ``-0.0123``, and ``0.0000`` for anything that rounds to zero (never ``-0.0000``)."""
    if value is None:
        return "-"
    text = f"{value:+.{digits}f}"
    return f"{0:.{digits}f}" if float(text) == 0 else text


def _verdict(p: dict[str, Any]) -> str:
    """The pair's verdict, with the gate's reading when ``--fail-if-worse-than`` judged it (``gate``)."""
    gate = p.get("gate")
    if not gate:
        return str(p["verdict"])
    if gate["result"] == "within margin":
        return f"{p['verdict']}, within the --by {gate['margin']:g} margin"
    return f"{p['verdict']} (gate: {gate['result']})"


def _pair_lines(pairs: list[dict[str, Any]]) -> list[str]:
    from ..video.segments import format_time

    lines = []
    for p in pairs:
        ci = "no interval" if p["ci95"] is None else f"95% [{signed(p['ci95'][0])}, {signed(p['ci95'][1])}]"
        line = (
            f"{table_text(p['candidate'])} vs {table_text(p['baseline'])}: Δ {signed(p['delta'])} {ci}, "
            f"better in {p.get('better_share', 0):.0%} of {p['windows']} windows: {_verdict(p)}"
        )
        worst = p.get("worst_windows") or []
        if worst:
            w = worst[0]
            line += f"; worst {format_time(w['start_s'])}–{format_time(w['end_s'])} ({signed(w['delta'])})"
        lines.append(line)
    return lines


def _ladder_lines(ladders: list[dict[str, Any]]) -> list[str]:
    lines = []
    for lad in ladders:
        hull = ", ".join(table_text(p) for p in lad["hull"]) or "-"
        lines.append(f"{lad['name']}: {len(lad['points'])} renditions, hull: {hull}")
        bd = lad.get("bd_rate")
        if bd:
            value = f"{bd['percent']:+.2f} %" if bd["percent"] is not None else f"n/a ({bd['reason']})"
            lines.append(f"  BD-rate against {bd['anchor']} (score axis): {value}")
    return lines


def _order_line(d: dict[str, Any]) -> str:
    """``order check: …``: violations, kept, or *not checked* with the reason (never "kept" unjudged)."""
    n = len(d["order_violations"])
    if n:
        return f"order check: {n} violation(s)"
    check = d.get("order_check") or {}
    status = check.get("status")
    if status == "kept":
        return f"order check: bitrate order kept ({check['judged']} pair(s) judged)"
    if status in ("not checked", "partly checked"):
        return f"order check: {status} ({check.get('reason')})"
    return "order check: not checked"


def compare_table(records: Sequence, stream: TextIO) -> str:
    """The whole report laid out (one CompareRecord)."""
    out: list[str] = []
    for record in records:
        d = record.to_dict()
        out += _file_lines(d["files"])
        if d["pairs"]:
            out += [""] + _pair_lines(d["pairs"])
        if d["ladders"]:
            out += [""] + _ladder_lines(d["ladders"])
        out += ["", _order_line(d)]
    return "\n".join(out) + "\n"
