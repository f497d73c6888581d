"""`vqa2 batch INPUT... --csv FILE`: score whole folders (work in progress)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command("batch")
    def batch() -> None:
        """Score every video in folders, globs or path lists into CSV/JSONL files."""
        raise typer.Exit(2)
