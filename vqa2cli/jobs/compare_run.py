"""The run of ``vqa2 compare`` below its front-end: load the scorer, compare, print the report through the
writer registry, draw ``--plot``, judge ``--fail-if-worse-than`` and give the exit code (docs/compare.md).
Every line on stderr names ``-`` and URLs as given, never their temporary copies."""

from __future__ import annotations

import sys

from ..errors import ExitCode


def run_compare(
    plan, settings, ref, fmt, window_s, offline, console, *, gate=None, by=0.02, plot=None
) -> ExitCode:
    """Load the scorer (only when a file is readable), compare, print the report, draw, gate."""
    from ..pipeline import interrupts as interrupt
    from ..pipeline.segmented import SegmentingScorer
    from .compare import compare

    interrupt.expect(len(plan.paths), "nothing printed: a comparison needs every file scored; run it again")

    from ..inputs.materialize import as_given

    readable = [p for p in plan.paths if p not in plan.checked.errors]
    for warning in plan.warnings:
        console.warning(as_given(warning))
    if not readable:
        for error in plan.checked.errors.values():
            console.error(as_given(error.one_line()))
        return ExitCode.INPUT
    console.info(f"Loading {settings.model.label} ...")
    scorer = SegmentingScorer.load(settings, ref, offline=offline, clips=plan.checked.shapes())
    scorer.configure(window_s=window_s)

    def seen(record):
        interrupt.advance()
        if not record.ok:
            console.error(as_given(record.error))
        else:
            console.info(f"{as_given(record.path)}: scored {record.score:.4f}")

    report = compare(scorer, plan, window_s=window_s, on_record=seen)
    for warning in report.warnings[len(plan.warnings) :]:
        console.warning(as_given(warning))
    return emit_report(report, fmt, console, gate=gate, by=by, plot=plot)


def emit_report(report, fmt, console, *, gate=None, by=0.02, plot=None) -> ExitCode:
    """Print ``report`` through the writer registry, draw ``--plot``, return the exit code."""
    from ..inputs.materialize import as_given
    from ..output.render import make_writer

    report = as_given(report)  # local copies of -, URLs, manifests named as given

    judge_gate(report, gate, by)
    if fmt == "csv":
        writer = make_writer("csv", sys.stdout, "compare_row")
        try:
            for row in report.rows():
                writer.write(row)
        finally:
            writer.close()
    else:
        writer = make_writer(fmt, sys.stdout, "compare")
        try:
            writer.write(report)
        finally:
            writer.close()
    if plot is not None:
        from ..output.compare_plot import plot_compare
        from .rowfiles import writing

        with writing(str(plot)):
            plot_compare(report, str(plot))
        console.info(f"charts written to {plot}")
    return compare_exit_code(report, console, gate=gate, by=by)


def judge_gate(report, gate: str | None, by: float) -> None:
    """Mark every pair against ``gate`` with ``gate``: ``{"margin": by, "result": …}``, ``result`` one of
    ``failed`` (worse by more than ``by`` and the 95 % interval below 0), ``within margin`` (the interval
    below 0 but the mean Δ within ``by``: a verdict "worse" the gate lets pass), ``passed``, ``not
    evaluated`` (fewer than MIN_WINDOWS aligned windows: no interval). The table and JSON show it."""
    if not gate:
        return
    for p in report.pairs:
        if p["baseline"] != gate:
            continue
        if p["ci95"] is None or p["delta"] is None:
            result = "not evaluated"
        elif p["ci95"][1] < 0:
            result = "failed" if p["delta"] < -by else "within margin"
        else:
            result = "passed"
        p["gate"] = {"margin": by, "result": result}


def compare_exit_code(report, console, *, gate: str | None, by: float) -> ExitCode:
    """3 when a file could not be read; else, with ``gate`` (pairs marked by :func:`judge_gate`), 1 when a
    candidate is worse than it by more than ``by`` with the interval excluding 0, 2 when the gate could not
    be evaluated for some candidate (too few windows for an interval: the line gives a ``--segments`` that
    works; a gate never passes unjudged); each said on stderr; else 0."""
    from ..pipeline.paired import MIN_WINDOWS, segments_fix
    from ..records.cells import table_text

    if any(f["status"] != "ok" for f in report.files):
        return ExitCode.INPUT
    if not gate:
        return ExitCode.OK
    gated = [p for p in report.pairs if p.get("gate")]
    failed = [p for p in gated if p["gate"]["result"] == "failed"]
    for p in failed:
        console.error(
            f"{table_text(p['candidate'])} is worse than {table_text(gate)} by {-p['delta']:.4f} (95 % "
            f"interval {p['ci95'][0]:+.4f} to {p['ci95'][1]:+.4f}) > --by {by:g}"
        )
    if failed:
        return ExitCode.GATE_FAILED
    unjudged = [p for p in gated if p["gate"]["result"] == "not evaluated"]
    if unjudged or not gated:
        durations = [f["duration_s"] for f in report.files if f.get("duration_s")]
        names = ", ".join(table_text(p["candidate"]) for p in unjudged[:3]) or "no candidate"
        console.error(
            f"--fail-if-worse-than {table_text(gate)} could not be evaluated: {names} "
            f"{'has' if len(unjudged) == 1 else 'have'} fewer than {MIN_WINDOWS} aligned windows "
            f"with it (no interval); fix: {segments_fix(min(durations) if durations else None, asked_s=report.window_s)}"
        )
        return ExitCode.USAGE
    return ExitCode.OK
