"""The job engine below the CLI (vqa2cli/jobs): its place in the one-way imports, what `run_job`'s stats mean
to the command, and what `vqa2 eval` inherits from the engine (locks, the settings record)."""

from __future__ import annotations

import ast
import io
import json
from pathlib import Path

import pytest

import vqa2cli
from vqa2cli.cli.batch import exit_code
from vqa2cli.config import Settings
from vqa2cli.errors import ConfigError, ExitCode, UsageError
from vqa2cli.jobs.engine import JobSpec
from vqa2cli.jobs.loop import JobStats
from vqa2cli.output.console import NORMAL, Console

PACKAGE = Path(vqa2cli.__file__).parent


def _imported_packages(path: Path) -> set[str]:
    """The top-level vqa2cli sub-packages a module imports (relative or absolute imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level >= 2:  # from ..x import y: x is a sibling package of this one
                found.add(module.split(".")[0])
            elif module.startswith("vqa2cli."):
                found.add(module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("vqa2cli."))
    return found


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("jobs", {"cli", "serve", "remote", "api"}),
        ("pipeline", {"cli", "serve", "api", "jobs"}),
        ("training", {"cli", "serve", "api", "jobs"}),
        ("video", {"cli", "serve", "api", "jobs"}),
        ("modeling", {"cli", "serve", "api", "jobs"}),
        ("serve", {"cli", "remote"}),
        ("remote", {"cli", "serve", "api"}),
        ("records", {"cli", "serve", "remote", "api", "jobs", "pipeline", "output"}),
    ],
)
def test_imports_flow_one_way(package, forbidden):
    """cli → jobs → pipeline → records → output: nothing below imports what sits above it."""
    modules = sorted((PACKAGE / package).rglob("*.py"))
    assert modules, f"no modules under vqa2cli/{package}"
    wrong = {str(m.relative_to(PACKAGE)): sorted(_imported_packages(m) & forbidden) for m in modules}
    assert {m: p for m, p in wrong.items() if p} == {}


def test_nothing_imports_the_cli_but_the_entry_point():
    """The front-ends sit on top: no module outside cli/ imports it (serve/, remote/, jobs/ ... included),
    except ``python -m vqa2cli`` (``__main__.py``). The scan sees function-level (lazy) imports too."""
    wrong = {}
    for module in sorted(PACKAGE.rglob("*.py")):
        rel = module.relative_to(PACKAGE)
        if rel.parts[0] == "cli" or rel == Path("__main__.py"):
            continue
        found = _imported_packages(module) if rel.parent != Path(".") else _top_level_imports(module)
        if "cli" in found:
            wrong[str(rel)] = sorted(found)
    assert wrong == {}


def _top_level_imports(path: Path) -> set[str]:
    """``_imported_packages`` for a module directly in vqa2cli/ (``from .cli import x`` is level 1 there)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
    return found | _imported_packages(path)


def test_the_cli_scan_would_see_an_upward_import(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f():\n    from ..cli.options import resolve_settings\n", encoding="utf-8")
    assert "cli" in _imported_packages(bad)


def _console() -> tuple[Console, io.StringIO]:
    stream = io.StringIO()
    return Console(NORMAL, stream=stream), stream


def _Plan():  # the command's window plan, complete (the product reads its attributes directly)
    from vqa2cli.jobs.windows import SegmentPlan

    return SegmentPlan(fail_segment_under=0.4)


@pytest.mark.parametrize(
    "stats, code",
    [
        (JobStats(ok=3), ExitCode.OK),
        (JobStats(ok=2, below=1), ExitCode.GATE_FAILED),
        (JobStats(ok=2, segment_failed=1), ExitCode.GATE_FAILED),
        (JobStats(ok=1, failed=1, below=1, segment_failed=1), ExitCode.INPUT),  # 3 takes precedence over 1
        (JobStats(ok=1, resumed_failed=1), ExitCode.INPUT),  # an earlier run's error row counts too
        (JobStats(ok=1, failed=1, interrupted=True), ExitCode.INTERRUPTED),
        (JobStats(failed=4, below=2, rank_part=True), ExitCode.OK),  # torchrun rank > 0: rank 0 reports
    ],
)
def test_the_command_turns_job_stats_into_the_exit_code(stats, code, tmp_path, capsys):
    job = JobSpec(inputs=["x"], csv=str(tmp_path / "o.csv"), summary=True, fail_under=0.5)
    console, stream = _console()
    assert exit_code(job, stats, console, _Plan()) == code
    out, said = capsys.readouterr().out, stream.getvalue()
    if stats.rank_part:
        assert out == "" and said == ""
        return
    assert json.loads(out)["failed"] == stats.failed and "batch: " in said
    assert ("below --fail-segment-under 0.4" in said) == (code == ExitCode.GATE_FAILED and not stats.below)


def test_rank_stats_sum_the_window_gate():
    total = JobStats(ok=1, segment_failed=1)
    total.add(JobStats(ok=2, segment_failed=2, rank_part=True))
    assert (total.ok, total.segment_failed, total.rank_part) == (3, 3, False)


def test_job_spec_refuses_contradicting_options(tmp_path):
    out = str(tmp_path / "o.csv")
    for spec, text in (
        (JobSpec(inputs=["x"]), "no output file"),
        (JobSpec(inputs=["x"], csv=out, retry_errors=True), "--retry-errors"),
        (JobSpec(inputs=["x"], csv=out, fail_under=2.0), "--fail-under"),
        (JobSpec(inputs=[], csv=out), "no inputs"),
    ):
        with pytest.raises(UsageError, match=text):
            spec.validate()


def test_eval_refuses_an_existing_scores_csv_before_touching_its_settings_record(tmp_path):
    """Without --resume an existing scores CSV is refused (exit 2), and the settings recorded beside it for
    the earlier run stay as they were (they describe that file's rows)."""
    from vqa2cli.jobs.evaluate import run_eval
    from vqa2cli.jobs.lock import lock_path
    from vqa2cli.jobs.provenance import sidecar_path
    from vqa2cli.training.datasets import LabelRecord

    scores = tmp_path / "scores.csv"
    scores.write_text("index,path\n")
    record = Path(sidecar_path(str(scores)))
    record.write_text('{"config": {"model": {"name": "the earlier run"}}}')
    before = record.read_bytes()
    labels = [LabelRecord(index=i, path=tmp_path / f"v{i}.mp4", mos=float(i)) for i in range(3)]
    console, _ = _console()
    with pytest.raises(ConfigError, match="already exists") as err:
        run_eval(
            labels,
            Settings(),
            None,
            console,
            labels="l.csv",
            scores_csv=scores,
            resume=False,
            workers=0,
            stalling_style="sequence",
            offline=True,
        )
    assert err.value.exit_code == ExitCode.USAGE
    assert record.read_bytes() == before and not Path(lock_path(str(scores))).exists()


def test_eval_resume_cuts_a_torn_row_as_csv(tmp_path):
    """A crash in the middle of a row whose path holds a newline: --resume cuts the whole torn row (a quoted
    newline is no record end, as batch cuts its CSV), so the rows appended after it parse again."""
    import csv
    from types import SimpleNamespace

    from vqa2cli.jobs.evaluate import evaluate
    from vqa2cli.training.datasets import LabelRecord

    class Fake:
        def prepare(self, path, stalling=None):
            return path

        def run(self, path):
            value = len(path) / 100
            return SimpleNamespace(to_dict=lambda: {"score": value, "official_score": value, "level": "fair"})

    media = tmp_path / "media"
    media.mkdir()
    names = ["a.mp4", "bb.mp4", "ccc.mp4", "new\nline.mp4"]
    for n, name in enumerate(names):
        (media / name).write_bytes(b"\0" * (10 + n))
    labels = [LabelRecord(index=i, path=media / n, mos=float(i)) for i, n in enumerate(names)]
    scores = tmp_path / "scores.csv"
    evaluate(labels[:3], Fake(), labels="l", model="m", scores_csv=scores, workers=0)
    with scores.open("a", encoding="utf-8", newline="") as fh:  # killed while writing the fourth row
        fh.write(f'3,"{media}/new\n')
    result = evaluate(labels, Fake(), labels="l", model="m", scores_csv=scores, resume=True, workers=0)
    assert result.n_reused == 3 and result.metrics.n == 4
    rows = list(csv.DictReader(scores.open(encoding="utf-8", newline="")))
    assert [r["path"] for r in rows] == [str(media / n) for n in names]


def test_segments_csv_resume_cuts_a_torn_row_as_csv(tmp_path):
    """The --segments-csv file is a CSV too: a torn row whose path holds a newline is cut whole on --resume."""
    from vqa2cli.jobs.windows import SegmentOutputs, SegmentPlan, segment_columns

    settings = Settings()
    windows = tmp_path / "windows.csv"
    header = ",".join(segment_columns(settings.scoring.levels)) + "\n"
    row = f"{tmp_path}/a.mp4,0,0.0,10.0,0.5,3.0,fair,{','.join(['0.2'] * 5)},10,40,100,1.5,0.1,0.9,\n"
    windows.write_text(header + row + f'"{tmp_path}/new\n', encoding="utf-8")
    console, said = _console()
    out = SegmentOutputs(SegmentPlan(window_s=10.0, csv=str(windows)), settings, console, append=True)
    out.close()
    assert (
        windows.read_text(encoding="utf-8") == header + row and "dropped a torn last line" in said.getvalue()
    )
