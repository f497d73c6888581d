"""`vqa2 models list|pull|path`: the model cards and their weights in the Hugging Face cache."""

from __future__ import annotations

from typing import Annotated

import typer

from ..config import REPORT_FORMATS
from .options import ReportFormatOpt, check_format

LIST_EXAMPLES = """Examples:

  vqa2 models list

  vqa2 models list --format json | jq -r '.[] | select(.cached) | .name'

The CACHED column looks in the Hugging Face cache only ($HF_HOME, default ~/.cache/huggingface); it never
contacts the Hub."""

PULL_EXAMPLES = """Examples:

  vqa2 models pull ugc-scorer

  vqa2 models pull q-future/VQA-Assistant-llava_qwen@main

  HF_ENDPOINT=https://hf-mirror.example vqa2 models pull assistant

Downloads the safetensors weights, config and tokenizer files (never pickled .bin files) into the
Hugging Face cache and prints the local folder. To prepare an offline machine: pull here, copy the cache
folder over, and set HF_HUB_OFFLINE=1 there."""

PATH_EXAMPLES = """Examples:

  vqa2 models path ugc-scorer

  ls "$(vqa2 models path assistant)"

Never contacts the Hub: exits 4 with a hint when the model is not cached yet (run `vqa2 models pull NAME`)."""

ListFormatOpt = ReportFormatOpt
NameArg = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        help="Model card name (see `vqa2 models list`) or Hub repo id org/name[@revision].",
        show_default=False,
    ),
]


def list_models(fmt: ListFormatOpt = "table") -> None:
    """List the model cards: name, task, Hub repo, pinned revision, download size, and whether the weights are cached."""
    import sys

    from ..modeling.hub import cached_folder
    from ..output.render import make_writer
    from ..records.reports import ModelCardRecord
    from ..registry import ModelRef, list_cards

    check_format(fmt, REPORT_FORMATS)
    writer = make_writer(fmt, sys.stdout, "models")
    for card in list_cards():
        folder = cached_folder(ModelRef(card, card.repo, card.revision, None))
        writer.write(
            ModelCardRecord(
                name=card.name,
                task=card.task,
                repo=card.repo,
                revision=card.revision,
                cached=folder is not None,
                path=str(folder) if folder else None,
                description=card.description,
                size_bytes=card.checkpoint.get("size_bytes"),
                parameters=card.checkpoint.get("parameters"),
            )
        )
    writer.close()


def pull(name: NameArg) -> None:
    """Download a model's weights into the Hugging Face cache and print the local folder."""
    from ..modeling.hub import fetch_weights
    from ..output.console import get_console
    from ..registry import resolve_reference

    ref = resolve_reference(name, "score")
    if ref.local_dir is None:
        get_console().info(f"fetching {ref.repo}@{ref.revision} (progress on stderr)")
    typer.echo(str(fetch_weights(ref)))


def path(name: NameArg) -> None:
    """Print the local folder of a cached model (no network access)."""
    from ..modeling.hub import fetch_weights
    from ..registry import resolve_reference

    typer.echo(str(fetch_weights(resolve_reference(name, "score"), cache_only=True)))


GROUP_EXAMPLES = """Examples:

  vqa2 models list

  vqa2 models pull ugc-scorer     # on a connected machine, before going offline

  vqa2 models path assistant"""


def register(app: typer.Typer) -> None:
    models = typer.Typer(
        name="models",
        help="Model cards and their weights in the Hugging Face cache.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        epilog=GROUP_EXAMPLES,
    )
    models.command("list", epilog=LIST_EXAMPLES)(list_models)
    models.command("pull", epilog=PULL_EXAMPLES)(pull)
    models.command("path", epilog=PATH_EXAMPLES)(path)
    app.add_typer(models, name="models", help="Model cards and their weights: list, pull, path.")
