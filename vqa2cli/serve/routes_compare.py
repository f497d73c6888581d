"""``POST /v1/compare`` on ``vqa2 serve``: the same comparison as ``vqa2 compare`` (jobs/compare.py), on
files the server may read (paths confined to ``--allow-root`` exactly as ``/v1/score``'s path requests).

Body: ``{"paths": [...]}`` (baseline first) or ``{"ladders": [[...], [...]]}`` (optional ``"ladder_names"``:
their names in the answer), optional ``"baseline"``,
``"duration_tolerance"`` (seconds) and ``"options"`` (the CLI's option names, as ``/v1/score``;
``segments`` default ``auto``). Answer: the ``vqa2.compare/1`` object; a path the server refuses to open
(outside the roots, not a regular file) is that file's error row (``status: error``, the rest compared), as
``/v1/score`` refuses per file. Refusals of the request: 422 ``usage`` (fewer than two different files,
different durations, bad options: the CLI's exit 2), 401, 503 (busy/loading). Every path in the answer,
messages included, is the path as the client sent it (never the server's ``/proc/self/fd/N``).
"""

# no `from __future__ import annotations`: FastAPI reads the route's `Request` annotation at run time

import asyncio
from typing import Any


def add_routes(app, state) -> None:
    """Add ``POST /v1/compare`` for ``state`` (a serve.app.ServerState) to ``app``.

    Added with ``app.add_api_route`` rather than ``include_router``: FastAPI 0.165 keeps an included router
    as one lazy ``_IncludedRouter`` entry, which ``serve.banner.served_routes`` (the start banner, read from
    ``app.routes``) would not list."""
    from fastapi import Request
    from fastapi.responses import JSONResponse

    async def compare_route(request: Request):
        from .app import _timed

        return await _timed(state, "compare", lambda: _compare(state, request), JSONResponse)

    app.add_api_route(
        "/v1/compare",
        compare_route,
        methods=["POST"],
        summary="Compare encodes of one source (allowed paths): a vqa2.compare/1 object",
    )


def _refused_error(raw: str, exc):
    """The InputError row of a path the server refused to open (``exc``: security.Refused): exit 3 for the
    client, the rest compared, as ``vqa2 score --server`` refusals are per file. An
    :class:`~vqa2cli.errors.UnopenedInputError`: the compare job makes its row without touching the name."""
    from ..errors import UnopenedInputError

    return UnopenedInputError(
        raw,
        f"refused by the vqa2 server (HTTP {exc.status}): {exc.message.removeprefix(f'{raw}: ')}",
        _REFUSAL_FIXES.get(exc.status),
        code=exc.code,
    )


_REFUSAL_FIXES = {
    403: "the server reads only regular files under its --allow-root; move the file there",
}


def _paths(
    body: dict[str, Any], roots, pinned: list, names: dict[str, str], refused: dict[str, Any]
) -> tuple[list[str], list[list[str]] | None, str | None]:
    """The request's paths, each opened once inside the roots and pinned (``security.open_confined``: every
    later read, probe, packets, hash and decode, goes through its descriptor, never the name again); the
    pinned files are appended to ``pinned`` (closed by the caller). A path refused (outside the roots, not
    a regular file, empty) is not a refusal of the request: it gets a key of its own in ``refused`` (its
    error row). ``names``: every key → the path as the client sent it."""
    from .requests import ApiError
    from .security import Refused, open_confined

    keys: dict[str, str] = {}

    def checked(raw: Any) -> str:
        if not isinstance(raw, str):
            raise ApiError(422, "usage", "paths must be strings", 2)
        if raw not in keys:
            try:
                file = open_confined(raw, roots)
            except Refused as exc:
                key = f"<refused path {len(refused) + 1}>"  # never a file name: nothing opens or stats it
                refused[key] = _refused_error(raw, exc)
                keys[raw] = names[key] = key
                names[key] = raw
                return key
            pinned.append(file)
            keys[raw] = file.key
            names[file.key] = file.name
        return keys[raw]

    paths, ladders = body.get("paths") or [], body.get("ladders")
    if not isinstance(paths, list) or (
        ladders is not None
        and not (isinstance(ladders, list) and all(isinstance(lad, list) for lad in ladders))
    ):
        raise ApiError(422, "usage", "'paths' must be a list of paths, 'ladders' a list of such lists", 2)
    baseline = body.get("baseline")
    return (
        [checked(p) for p in paths],
        [[checked(p) for p in lad] for lad in ladders] if ladders else None,
        checked(baseline) if baseline is not None else None,
    )


def _ladder_names(value: Any) -> list[str] | None:
    """The optional ``ladder_names`` (the client's globs or folders, shown as the ladders' names)."""
    if value is None:
        return None
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise TypeError("'ladder_names' must be a list of strings")
    return value


async def _compare(state, request):
    from .app import _authorize
    from .requests import json_body

    _authorize(state, request)
    state.accepting()
    body = await json_body(request)
    pinned: list = []
    try:
        return await _compare_pinned(state, body, pinned)
    finally:
        for file in pinned:
            file.close()


async def _compare_pinned(state, body, pinned: list):
    """The comparison of the request ``body``'s files, pinned into ``pinned``; paths shown as the client's."""
    from ..errors import UsageError, Vqa2Error
    from ..jobs.compare import DURATION_TOLERANCE_S, compare, plan_compare
    from ..records.cells import relabel_paths, relabel_text
    from .app import _resolver, submit
    from .queue import Job
    from .requests import ApiError

    names: dict[str, str] = {}
    refused: dict[str, Any] = {}
    paths, ladders, baseline = _paths(body, state.config.roots, pinned, names, refused)
    options = dict(body.get("options") or {})
    options.setdefault("segments", "auto")
    try:
        resolved = _resolver(state, "score").resolve(options)
        plan = plan_compare(
            paths,
            ladders=ladders,
            baseline=baseline,
            tolerance_s=float(body.get("duration_tolerance", DURATION_TOLERANCE_S)),
            refused=refused,
            ladder_names=_ladder_names(body.get("ladder_names")),
        )
    except (UsageError, ValueError, TypeError) as exc:
        message = exc.one_line() if isinstance(exc, UsageError) else str(exc)
        raise ApiError(422, "usage", relabel_text(message, names), 2) from exc
    base = state.sessions["score"]
    session = type(base)(resolved.settings, base.loaded)
    window_s = resolved.window_s or resolved.settings.video.segment_s

    def fail(exc: BaseException):
        raise exc

    job = Job(prepare=lambda: plan, run=lambda p: compare(session, p, window_s=window_s), fail=fail)
    try:
        report = await asyncio.wrap_future(submit(state, job))
    except Vqa2Error as exc:  # every string the server returns names the client's path
        exc.message = relabel_text(exc.message, names)
        raise
    return 200, relabel_paths(report.to_dict(), names)
