"""The docs stay short, reachable and true to the code: README ≤ 200 lines linking every page of docs/, no dead
relative link, the set-up commands that .ci/run runs, docs/reference.md generated from the current code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEST_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -q -e '.[test]' && python -m pytest -q"
)
INSTALL_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && vqa2 score your_clip.mp4"
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _pages() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def test_readme_is_short_and_has_the_two_set_up_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert INSTALL_COMMAND in text and TEST_COMMAND in text


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q -e '.[test]'" in ci and ci.rstrip().endswith("python -m pytest -q")


def test_every_page_of_docs_is_linked_from_the_readme():
    linked = {
        (README.parent / link.split("#")[0]).resolve() for link in _LINK.findall(README.read_text("utf-8"))
    }
    missing = [p.name for p in _pages()[1:] if p.resolve() not in linked]
    assert not missing, f"link these from README.md's 'Read on' list: {missing}"


def test_no_relative_link_is_dead():
    dead = []
    for page in _pages():
        for link in _LINK.findall(page.read_text(encoding="utf-8")):
            target = link.split("#")[0]
            if target and not re.match(r"[a-z]+:", target) and not (page.parent / target).exists():
                dead.append(f"{page.relative_to(ROOT)}: {link}")
    assert not dead


def test_reference_is_generated_from_the_current_code():
    spec = importlib.util.spec_from_file_location("build_reference", ROOT / "docs" / "build_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.TARGET.read_text(encoding="utf-8") == module.render(), "run: python docs/build_reference.py"
