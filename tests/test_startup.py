"""The process start without the cyclic GC (vqa2cli/startup.py): paused by the console entry point only,
resumed by the model load or the first written result, cycles made meanwhile freed, never left off."""

from __future__ import annotations

import gc
import io
import subprocess
import sys
import weakref

import pytest

from vqa2cli import startup


@pytest.fixture
def collector():
    """Restore the collector's state whatever a test does (frozen objects back into the generations)."""
    was = gc.isenabled()
    gc.enable()  # as a fresh process starts, whatever ran before in this worker
    yield
    startup._paused = False
    gc.unfreeze()
    (gc.enable if was else gc.disable)()


class Node:
    pass


def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_resume_frees_the_cycles_of_the_start_and_switches_the_collector_back_on(collector):
    startup.pause()
    assert not gc.isenabled()
    alive = cycle()
    assert alive() is not None
    startup.resume()
    assert gc.isenabled()
    assert alive() is None  # collected, not frozen into the permanent generation
    assert gc.get_freeze_count() > 0


def test_resume_without_pause_leaves_the_program_s_collector_alone(collector):
    gc.disable()
    startup.resume()  # the Python API path: the embedding program owns the collector
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_the_first_written_result_ends_the_start(collector):
    from vqa2cli.output.render import make_writer
    from vqa2cli.records.results import error_score_record

    startup.pause()
    writer = make_writer("jsonl", io.StringIO(), "score")
    writer.write(error_score_record("x.mp4", "input_not_found", "no such file"))
    assert gc.isenabled()


def test_the_loaded_model_ends_the_start(collector, tiny_model_dir):
    from vqa2cli.config import Settings
    from vqa2cli.modeling.loading import load_model

    startup.pause()
    load_model(
        tiny_model_dir, Settings().replace(runtime={"device": "cpu", "dtype": "fp32", "quant": "none"})
    )
    assert gc.isenabled()


@pytest.mark.e2e
def test_the_console_entry_point_pauses_and_the_api_does_not():
    code = (
        "import gc, sys; from vqa2cli.cli import app; from vqa2cli import startup; import vqa2cli; "
        "seen = []; end = startup.restore; startup.restore = lambda: (seen.append(gc.isenabled()), end())\n"
        "before = gc.isenabled(); sys.argv = ['vqa2', '--version']\n"
        "try:\n    app.main()\nexcept SystemExit:\n    pass\n"
        "print(before, seen[0], gc.isenabled())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()[-3:]
    # --version writes no record and loads no model: paused to its end, then main leaves the collector on
    assert out == ["True", "False", "True"]


def test_main_leaves_the_collector_as_it_found_it(collector, capsys):
    """A command that ends before its first result (here a usage error) switches the collector back on when
    ``main`` returns: in-process callers (the tests' runner) are not left without a cyclic GC."""
    from cli_run import run

    code, _, _ = run(["score", "--no-such-flag"], capsys)
    assert code == 2 and gc.isenabled()
