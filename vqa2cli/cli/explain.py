"""The ``--explain`` options of `score` and `batch` (docs/explain.md), mapped to
:class:`~vqa2cli.jobs.explain.ExplainOptions`. The runs live below the CLI: `score --explain` is a scoring
source of the one run (:mod:`vqa2cli.jobs.explain_run`), `batch --explain` the job then the explain phase
(:mod:`vqa2cli.jobs.explain_batch`); the selection and the asking are :mod:`vqa2cli.pipeline.explain`."""

from __future__ import annotations

from typing import Annotated

import typer

from ..config import CHOICES, shown_default
from ..errors import UsageError
from ..registry import DEFAULT_CARD_FOR_TASK

ExplainOpt = Annotated[
    bool,
    typer.Option(
        "--explain",
        help="After scoring, ask the assistant what is wrong in the worst window of each file (every "
        "window under --fail-segment-under when given; the whole clip when scored in one forward, "
        "only under --fail-under when given). The scorer is released before the assistant loads. "
        "See docs/explain.md.",
    ),
]
AssistantOpt = Annotated[
    str | None,
    typer.Option(
        "--assistant",
        metavar="NAME",
        help="The assistant of --explain: a card, Hub id or folder (as --model). "
        f"[default: {DEFAULT_CARD_FOR_TASK['ask']}]",
    ),
]
ExplainTopOpt = Annotated[
    int | None,
    typer.Option("--explain-top", metavar="K", help="--explain the K lowest windows of each file."),
]
ExplainBelowOpt = Annotated[
    float | None,
    typer.Option("--explain-below", metavar="Y", help="--explain every window scoring below Y (0-1)."),
]
ExplainQuestionOpt = Annotated[
    str | None,
    typer.Option(
        "--explain-question",
        metavar="TEXT",
        help="The question --explain asks; a card may set generation.explain_question. The default asks which "
        "distortions (blur, blocking, ringing, noise, banding, flicker, stutter, exposure, colour) and where.",
    ),
]
AssistantQuantOpt = Annotated[
    str | None,
    typer.Option(
        "--assistant-quant",
        metavar="|".join(CHOICES[("runtime", "quant")]),
        help="The assistant's --quant when it differs from the scorer's. [default: the --quant value]",
    ),
]
ExplainTokensOpt = Annotated[
    int | None,
    typer.Option(
        "--max-new-tokens",
        metavar="N",
        help="With --explain: longest explanation in tokens; one that reaches it "
        f"is marked truncated. {shown_default('generation', 'max_new_tokens', 'card')}",
    ),
]


def explain_request(
    explain: bool,
    *,
    assistant=None,
    top=None,
    below=None,
    question=None,
    assistant_quant=None,
    max_new_tokens=None,
    quant=None,
    device=None,
    dtype=None,
    config=None,
    offline=False,
    server=None,
):
    """The run's :class:`~vqa2cli.jobs.explain.ExplainOptions`, or None without ``--explain``; an explain
    option without ``--explain`` is a UsageError (never a silently ignored flag). ``server``: `batch`'s
    server URLs (batch --server --explain is refused: `score --server URL --explain` explains remotely)."""
    from ..jobs.explain import ExplainOptions

    given = {
        "--assistant": assistant,
        "--explain-top": top,
        "--explain-below": below,
        "--explain-question": question,
        "--assistant-quant": assistant_quant,
        "--max-new-tokens": max_new_tokens,
    }
    if not explain:
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise UsageError(
                f"{', '.join(extra)} only {'apply' if len(extra) > 1 else 'applies'} with --explain",
                "add --explain, or leave them out",
            )
        return None
    if server:
        raise UsageError(
            "batch --server cannot --explain yet",
            "run `vqa2 score --server URL --explain FILE...`, or the batch locally with --explain",
        )
    if top is not None and below is not None:
        raise UsageError("--explain-top and --explain-below both choose the windows", "pass one of them")
    return ExplainOptions(
        assistant=assistant,
        question=question,
        top=top,
        below=below,
        quant=assistant_quant if assistant_quant is not None else quant,
        device=device,
        dtype=dtype,
        max_new_tokens=max_new_tokens,
        config=str(config) if config else None,
        offline=offline,
    )


def remote_explain(
    options: dict, explain: bool, *, fail_under=None, fail_segment_under=None, **flags
) -> None:
    """`score --server URL --explain`: the request's ``options.explain`` (serve/explain.py); ``flags``: the
    explain options of :func:`explain_request`. The server explains with the assistant it was started with."""
    from ..serve.explain import client_options

    client_options(
        options,
        explain_request(explain, **flags),
        fail_under=fail_under,
        fail_segment_under=fail_segment_under,
    )
