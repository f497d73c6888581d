"""The typer declarations of ``--decode-processes`` (score, batch, eval, serve) and ``score --workers``; what they do
is ``jobs/feeding.py`` and ``video/decode_pool.py``, their defaults are declared there."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from ..jobs.prefetch import DEFAULT_WORKERS_SHOWN
from ..video.decode_pool import DEFAULT_DECODE_PROCESSES

DecodeProcessesOpt = Annotated[
    int,
    typer.Option(
        "--decode-processes",
        metavar="N",
        help="Decode and resize in N worker processes, frames handed back over shared memory "
        f"(0 = in the decode threads). [default: {DEFAULT_DECODE_PROCESSES}]",
        show_default=False,
    ),
]

ScoreWorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        metavar="N",
        help="Decode threads running ahead of the model when several files are given (0 = one by one). "
        f"[default: {DEFAULT_WORKERS_SHOWN}]",
    ),
]


def refuse_processes_with_server(decode_processes: int) -> None:
    """``--decode-processes`` with ``--server``: the server decodes (its own ``vqa2 serve --decode-processes``)."""
    if decode_processes:
        raise UsageError(
            "--decode-processes applies to a model in this process, not to --server",
            "leave it out, or start the server with `vqa2 serve --decode-processes N`",
        )
