"""Shared fixtures: generated clips (tests/clips.py) and a tiny random checkpoint in the official layout
(tests/tiny_checkpoint.py). `slow` tests need real weights (VQA2_REAL_MODEL=<folder or card>), `gpu` tests
need CUDA; both are skipped, never faked, when their resources are absent."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# torch single-threaded (unless OMP_NUM_THREADS is set), here and in the vqa2 processes tests start: the
# tiny models' operations are too small to gain from a second thread, and on a shared machine OpenMP's
# waiting threads spin, which more than doubled the fast lane's CPU time (figures: benchmarks/RESULTS.md "Test lanes").
# Set before torch is imported (OpenMP reads it once); batch's own thread choice is tested with it unset.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under ``CI=true`` a test skipped for lack of the ffmpeg CLI (tests/ffmpeg_cli.py: the yardstick of the
    decoding tests) fails: CI installs it with the ``test`` extra (imageio-ffmpeg), so a skip there means the
    yardstick silently went missing."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("CI") == "true":
        from ffmpeg_cli import FFMPEG_SKIP

        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if FFMPEG_SKIP in reason:
            report.outcome = "failed"
            report.longrepr = (
                f"{reason}: under CI=true a yardstick test may not skip; install the test extra "
                "(pip install -e '.[test]' ships ffmpeg via imageio-ffmpeg) or put ffmpeg on PATH"
            )


def pytest_collection_modifyitems(config, items):
    has_cuda = False
    if any("gpu" in item.keywords for item in items):  # torch imported only when a GPU test is collected:
        try:  # a child pytest of a few tests (tests/test_ffmpeg_ci.py) starts without it
            import torch

            has_cuda = torch.cuda.is_available()
        except Exception:  # torch missing or broken: no GPU tests
            has_cuda = False
    real = os.environ.get("VQA2_REAL_MODEL")
    for item in items:
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        if "slow" in item.keywords and not real:
            item.add_marker(pytest.mark.skip(reason="needs real weights: set VQA2_REAL_MODEL"))


@pytest.fixture(scope="session", autouse=True)
def private_tmpdir(tmp_path_factory) -> Path:
    """This test process's own TMPDIR (and that of the vqa2 processes its tests start): temporary copies
    (``vqa2-stdin-*``, ``vqa2-url-*``, uploads) of one pytest-xdist worker never meet another's, so the
    tests that check nothing is left behind look at their own files only."""
    import tempfile

    folder = tmp_path_factory.mktemp("tmpdir")
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
    return folder


@pytest.fixture(scope="session", autouse=True)
def quant_cache_dir(tmp_path_factory) -> Path:
    """The quantized-weights cache (modeling/quant_cache.py) of every test, and of the CLI processes tests
    start, in a temporary folder: never the user's ``$HF_HOME/vqa2/quantized``."""
    folder = tmp_path_factory.mktemp("quant-cache")
    before = os.environ.get("VQA2_QUANT_CACHE_DIR")
    os.environ["VQA2_QUANT_CACHE_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("VQA2_QUANT_CACHE_DIR", None)
    else:
        os.environ["VQA2_QUANT_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random VQA² checkpoint in the official (llava_qwen) layout, with a tiny Qwen2-style tokenizer."""
    from tiny_checkpoint import write_tiny_official_checkpoint

    return write_tiny_official_checkpoint(tmp_path_factory.mktemp("tiny-vqa2"))


@pytest.fixture(scope="session")
def wide_model_dir(tmp_path_factory) -> Path:
    """The tiny checkpoint with a wider language model (``tiny_checkpoint.WIDE_TEXT``, 31 MB; about 3 s to
    write, so once per session): memory estimates and quantized sizes well above the noise."""
    from tiny_checkpoint import WIDE_TEXT, write_tiny_official_checkpoint

    return write_tiny_official_checkpoint(tmp_path_factory.mktemp("wide-vqa2"), text=WIDE_TEXT)


@pytest.fixture(scope="session")
def tiny_scorer_loaded(tiny_model_dir):
    """The tiny checkpoint loaded once as a scorer with the settings `vqa2 score -m DIR` resolves (device
    auto), through the users' path (``vqa2cli.load_scorer``)."""
    import vqa2cli

    return vqa2cli.load_scorer(str(tiny_model_dir))


@pytest.fixture
def tiny_scorer(tiny_scorer_loaded):
    """The shared tiny scorer, configured as ``load_scorer`` returns it (windows only past the limits, no
    callback) whatever an earlier test configured: tests do not depend on their order."""
    return tiny_scorer_loaded.configure()


@pytest.fixture
def reuse_tiny_scorer(tiny_scorer, monkeypatch):
    """Commands in this test get the shared ``tiny_scorer`` instead of loading the weights again, when they
    resolve to exactly its settings (any other settings load as usual). For tests of outputs and gates,
    not of loading."""
    from vqa2cli.pipeline.run import Scorer

    load = Scorer.load.__func__

    def shared(cls, settings, ref, *, offline=False, clips=None):
        if isinstance(tiny_scorer, cls) and settings == tiny_scorer.settings:
            return tiny_scorer  # the CLI's windowed scorer (a Scorer), configured anew by each command
        return load(cls, settings, ref, offline=offline, clips=clips)

    monkeypatch.setattr(Scorer, "load", classmethod(shared))
    return tiny_scorer


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def make_clip(clip_dir):
    """make_clip(name, **kwargs) -> Path: encode a small synthetic clip with PyAV (cached per session)."""
    from clips import make_clip as _make

    cache: dict[tuple, Path] = {}

    def factory(name: str, **kwargs) -> Path:
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = _make(clip_dir / name, **kwargs)
        return cache[key]

    return factory


@pytest.fixture(scope="session")
def windowed_server(tiny_model_dir, tmp_path_factory):
    """One real `vqa2 serve` process for the tests of windows and explanations through the server (started on
    first use, stopped at the end of the session; its process must exit 0): the tiny checkpoint as scorer
    and assistant, ``--config`` = ``small.toml`` (``video.motion_size = 64``: a small SlowFast input keeps the
    CPU tests fast; ``generation.max_new_tokens = 4``), ``--allow-root`` = a folder holding ``long.mkv`` (52
    lossless frames, tests/clips.py). A dict: ``url``, ``long``, ``config``, ``root``. Tests compare its
    answers with in-process runs given the same ``config``; they add no files to ``root``."""
    pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    pytest.importorskip("prometheus_client")
    from clips import make_lossless_frames
    from test_serve import Server

    root = tmp_path_factory.mktemp("serve-windows")
    config = root / "small.toml"
    config.write_text("[video]\nmotion_size = 64\n[generation]\nmax_new_tokens = 4\n")
    files = {"long": make_lossless_frames(root / "long.mkv", 0, 52), "config": config, "root": root}
    srv = Server(
        ["--model", str(tiny_model_dir), "--assistant", str(tiny_model_dir), "--config", str(config)]
        + ["--allow-root", str(root)],
        tmp_path_factory.mktemp("srv"),
        "windows",
    )
    try:
        yield {"url": srv.wait_ready(), **files}
    finally:
        assert srv.stop() == 0
