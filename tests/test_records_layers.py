"""The one-way rule of docs/design.md for the records: `records` imports no layer above it, and nothing below
the CLI (pipeline, video, modeling, training, records) imports `output`, the renderers."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "vqa2cli"


def imports(path: Path) -> set[str]:
    """Absolute names of the vqa2cli modules ``path`` imports (relative imports resolved)."""
    parts = ["vqa2cli", *path.relative_to(PACKAGE).with_suffix("").parts]
    package = parts[:-1]  # a module's package; for __init__.py the package itself
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("vqa2cli")}


def under(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def test_records_import_no_layer_above():
    above = (
        "vqa2cli.pipeline",
        "vqa2cli.video",
        "vqa2cli.modeling",
        "vqa2cli.training",
        "vqa2cli.cli",
        "vqa2cli.output",
        "vqa2cli.serve",
        "vqa2cli.jobs",
        "vqa2cli.api",
    )
    for path in under("records"):
        bad = sorted(n for n in imports(path) if n.startswith(above))
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}: records sit below every other layer"


def test_nothing_below_the_cli_imports_output():
    for layer in ("pipeline", "video", "modeling", "training", "records"):
        for path in under(layer):
            rel = str(path.relative_to(PACKAGE))
            bad = {n for n in imports(path) if n == "vqa2cli.output" or n.startswith("vqa2cli.output.")}
            assert not bad, (
                f"{rel} imports {sorted(bad)}: build records (vqa2cli.records), let the CLI render"
            )


def test_the_scan_sees_relative_imports():
    names = imports(PACKAGE / "pipeline" / "run.py")
    assert "vqa2cli.records.results" in names and "vqa2cli.records.results.ScoreRecord" in names
