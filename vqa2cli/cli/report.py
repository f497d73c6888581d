"""`vqa2 report scores.jsonl [more.jsonl ...] --html report.html`: the score records of batch/score runs as
one self-contained, sortable HTML page (the run: jobs/report.py; the page: output/report_html.py; docs/report.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .options import QuietOpt, VerboseOpt, start_console

EXAMPLES = """Examples:

  vqa2 batch encodes/ --jsonl scores.jsonl --segments 10s --plot-dir plots/

  vqa2 report scores.jsonl --html report.html --plot-dir plots/

  vqa2 report monday.jsonl tuesday.jsonl --html week.html --overwrite

The page needs no network to be viewed (CSS, script, timelines and pictures are inside it): open it in a
browser or keep it as a CI artifact. Click a column heading to sort by score, worst window, level, spread or
bitrate; each file links to the file itself (file:// URL, relative names from the current folder). An
unreadable or invalid JSONL file stops the report with one line naming it and the line (exit 3)."""


def report_cmd(
    jsonl: Annotated[
        list[Path],
        typer.Argument(
            metavar="JSONL...",
            help="Score records: `vqa2 batch --jsonl` or `vqa2 score --format jsonl` output.",
            show_default=False,
        ),
    ],
    html: Annotated[
        Path,
        typer.Option(
            "--html",
            metavar="FILE.html",
            help="The page to write (written whole, atomically).",
            show_default=False,
        ),
    ],
    plot_dir: Annotated[
        Path | None,
        typer.Option(
            "--plot-dir",
            metavar="DIR",
            help="The `batch --plot-dir` folder: each file's timeline and worst window's key frames go into "
            "the page.",
        ),
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --html file.")] = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Write the score records of JSONL files as one sortable HTML page (timelines, worst windows, links)."""
    from ..jobs.report import report

    console = start_console(quiet, verbose)
    notes: list[str] = []
    n = report(
        [str(p) for p in jsonl],
        str(html),
        plot_dir=str(plot_dir) if plot_dir else None,
        overwrite=overwrite,
        notes=notes,
    )
    for note in notes:
        console.warning(note)
    console.info(f"wrote {html}: {n} files")


def register(app: typer.Typer) -> None:
    app.command("report", epilog=EXAMPLES)(report_cmd)
