"""Run the app under uvicorn: bind, load the weights in the background, drain on SIGTERM, exit code.

Time limits (serve/limits.py): the request line and headers must arrive within ``--header-timeout`` (an h11
protocol with a header deadline), a body may pause at most ``--body-timeout`` between chunks (408), and
SIGTERM/SIGINT gives the requests in flight ``--shutdown-grace`` seconds: they are answered if they finish by
then (uvicorn's ``timeout_graceful_shutdown``), the rest are cut (their connections closed, queued work
dropped) and the process exits 0 within the grace period plus a moment.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time

from ..errors import ModelRuntimeError, Vqa2Error


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6; port 0 = any free port). UsageError if taken."""
    from ..errors import UsageError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[
            0
        ]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            "choose another --port, or stop the process using it",
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def run_server(cfg, host: str, port: int, console, *, access_log: bool = False) -> int:
    """Serve until SIGTERM/SIGINT; 0 after a clean drain. Raises the Vqa2Error of a failed model load."""
    import uvicorn

    from .app import ServerState, create_app
    from .banner import routes_banner

    state = ServerState(cfg)
    for resolver in state.resolvers.values():
        resolver.base()  # an unknown model or a bad option fails now, exit 2, before anything binds
    sock = bind(host, port)
    actual = sock.getsockname()[1]

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:  # SIGTERM / SIGINT: refuse new work at once
            if not state.draining:
                console.info(
                    f"shutting down: finishing the requests in flight (up to {cfg.grace_s:g} s), "
                    "refusing new ones"
                )
                state.stop_by = time.monotonic() + cfg.grace_s
            state.draining = True
            state.metrics.ready.set(0)
            super().handle_exit(sig, frame)

        @contextlib.contextmanager
        def capture_signals(self):
            """Like uvicorn's, without re-raising the signal after the drain: a drained server exits 0."""
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    app = create_app(state)
    from .limits import header_deadline_protocol

    config = uvicorn.Config(
        _cut_politely(app, state),
        lifespan="off",
        log_level="info" if access_log else "warning",
        access_log=access_log,
        http=header_deadline_protocol(cfg.header_timeout_s),
        timeout_graceful_shutdown=cfg.grace_s,
    )
    server = Server(config)

    def load() -> None:
        names = ", ".join(filter(None, (cfg.model or "the default scorer", cfg.assistant)))
        console.info(f"Loading {names} ...")
        try:
            state.load()
        except BaseException as exc:  # noqa: BLE001 - reported after uvicorn stops
            state.load_error = exc
            server.should_exit = True
            return
        console.info(f"ready: http://{_show(host)}:{actual} ({routes_banner(app)})")

    console.info(f"listening on http://{_show(host)}:{actual}")
    threading.Thread(target=load, name="vqa2-load", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        if state.queue is not None and not state.queue.close(timeout=_left(state)):
            _cut(console, state)
        if state.decode_pool is not None:
            state.decode_pool.close()
    if isinstance(state.load_error, Vqa2Error):
        raise state.load_error  # exit 4 (or 2) with its one line
    if state.load_error is not None:
        raise ModelRuntimeError(
            f"the model failed to load: {type(state.load_error).__name__}: {state.load_error}"
        )
    console.info("stopped")
    return 0


def _cut_politely(app, state):
    """The ASGI app, where a request cut by the end of the shutdown grace period (its task cancelled by
    uvicorn) gets a 503 ``shutting_down`` error body when nothing was sent yet, instead of a traceback."""
    import asyncio

    from .requests import ApiError, _send_error

    async def wrapped(scope, receive, send):
        started = False

        async def tracking_send(message):
            nonlocal started
            started = started or message.get("type") == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, tracking_send)
        except asyncio.CancelledError:
            if not state.draining or scope["type"] != "http":
                raise
            if not started:
                with contextlib.suppress(Exception):
                    await _send_error(
                        send,
                        ApiError(
                            503,
                            "shutting_down",
                            "cut: the server's shutdown grace "
                            "period (--shutdown-grace) ended before this request did",
                        ),
                    )

    return wrapped


def _left(state) -> float:
    """Seconds left of the shutdown grace period (0 when it is over)."""
    stop_by = getattr(state, "stop_by", None)
    return 0.0 if stop_by is None else max(0.0, stop_by - time.monotonic())


def _cut(console, state) -> None:
    """The grace period is over and work is still under way (a decode or a model call that cannot be
    interrupted): say so and exit 0 now, without waiting for the worker threads."""
    console.warning(f"shutdown grace period over: {state.queue.depth} request(s) cut")
    console.info("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _show(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
