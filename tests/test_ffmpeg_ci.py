"""The yardstick cannot silently go missing in CI: under ``CI=true`` a test skipped for lack of the ffmpeg CLI
fails (tests/conftest.py), elsewhere it skips; the test extra ships ffmpeg (imageio-ffmpeg)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def run_pytest(**env) -> subprocess.CompletedProcess:
    """One ffmpeg-needing test of this suite in a child pytest, ffmpeg hidden (``VQA2_NO_FFMPEG=1``)."""
    full = {**os.environ, "VQA2_NO_FFMPEG": "1", **env}
    if "CI" not in env:
        full.pop("CI", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", str(TESTS / "test_probe.py"), "-k", "interlaced"],
        capture_output=True,
        text=True,
        env=full,
        cwd=TESTS.parent,
    )


@pytest.mark.e2e
def test_a_missing_ffmpeg_fails_under_ci_and_skips_elsewhere():
    ci = run_pytest(CI="true")
    assert ci.returncode == 1 and "may not skip" in ci.stdout, ci.stdout[-2000:]
    local = run_pytest()
    assert local.returncode == 0 and "1 skipped" in local.stdout, local.stdout[-2000:]


def test_the_test_extra_ships_ffmpeg():
    text = (TESTS.parent / "pyproject.toml").read_text(encoding="utf-8")
    test_extra = text.split("\ntest = [", 1)[1].split("\n]", 1)[0]
    assert '"imageio-ffmpeg' in test_extra
    from ffmpeg_cli import ffmpeg_exe

    assert os.environ.get("CI") != "true" or ffmpeg_exe()  # CI has it (a skip here would already fail)
