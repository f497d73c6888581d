"""The job engine reads our own types through declared protocols (issue 20 step 6): every record and scorer
the engine is given has every attribute its protocol declares, and no ``getattr(x, name, default)`` in
``jobs/`` tolerates one that lacks them."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from vqa2cli.config import Settings
from vqa2cli.errors import InputError
from vqa2cli.jobs.engine import JobScorer
from vqa2cli.jobs.loop import BatchScorer, JobRecord, JobStats, Todo, error_row_factory, run_batch
from vqa2cli.records.reports import EvalRow
from vqa2cli.records.results import ScoreRecord

PACKAGE = Path(__file__).resolve().parents[1] / "vqa2cli"


def _declared(protocol) -> set[str]:
    """The attributes and methods a Protocol declares (its own and its bases')."""
    names = set()
    for cls in protocol.__mro__:
        if cls in (typing.Protocol, typing.Generic, object):
            continue
        names |= set(getattr(cls, "__annotations__", {}))
        names |= {n for n, v in vars(cls).items() if callable(v) and not n.startswith("_")}
    return names


class _Label:
    index, path, mos = 0, "a.mp4", 3.0


def _records():
    make_error = error_row_factory(Settings())
    return {
        "score": ScoreRecord(path="a.mp4", score=0.5),
        "eval": EvalRow.of(_Label(), score=0.5),
        "error": make_error("a.mp4", InputError("a.mp4", "a.mp4: not a video")),
        "internal": make_error("a.mp4", ZeroDivisionError("x")),
    }


@pytest.mark.parametrize("kind", ["score", "eval", "error", "internal"])
def test_every_job_record_has_what_the_loop_reads(kind):
    record = _records()[kind]
    missing = {n for n in _declared(JobRecord) if not hasattr(record, n)}
    assert not missing, missing
    assert isinstance(record.input, dict) and record.status in ("ok", "error")


def test_every_job_scorer_has_what_the_engine_reads():
    from vqa2cli.pipeline.segmented import SegmentingScorer
    from vqa2cli.remote.scorers import RemoteBatchScorer

    assert {"prepare", "run", "last_thumbnails"} <= _declared(JobScorer)
    assert _declared(BatchScorer) <= _declared(JobScorer)
    for cls in (SegmentingScorer, RemoteBatchScorer):
        missing = {n for n in _declared(JobScorer) if not hasattr(cls, n)}
        assert not missing, (cls.__name__, missing)
    assert RemoteBatchScorer([], {}, False).last_thumbnails == ()


class StubScorer:
    """A complete :class:`~vqa2cli.jobs.engine.JobScorer` without a model: ``run`` returns a real record."""

    last_thumbnails = ()

    def prepare(self, path: str) -> str:
        return path

    def run(self, prepared: str) -> ScoreRecord:
        return ScoreRecord(path=prepared, score=0.25)


def test_the_loop_stamps_and_counts_a_complete_stub(tmp_path):
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"\0" * 7)
    rows = []
    stats = run_batch(
        [Todo(str(clip), ())],
        StubScorer(),
        lambda r, t: rows.append(r),
        make_error=error_row_factory(Settings()),
        workers=0,
        depth=1,
        stats=JobStats(),
        fail_under=0.5,
    )
    assert (stats.ok, stats.below) == (1, 1) and rows[0].input["size_bytes"] == 7


def _defaulted_getattr(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) == 3
    ]


def test_no_getattr_with_a_default_in_the_job_engine():
    """Our own types are read directly; a missing attribute is a bug to see, not a default to hide it."""
    files = sorted((PACKAGE / "jobs").glob("*.py")) + [PACKAGE / "cli" / "batch.py"]
    found = [hit for f in files for hit in _defaulted_getattr(f)]
    assert found == []


def test_the_scan_would_see_one(tmp_path):
    bad = tmp_path / "m.py"
    bad.write_text("def f(r):\n    return getattr(r, 'status', 'ok')\n", encoding="utf-8")
    assert _defaulted_getattr(bad) == ["m.py:2"]
