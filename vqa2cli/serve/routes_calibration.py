"""The server's calibration and golden clips: ``POST /v1/calibrate``, ``POST /v1/verify`` and the
``calibration`` field of ``/v1/score``.

* ``POST /v1/calibrate``: JSON ``{"scores": [...], "labels": [...], "scale": "mos", "kind": "auto",
  "folds": 5, "seed": 0, "bootstrap": 1000, "options": {...}}`` → the calibration file's JSON
  (``vqa2.calibration/1``), bound to the settings the server's scorer resolves for ``options``. 422 with the
  CLI's one line for too few or constant labels, no monotone fit, bad options.
* ``POST /v1/verify``: JSON ``{"golden": {...a golden file's content...}, "tolerance": null}``: the golden
  clips (paths under an ``--allow-root``) re-scored by the server's model in its model thread, compared as
  ``vqa2 verify golden.json`` does → the ``VerifyRecord`` body (200; ``passed`` false beyond tolerance,
  ``unreadable`` > 0 for clips that could not be read). 422 for a newer, corrupt or edited golden file.
* ``/v1/score`` with a top-level ``"calibration": {...}`` (a calibration file's content) next to
  ``options``: checked against the request's resolved settings before the video is scored (422 when it was
  made for another model or settings), and the record gains ``calibrated`` (calibration/apply.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request  # FastAPI reads the annotation at import

from ..errors import UsageError
from .requests import ApiError, json_body


def calibration_router(state):
    """The APIRouter of ``/v1/calibrate`` for ``state`` (a serve.app.ServerState)."""
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse

    router = APIRouter()

    @router.post("/v1/calibrate", summary="Fit scores to a team's labels: a vqa2.calibration/1 file")
    async def calibrate(request: Request):
        from .app import _authorize, _resolver, _timed

        async def handler():
            _authorize(state, request)
            import asyncio

            body, resolver = await json_body(request), _resolver(state, "score")
            info = state.sessions["score"].model_info if "score" in state.sessions else None
            precision = {"dtype": info.dtype, "quant": info.quant} if info is not None else None
            return 200, await asyncio.to_thread(_calibrate, body, resolver, precision)  # the fit is CPU work

        return await _timed(state, "calibrate", handler, JSONResponse)

    @router.post("/v1/verify", summary="Re-score golden clips and compare: a verify record")
    async def verify(request: Request):
        from .app import _authorize, _timed

        async def handler():
            _authorize(state, request)
            state.accepting()
            return 200, await _verify(state, await json_body(request), weights)

        return await _timed(state, "verify", handler, JSONResponse)

    weights: dict[str, Any] = {}  # the loaded checkpoint's hashes, computed once
    return router


async def _verify(state, body: dict[str, Any], weights: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    from ..verify import verify_with
    from ..verify.golden import check, weight_hashes
    from .queue import Job
    from .security import Refused, confine

    try:
        golden = check(body.get("golden"), "request golden")
        tolerance = body.get("tolerance")
        tolerance = None if tolerance is None else float(tolerance)
        paths = [confine(str(c["path"]), state.config.roots) for c in golden["clips"]]
    except UsageError as exc:
        raise ApiError(422, "usage", exc.one_line(), 2) from exc
    except (TypeError, ValueError, KeyError) as exc:
        raise ApiError(422, "usage", f"'tolerance' must be a number ({exc})", 2) from exc
    except Refused as exc:
        raise ApiError(exc.status, exc.code, exc.message, 2 if exc.status == 422 else 3) from exc
    session = state.sessions["score"]
    if "hashes" not in weights:
        from ..modeling.hub import fetch_weights

        ref = state.resolvers["score"].base()[1]
        weights["hashes"] = await asyncio.to_thread(weight_hashes, fetch_weights(ref, offline=True))
    job = Job(prepare=lambda: None, run=lambda _p: list(session.score_files(paths)), fail=lambda exc: exc)
    from .app import submit

    records = await asyncio.wrap_future(submit(state, job))
    if isinstance(records, BaseException):
        raise ApiError(500, "runtime_error", f"scoring the golden clips failed: {records}", 4)
    return verify_with(golden, "request golden", records, weights["hashes"], paths, tolerance)


def _calibrate(body: dict[str, Any], resolver, precision=None) -> dict[str, Any]:
    from ..calibration import calibrate
    from ..errors import DataError

    try:
        resolved = resolver.resolve(body.get("options"))
        scores, labels = body.get("scores"), body.get("labels")
        if not isinstance(scores, list) or not isinstance(labels, list):
            raise UsageError("'scores' and 'labels' must be JSON arrays of numbers")
        cal = calibrate(
            [float(v) for v in scores],
            [float(v) for v in labels],
            config=resolved.settings.to_dict(),
            scale=str(body.get("scale", "mos")),
            kind=str(body.get("kind", "auto")),
            folds=int(body.get("folds", 5)),
            seed=int(body.get("seed", 0)),
            n_boot=min(int(body.get("bootstrap", 1000)), 5000),
            precision=precision,
        )
    except (UsageError, DataError) as exc:
        raise ApiError(422, "usage", exc.one_line(), 2) from exc
    except (TypeError, ValueError) as exc:
        raise ApiError(
            422, "usage", f"'scores', 'labels', 'folds', 'seed', 'bootstrap' must be numbers ({exc})", 2
        ) from exc
    return cal.to_json()


def request_gates(body: dict[str, Any], settings):
    """``/v1/score``'s ``calibration`` field → RecordGates checked against ``settings`` (None without it);
    ApiError 422 for a bad or mismatched calibration."""
    if body.get("calibration") is None:
        return None
    from ..calibration.apply import RecordGates
    from ..calibration.file import from_json

    try:
        gates = RecordGates(from_json(body["calibration"], "request calibration"))
        gates.check_config(settings.to_dict())
    except UsageError as exc:
        raise ApiError(422, "usage", exc.one_line(), 2) from exc
    return gates
