"""``POST /v1/compare`` on ``vqa2 serve``: the same comparison as ``vqa2 compare`` (jobs/compare.py), on
files the server may read (paths confined to ``--allow-root`` exactly as ``/v1/score``'s path requests).

Body: ``{"paths": [...]}`` (baseline first) or ``{"ladders": [[...], [...]]}``, optional ``"baseline"``,
``"duration_tolerance"`` (seconds) and ``"options"`` (the CLI's option names, as ``/v1/score``;
``segments`` default ``auto``). Answer: the ``vqa2.compare/1`` object. Refusals: 422 ``usage`` (fewer than two
files, different durations, bad options: the CLI's exit 2), 403 (outside the roots), 503 (busy/loading).
"""

# no `from __future__ import annotations`: FastAPI reads the route's `Request` annotation at run time

import asyncio
from typing import Any


def add_routes(app, state) -> None:
    """Add ``POST /v1/compare`` for ``state`` (a serve.app.ServerState) to ``app``.

    Added with ``app.add_api_route`` rather than ``include_router``: FastAPI 0.165 keeps an included router
    as one lazy ``_IncludedRouter`` entry, which ``serve.app.served_routes`` (the start banner, read from
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


def _paths(body: dict[str, Any], roots, pinned: list) -> tuple[list[str], list[list[str]] | None, str | None]:
    """The request's paths, each opened once inside the roots and pinned (``security.open_confined``: every
    later read, probe, packets, hash and decode, goes through its descriptor, never the name again); the
    pinned files are appended to ``pinned`` (closed by the caller)."""
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
                raise ApiError(exc.status, exc.code, exc.message) from exc
            pinned.append(file)
            keys[raw] = file.key
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
    from ..errors import UsageError
    from ..jobs.compare import DURATION_TOLERANCE_S, compare, plan_compare
    from ..records.cells import relabel_paths
    from .app import _resolver, submit
    from .queue import Job
    from .requests import ApiError

    paths, ladders, baseline = _paths(body, state.config.roots, pinned)
    options = dict(body.get("options") or {})
    options.setdefault("segments", "auto")
    try:
        resolved = _resolver(state, "score").resolve(options)
        plan = plan_compare(
            paths,
            ladders=ladders,
            baseline=baseline,
            tolerance_s=float(body.get("duration_tolerance", DURATION_TOLERANCE_S)),
        )
    except (UsageError, ValueError, TypeError) as exc:
        message = exc.one_line() if isinstance(exc, UsageError) else str(exc)
        raise ApiError(422, "usage", message, 2) from exc
    base = state.sessions["score"]
    session = type(base)(resolved.settings, base.loaded)
    window_s = resolved.window_s or resolved.settings.video.segment_s

    def fail(exc: BaseException):
        raise exc

    job = Job(prepare=lambda: plan, run=lambda p: compare(session, p, window_s=window_s), fail=fail)
    report = await asyncio.wrap_future(submit(state, job))
    return 200, relabel_paths(report.to_dict(), {file.key: file.name for file in pinned})
