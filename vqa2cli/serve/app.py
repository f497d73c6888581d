"""The FastAPI app of ``vqa2 serve``: routes, request parsing, error bodies, upload handling.

Endpoints (bearer token on ``/v1/*`` when the server has one):

* ``POST /v1/score``: multipart ``file`` (+ optional ``request`` part: JSON ``{"options": {...},
  "name": "shown/path.mp4", "mtime_ns": 0}``), or JSON ``{"path": "...", "options": {...}}`` for a file
  under an ``--allow-root``. Answers the ``vqa2.score/1`` record: 200 ok, 422 input error record, 500
  model error record (out of memory...).
* ``POST /v1/ask``: the same, with ``"questions": [...]``; answers a JSON array of ``vqa2.answer/1``.
* ``POST /v1/settings``: ``{"task": "score"|"ask", "options": {...}}`` → the resolved config (the client
  validates its flags once before sending files).
* ``GET /healthz`` (alive), ``GET /readyz`` (weights loaded, not draining), ``GET /metrics``
  (Prometheus), ``GET /docs`` (OpenAPI; with a token it needs the token too: serve/access.py).

Every refusal is ``{"error": {"code", "message", "exit_code"}}`` with a one-line message: 400 malformed
body, 401 token, 403 path refused, 408 body too slow, 413 too large (both close the connection), 415 wrong
content type, 422 options (the CLI's exit-code-2 message), 503 queue full / loading / shutting down (with
``Retry-After``). Limits and time bounds: serve/limits.py; what the server guarantees:
docs/serving-security.md.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request  # route signatures: FastAPI reads this annotation at import

from ..errors import (  # every error code's HTTP status: errors.API_ERRORS
    INPUT_STATUS,
    MODEL_ERROR_CODES,
    UsageError,
)
from ..jobs.prefetch import default_workers
from ..video.decode_pool import DEFAULT_DECODE_PROCESSES
from .access import protect_docs, public_model
from .explain import take_explain  # /v1/score options.explain (score --explain)
from .jobs import make_job, request_questions
from .limits import BODY_TIMEOUT_S, GRACE_S, HEADER_TIMEOUT_S
from .queue import QueueClosed, QueueFull
from .requests import JSON_BODY_LIMIT, ApiError, BodyLimit, json_body, read_input, remove
from .routes_calibration import calibration_router, request_gates
from .security import Refused, check_bearer


@dataclass
class ServeConfig:
    """What ``vqa2 serve`` was started with. Sizes in bytes, times in seconds."""

    model: str | None = None
    assistant: str | None = None
    config: Path | None = None
    runtime: dict[str, Any] = field(default_factory=dict)  # runtime__device/dtype/quant flags
    token: str | None = None
    roots: list[Path] = field(default_factory=list)
    max_queue: int = 16
    workers: int = field(default_factory=default_workers)  # decode threads (jobs/prefetch.py)
    decode_processes: int = DEFAULT_DECODE_PROCESSES  # behind those threads (jobs/feeding.py)
    max_upload_bytes: int = 2 << 30
    retry_after_s: int = 2
    offline: bool = False
    header_timeout_s: float = HEADER_TIMEOUT_S  # request line + headers (serve/limits.py)
    body_timeout_s: float = BODY_TIMEOUT_S  # longest silence between two chunks of a body
    grace_s: float = GRACE_S  # SIGTERM: requests in flight get this long, then the rest is cut


class ServerState:
    """Everything the routes share: config, resolvers, loaded sessions, the work queue, metrics, flags."""

    def __init__(self, config: ServeConfig):
        from .metrics import Metrics
        from .options import OptionResolver

        self.config = config
        self.metrics = Metrics()
        self.resolvers = {"score": OptionResolver("score", config.model, config.config, config.runtime)}
        if config.assistant is not None:
            self.resolvers["ask"] = OptionResolver("ask", config.assistant, config.config, config.runtime)
        self.sessions: dict[str, Any] = {}  # task -> Scorer | Asker
        self.queue = None
        self.decode_pool = None  # video.decode_pool.DecodePool with --decode-processes
        self.ready = False
        self.draining = False
        self.load_error: BaseException | None = None

    def load(self) -> None:
        """Load the weights (blocking) and start the work queue; sets ``ready``. Raises Vqa2Error."""
        from ..jobs.feeding import share_pool, threads_for
        from ..pipeline.asking import Asker
        from ..pipeline.segmented import SegmentingScorer
        from .queue import WorkQueue

        for task, cls in (("score", SegmentingScorer), ("ask", Asker)):  # the CLI's scorer (cli/segments.py)
            if task in self.resolvers:
                settings, ref = self.resolvers[task].base()
                session = cls.load(settings, ref, offline=self.config.offline)
                self.sessions[task] = session
                self.resolvers[task].loaded = session.loaded
        self.decode_pool = share_pool(self.sessions.values(), self.config.decode_processes)
        self.queue = WorkQueue(
            max_queue=self.config.max_queue,
            workers=threads_for(self.config.workers, self.config.decode_processes),
            on_depth=self.metrics.queue_depth.set,
        )
        self.ready = True
        self.metrics.ready.set(1)

    def accepting(self) -> None:
        if self.draining:
            raise ApiError(
                503, "shutting_down", "the server is shutting down", retry_after=self.config.retry_after_s
            )
        if not self.ready:
            if self.load_error is not None:
                raise ApiError(503, "not_ready", f"the model failed to load: {self.load_error}")
            raise ApiError(
                503, "not_ready", "the model is still loading", retry_after=self.config.retry_after_s
            )


def create_app(state: ServerState):
    """The FastAPI app for ``state`` (no model is loaded here: the caller calls ``state.load()``)."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, Response
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from .. import __version__

    app = FastAPI(
        title="vqa2 serve",
        version=__version__,
        description="Video quality scores and answers from a warm VQA² model (same records as the CLI).",
    )
    app.state.vqa2 = state
    app.add_middleware(BodyLimit, limit=state.config.max_upload_bytes + JSON_BODY_LIMIT)
    app.include_router(calibration_router(state))

    def error_response(exc: ApiError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        if exc.status == 401:
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        if exc.status in (408, 413):  # the rest of the body is not read: this connection ends here
            headers = {**(headers or {}), "Connection": "close"}
        body = {"error": {"code": exc.code, "message": exc.message, "exit_code": exc.exit_code}}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api_error(request, exc: ApiError):
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc):
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(ApiError(422, "usage", f"{where}: {first['msg']}", 2))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request, exc):
        return error_response(ApiError(exc.status_code, "http", str(exc.detail), 4))

    @app.exception_handler(Exception)
    async def _unexpected(request, exc):  # a bug, never a malformed input: still the documented error body
        return error_response(ApiError(500, "internal_error", f"{type(exc).__name__}: {exc}", 4))

    protect_docs(app, state.config.token)  # serve/access.py

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: weights loaded and requests accepted")
    async def readyz():
        if state.ready and not state.draining:
            return {
                "status": "ready",
                "models": {t: public_model(s.model_info) for t, s in state.sessions.items()},
            }
        status = "draining" if state.draining else "failed" if state.load_error else "loading"
        return JSONResponse({"status": status}, status_code=503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics():
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    class AsciiJSONResponse(JSONResponse):
        """JSON with non-ASCII escaped: a file name that is not valid UTF-8 survives as \\udcXX escapes."""

        def render(self, content) -> bytes:
            import json

            return json.dumps(content, ensure_ascii=True, allow_nan=False).encode("ascii")

    @app.post("/v1/settings", summary="Validate options; return the resolved config")
    async def settings(request: Request):
        return await _timed(state, "settings", lambda: _settings(state, request), AsciiJSONResponse)

    @app.post("/v1/score", summary="Score one video (upload or allowed path): a vqa2.score/1 record")
    async def score(request: Request):
        return await _timed(state, "score", lambda: _work(state, request, "score"), AsciiJSONResponse)

    __import__("vqa2cli.serve.routes_compare", fromlist=["add_routes"]).add_routes(app, state)  # vqa2 compare

    @app.post("/v1/ask", summary="Ask questions about one video: a list of vqa2.answer/1 records")
    async def ask(request: Request):
        return await _timed(state, "ask", lambda: _work(state, request, "ask"), AsciiJSONResponse)

    return app


async def _timed(state: ServerState, endpoint: str, handler, JSONResponse):
    """Run a /v1 handler (→ ``(status, body)``); count and time the request, refusals included."""
    start, status = time.perf_counter(), 500
    try:
        status, body = await handler()
        return JSONResponse(body, status_code=status)
    except ApiError as exc:
        status = exc.status
        raise
    finally:
        state.metrics.observe(endpoint, status, time.perf_counter() - start)


def _authorize(state: ServerState, request) -> None:
    try:
        check_bearer(request.headers.get("authorization"), state.config.token)
    except Refused as exc:
        raise ApiError(exc.status, exc.code, exc.message) from exc


async def _settings(state: ServerState, request):
    _authorize(state, request)
    body = await json_body(request, state.config.body_timeout_s)
    task = body.get("task", "score")
    resolver = _resolver(state, task)
    take_explain(state, body, task)  # checked (and 404 without an assistant), not part of the scorer's config
    try:
        resolved = resolver.resolve(body.get("options"))
    except UsageError as exc:
        raise ApiError(422, "usage", exc.one_line(), 2) from exc
    return 200, {"task": task, "config": resolved.settings.to_dict()}


def _resolver(state: ServerState, task: Any):
    if task not in ("score", "ask"):
        raise ApiError(422, "usage", f"unknown task '{task}'", 2)
    if task not in state.resolvers:
        raise ApiError(
            404, "no_assistant", "this server has no assistant (start it with --assistant MODEL)", 2
        )
    return state.resolvers[task]


def submit(state: ServerState, job):
    """``job`` into the work queue → its future; a full queue is 503 ``queue_full``, a queue closed by SIGTERM
    503 ``shutting_down`` (both with Retry-After). Every route that runs the model submits through here."""
    try:
        return state.queue.submit(job)
    except QueueFull as exc:
        raise ApiError(
            503, "queue_full", f"server busy: {exc}", retry_after=state.config.retry_after_s
        ) from exc
    except QueueClosed as exc:
        raise ApiError(503, "shutting_down", str(exc), retry_after=state.config.retry_after_s) from exc


async def _work(state: ServerState, request, task: str):
    _authorize(state, request)
    state.accepting()
    resolver = _resolver(state, task)
    source = await read_input(
        request,
        task,
        roots=state.config.roots,
        max_upload_bytes=state.config.max_upload_bytes,
        body_timeout_s=state.config.body_timeout_s,
    )
    try:
        explain = take_explain(state, source.body, task)  # serve/explain.py: options.explain
        try:
            resolved = resolver.resolve(source.body.get("options"))
            questions = request_questions(source.body) if task == "ask" else None
            gates = request_gates(source.body, resolved.settings) if task == "score" else None  # calibration
        except UsageError as exc:
            raise ApiError(422, "usage", exc.one_line(), 2) from exc
        job = make_job(state, task, source, resolved, questions, explain)
        future = submit(state, job)
    except BaseException:
        remove(source.cleanup)
        raise
    future.add_done_callback(lambda _f: remove(source.cleanup))
    result = await asyncio.wrap_future(future)
    if gates is not None:
        gates.apply(result)
    return _answer(state, task, result)


def _answer(state: ServerState, task: str, result):
    if task == "ask":
        if isinstance(result, list):
            return 200, [r.to_dict() for r in result]
        exit_code = 4 if result.error_code in MODEL_ERROR_CODES else 3
        raise ApiError(
            500 if exit_code == 4 else INPUT_STATUS,
            result.error_code or "input_error",
            result.error or "failed",
            exit_code,
        )
    state.metrics.note_peak_gpu(result.peak_gpu_mem_gb)
    if result.status == "ok":
        return 200, result.to_dict()
    return (500 if result.error_code in MODEL_ERROR_CODES else INPUT_STATUS), result.to_dict()
