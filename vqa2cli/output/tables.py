"""The table form of each record kind (``--format table``, the default): how a person reads the results.

Per-file records (``score``, ``answer``) are STREAMED, one line or block as each record is ready; the reports
(``probe``, ``models``, ``eval``, ``data_check``, ``doctor``) are laid out WHOLE when the writer closes (their
column widths depend on every row). Colour only on a terminal and never with ``NO_COLOR``. Control characters
in names (newline, TAB, ESC, ...) are shown as ``\\n``/``\\xNN`` (records/cells.py ``table_text``): one row per file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TextIO

from ..records.cells import table_text

SCORE_TABLE = (("score", 13), ("level", 6), ("keyframes", 9), ("motion_frames", 13), ("infer_s", 8))


def variant_suffix(row) -> str:
    """`` [variant 2, 117 kb/s]`` after an HLS/DASH input's name: which rendition was read (docs/inputs.md)."""
    if row.get("variant") in (None, ""):
        return ""
    rate = f", {int(row['bandwidth']) / 1000:.0f} kb/s" if row.get("bandwidth") not in (None, "") else ""
    return f" [variant {row['variant']}{rate}]"


def score_line(record, first: bool, fail_under: float | None = None) -> str:
    """One aligned line per score record (a header before the first); a windowed clip adds its worst window.
    With ``fail_under`` (``score --fail-under``, 0-1 scale) a ``GATE`` column before ``FILE`` says ``FAIL`` for
    a file whose score is below it, else ``pass`` (empty for an error row); only the table is marked: the
    gate's result is the exit code and the stderr line (jobs/score_run.py ``score_exit_code``)."""
    row = record.to_row()
    gate = "" if fail_under is None else "GATE  "
    head = "  ".join(n.upper().ljust(w) for n, w in SCORE_TABLE) + f"  {gate}FILE\n" if first else ""
    if row["status"] != "ok":
        message = str(row["error"])  # already starts with the path
        if not message.startswith(str(row["path"])):
            message = f"{row['path']}: {message}"
        return (
            head
            + f"{'ERROR':<13}  {'-':<6}  {'':<9}  {'':<13}  {'':<8}  {' ' * len(gate)}{table_text(message)}\n"
        )
    cells = [_fmt(row[name]).ljust(width) for name, width in SCORE_TABLE]
    if row.get("score_std") not in (None, ""):  # `0.6250 ± 0.18`: the spread (records/spread.py)
        cells[0] = f"{_fmt(row['score'])} ± {float(row['score_std']):.2f}".ljust(SCORE_TABLE[0][1])
    if fail_under is not None:
        cells.append("FAIL" if record.score < fail_under else "pass")
    text = head + "  ".join(cells) + "  " + table_text(row["path"]) + variant_suffix(row) + "\n"  # one line
    if row.get("calibrated") not in (None, ""):  # --calibration: the team's scale
        flag = " (extrapolated: outside the scores the fit saw)" if row["extrapolated"] == "true" else ""
        text += f"{'':<13}  = {_fmt(row['calibrated'])} on {table_text(str(row['calibrated_scale']))}{flag}\n"
    worst = getattr(record, "worst", None)
    if worst:  # a clip scored in windows: where it is worst
        text += _worst_line(worst, len(record.segments or ()))
    return text + _explanation_lines(record)


def answer_block(record, first: bool, fail_under: float | None = None) -> str:
    """One question's answer (``fail_under`` has no meaning for answers: ignored)."""
    row = record.to_row()
    path = table_text(row["path"])
    if row["status"] != "ok":
        return f"{path}: ERROR {table_text(row['error'])}\n"
    return f"{path}\nQ: {row['question']}\nA: {row['answer']}\n\n"


def _worst_line(worst: dict[str, Any], n_windows: int) -> str:
    from ..video.segments import format_time

    span = f"{format_time(worst['start_s'])}–{format_time(worst['end_s'])}"
    return f"{_fmt(worst['score']):<13}  {worst['level']:<6}  worst of {n_windows} windows: {span}\n"


def _explanation_lines(record) -> str:
    """``score --explain``: each explanation under the record's lines (the worst window's first), one line each."""
    from ..video.segments import format_time

    if getattr(record, "explanation", None):
        cut = " [truncated]" if record.explanation.get("truncated") else ""
        return f"{'':<7}  why: {table_text(record.explanation['text'])}{cut}\n"
    explained = sorted((s for s in record.segments or () if s.get("explanation")), key=lambda s: s["score"])
    lines = ""
    for s in explained:
        e = s["explanation"]
        span = f"{format_time(s['start_s'])}–{format_time(s['end_s'])}"
        cut = " [truncated]" if e.get("truncated") else ""
        lines += f"{'':<7}  why ({span}, {s['score']:.4f}): {table_text(e['text'])}{cut}\n"
    return lines


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def probe_table(records: Sequence, stream: TextIO) -> str:
    """``vqa2 probe``: a rich table; colour only on a terminal without NO_COLOR."""
    from rich.console import Console
    from rich.table import Table

    from .console import color_enabled

    color = color_enabled(stream)
    console = Console(
        file=stream,
        no_color=not color,
        color_system="auto" if color else None,
        force_terminal=color,
        highlight=False,
        width=None if stream.isatty() else 200,
    )
    table = Table(box=None, pad_edge=False, header_style="bold" if color else None)
    for name in (
        "FILE",
        "CONTAINER",
        "CODEC",
        "SIZE",
        "FPS",
        "VFR",
        "DURATION",
        "BITS",
        "KEYFRAMES",
        "MOTION",
        "WARNINGS",
    ):
        table.add_column(name, overflow="fold")
    for r in (record.to_row() for record in records):  # control characters in names shown: one row per file
        if r["status"] == "error":
            table.add_row(
                table_text(r["path"]),
                "ERROR",
                r["error_code"],
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                table_text(r["error"]),
            )
            continue
        size = f"{r['width']}x{r['height']}" + (f" (rot {r['rotation']})" if r["rotation"] else "")
        motion = str(r["motion_frames"]) + (f" /{r['motion_stride']}" if r["motion_stride"] > 1 else "")
        bits = str(r["bit_depth"]) + ("i" if r["interlaced"] else "")
        table.add_row(
            table_text(r["path"]),
            r["container"],
            r["codec"],
            size,
            f"{r['avg_fps']:g}",
            "yes" if r["vfr"] else "no",
            f"{r['duration_s']:.2f}s",
            bits,
            str(r["keyframes"]),
            motion,
            table_text("; ".join(r["warnings"])),
        )
    with console.capture() as captured:
        console.print(table, markup=False)
    return "".join(line.rstrip() + "\n" for line in captured.get().splitlines())


def models_table(records: Sequence, stream: TextIO) -> str:
    """``vqa2 models list``: aligned columns, ``cached`` as yes/no."""
    if not records:
        return ""
    columns = records[0].columns
    rows = [record.to_row() for record in records]
    cells = [[c.upper() for c in columns]] + [
        [str(r[c]) if c != "cached" else ("yes" if r[c] else "no") for c in columns] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n" for row in cells)


def eval_table(records: Sequence, stream: TextIO) -> str:
    """``vqa2 eval``: the metrics, one per line."""
    result = records[0]
    m = result.metrics
    logistic = "n/a" if m.plcc_logistic is None else f"{m.plcc_logistic:.4f}"
    lines = [
        f"labels         {result.labels}",
        f"model          {result.model}",
        f"SRCC           {m.srcc:.4f}",
        f"PLCC           {m.plcc:.4f}",
        f"PLCC-logistic  {logistic}",
        f"KRCC           {m.krcc:.4f}",
        f"n              {m.n}" + (f" ({result.n_failed} failed)" if result.n_failed else ""),
    ]
    if result.calibrated:  # eval --calibration: the same pairs on the team's scale
        c = result.calibrated
        f = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
        lines.append(
            f"on {c['scale']}: PLCC {f(c['plcc'])}, SRCC {f(c['srcc'])}, KRCC {f(c['krcc'])}, "
            f"RMSE {f(c['rmse'])} ({c['n_extrapolated']} extrapolated)"
        )
    return "\n".join(lines) + "\n"


def data_check_table(records: Sequence, stream: TextIO) -> str:
    """``vqa2 train --validate-data``: counts and the number of problems (each problem is on stderr)."""
    report = records[0]
    kinds = ", ".join(f"{n} {k}" for k, n in report.kinds.items()) or "none"
    answers = ", ".join(f"{a!r}: {n}" for a, n in report.answers.items()) or "none"
    return (
        f"data      {report.source}\nrecords   {report.records} ({kinds})\n"
        f"answers   {answers}\nproblems  {len(report.problems)}\n"
    )


def doctor_table(records: Sequence, stream: TextIO) -> str:
    """``vqa2 doctor``: aligned ``key: value`` lines, one block per section."""
    report = records[0].to_dict()
    lines = []
    v = report["versions"]
    ffmpeg = (
        v["ffmpeg"] if isinstance(v["ffmpeg"], str) else f"libavcodec {v['ffmpeg'].get('libavcodec', '?')}"
    )
    lines.append("versions: " + ", ".join(f"{k} {v[k] or 'not installed'}" for k in v if k != "ffmpeg"))
    lines.append(f"ffmpeg (PyAV): {ffmpeg}")
    s = report["system"]
    lines.append(
        f"system: {s['os']}, {s['cpu_count']} CPUs, native bf16: {'yes' if s['cpu_bf16'] else 'no'}, "
        f"RAM {s['ram_available_gb']} GB available of {s['ram_total_gb']} GB"
    )
    gpu = report["cuda"]
    if not gpu["devices"]:
        lines.append(f"cuda: no GPU (torch CUDA build: {gpu['version'] or 'none'})")
    for d in gpu["devices"]:
        lines.append(
            f"cuda:{d['index']}: {d['name']} (sm {d['capability']}), {d['free_gb']} GB free of {d['total_gb']} GB"
        )
    for name, state in report["bitsandbytes"].items():
        lines.append(
            f"bitsandbytes on {name}: " + ("works" if state["works"] else f"unusable: {state['error']}")
        )
    h = report["hub"]
    lines.append(
        f"hub cache: {h['cache']} (offline: {'yes' if h['offline'] else 'no'}, endpoint {h['endpoint']})"
    )
    q = h["quant_cache"]
    lines.append(
        f"quantized-weights cache: {q['folder']} ({len(q['entries'])} "
        f"entr{'y' if len(q['entries']) == 1 else 'ies'}, {q['total_gb']:g} GB)"
    )
    for e in q["entries"]:
        stale = "" if e["current"] else " (stale: the source changed or is gone; delete the folder)"
        lines.append(
            f"  {e['key']}: {e['quant']} of {e['source']}, {e['size_gb']:g} GB, {e['created']}{stale}"
        )
    lines.append(f"models (preflight on {report['device']}, 10 s 30 fps clip):")
    for m in report["models"]:
        download = f" ({m['size_bytes'] / 1e9:.1f} GB to download)" if m.get("size_bytes") else ""
        where = "cached" if m["cached"] else f"not cached{download}"
        p = m["preflight"]
        if m["error"]:
            lines.append(f"  {m['name']}: {where}, cannot check: {m['error']}")
        elif p is None:
            lines.append(f"  {m['name']}: {where}")
        else:
            sizes = ", ".join(f"{q} {gb:g} GB" for q, gb in p["estimates_gb"].items())
            pick = f" as {p['precision']}" if p.get("precision") else ""
            lines.append(
                f"  {m['name']}: {p['verdict']}{pick} ({sizes}; {p['available_gb']} GB {p['memory']} "
                f"available){'' if m['cached'] else '; ' + where + ', judged from its card'}"
            )
    if "explain" in report:  # score --explain: one model at a time, so each must fit alone
        e = report["explain"]
        lines.append(f"score --explain ({e['scorer']}, then {e['assistant']}, one at a time): {e['verdict']}")
    return "\n".join(lines) + "\n"


STREAMED: dict[str, Callable[[Any, bool, float | None], str]] = {"score": score_line, "answer": answer_block}
WHOLE: dict[str, Callable[[Sequence, TextIO], str]] = {
    "probe": probe_table,
    "models": models_table,
    "eval": eval_table,
    "data_check": data_check_table,
    "doctor": doctor_table,
    "calibration": lambda records, stream: calibration_table(records[0].to_dict()),
    "verify": lambda records, stream: verify_table(records[0].to_dict()),
}


def verify_table(body: dict[str, Any]) -> str:
    """``vqa2 verify``: per run, each clip's recorded/current/Δ, what differs, then the summary line."""
    if body["mode"] == "record":
        return f"recorded {body['n_clips']} clip(s) at {body['baseline']['precision']} in {table_text(str(body['golden']))}\n"
    lines = []
    base = body["baseline"]["precision"]
    for run in body["runs"]:
        tol = run["tolerance"]
        gate = "no tolerance: a report (--tolerance X gates)" if tol is None else f"tolerance {tol:g}"
        lines.append(f"{run['precision']} vs {base} ({gate})")
        if body["mode"] == "precisions":  # both columns are runs made now: name them by precision
            heads = (base.upper(), run["precision"].upper())
        else:
            heads = ("RECORDED", "CURRENT")
        lines.append(f"  {heads[0]:<9} {heads[1]:<9} {'DELTA':<10} FILE")
        for c in run["clips"]:
            cur = "ERROR" if c["current"] is None else f"{c['current']:.6f}"
            delta = "" if c["delta"] is None else f"{c['delta']:+.6f}"
            rec = "ERROR" if c["recorded"] is None else f"{c['recorded']:.6f}"
            why = f"  {table_text(c['error'])}" if c.get("error") else ""
            lines.append(f"  {rec:<9} {cur:<9} {delta:<10} {table_text(c['path'])}{why}")
        lines += [f"  differs: {table_text(d)}" for d in run["differences"]]
        srcc = "n/a" if run["srcc"] is None else f"{run['srcc']:.4f}"
        flips = "; ".join(f"{table_text(a)} > {table_text(b)}" for a, b in run["flipped_pairs"]) or "none"
        lines.append(
            f"  max |Δ| {run['max_abs_delta']:.6f}  mean |Δ| {run['mean_abs_delta']:.6f}  SRCC {srcc}  "
            f"flipped pairs: {flips}  -> {'ok' if run['passed'] else 'BEYOND TOLERANCE'}"
        )
    return "\n".join(lines) + "\n"


def calibration_table(cal: dict[str, Any]) -> str:
    """``vqa2 calibrate``: the chosen map, the scale, and held-out metrics before/after with 95 % intervals."""
    m = cal["metrics"]
    ci = lambda v: "–".join("n/a" if x is None else f"{x:.4f}" for x in v)  # noqa: E731
    lines = [
        f"kind      {cal['kind']} (chosen by {m['folds']}-fold CV; held-out RMSE "
        + ", ".join(f"{k} {v:.4g}" for k, v in m["cv_rmse"].items())
        + ")",
        f"scale     {cal['scale']['name']} ({cal['scale']['min']:g}–{cal['scale']['max']:g}), n {cal['n']}, "
        f"scores seen {cal['score_range'][0]:.4f}–{cal['score_range'][1]:.4f}",
        "metric    before                        after (held-out, 95 % bootstrap interval)",
    ]
    for name in ("plcc", "srcc", "krcc", "rmse"):
        cells = [f"{m[s][name]['value']:.4f} [{ci(m[s][name]['ci95'])}]" for s in ("before", "after")]
        lines.append(f"{name.upper():<8}  {cells[0]:<28}  {cells[1]}")
    return "\n".join(lines) + "\n"


from .compare_table import compare_table  # noqa: E402  (vqa2 compare's report)

WHOLE["compare"] = compare_table


from .live_rows import window_line  # noqa: E402  (a live run's windows as they are scored, docs/live.md)

STREAMED["window_row"] = window_line
