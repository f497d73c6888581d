"""man/*.1 and tests/snapshots/help-*.txt are generated from the CLI definition; fail when they drift."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
def test_man_pages_and_help_snapshots_match_the_cli():
    proc = subprocess.run([sys.executable, str(ROOT / "man" / "build_manpage.py"), "--check"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.e2e
def test_help_is_instant_and_imports_no_heavy_library():
    code = ("import sys, time; t=time.time(); from vqa2cli.cli.app import app; "
            "heavy=[m for m in ('torch','transformers','av','numpy') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    proc = subprocess.run([sys.executable, "-m", "vqa2cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "score" in proc.stdout and "Examples" in proc.stdout
