"""man/*.1 and tests/snapshots/help-*.txt are generated from the CLI definition; fail when they drift."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
def test_man_pages_and_help_snapshots_match_the_cli():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "man" / "build_manpage.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.e2e
def test_help_is_instant_and_imports_no_heavy_library():
    code = (
        "import sys, time; t=time.time(); from vqa2cli.cli.app import app; "
        "heavy=[m for m in ('torch','transformers','av','numpy') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    proc = subprocess.run([sys.executable, "-m", "vqa2cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "score" in proc.stdout and "Examples" in proc.stdout


def test_every_help_example_starts_its_own_line():
    """Rich joins epilog lines not separated by a blank line into one wrapped paragraph: each example
    command of every command's EXAMPLES must begin a line of the rendered --help."""
    import typer

    sys.path.insert(0, str(ROOT / "man"))
    from build_manpage import help_text, walk

    from vqa2cli.cli.app import app

    for path, command in walk(typer.main.get_command(app), ["vqa2"]):
        examples = [
            ln.strip()
            for ln in (command.epilog or "").splitlines()
            if ln.startswith("  ") and ln.strip().split(" ")[0] in ("vqa2", "torchrun", "curl")
        ]
        starts = [ln.strip() for ln in help_text(path).splitlines()]
        for example in examples:
            head = example[:40]
            assert any(s.startswith(head) for s in starts), f"{' '.join(path)}: {example!r} runs into another"
