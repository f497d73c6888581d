"""`vqa2 serve`'s start banner lists every route the app serves (read from the app, never a second list):
checked against the app's own OpenAPI document, and on the line ``run_server`` really prints."""

from __future__ import annotations

import io
import re
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from vqa2cli.output.console import Console  # noqa: E402
from vqa2cli.serve.app import ServeConfig, ServerState, create_app  # noqa: E402
from vqa2cli.serve.banner import routes_banner, served_routes  # noqa: E402


def openapi_routes(app) -> set[str]:
    return {f"{method.upper()} {path}" for path, item in app.openapi()["paths"].items() for method in item}


def test_served_routes_are_the_apps(tiny_model_dir):
    app = create_app(ServerState(ServeConfig(model=str(tiny_model_dir))))
    routes = served_routes(app)
    assert set(routes) == openapi_routes(app) and len(routes) == len(set(routes))
    assert {"POST /v1/score", "POST /v1/ask", "POST /v1/settings", "GET /healthz"} <= set(routes)

    @app.get("/v1/extra")  # a route added later shows up without touching the banner
    async def extra():
        return {}

    assert "GET /v1/extra" in routes_banner(app)


def test_start_banner_names_every_route(tiny_model_dir, monkeypatch):
    import uvicorn

    from vqa2cli.serve import run

    stream = io.StringIO()

    def fake_run(self, sockets=None):  # the real bind and load thread; no serving loop
        deadline = time.monotonic() + 30
        while "ready:" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        for sock in sockets or ():
            sock.close()

    monkeypatch.setattr(ServerState, "load", lambda self: setattr(self, "ready", True))
    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    assert run.run_server(ServeConfig(model=str(tiny_model_dir)), "127.0.0.1", 0, Console(stream=stream)) == 0
    line = next(ln for ln in stream.getvalue().splitlines() if ln.startswith("ready:"))
    app = create_app(ServerState(ServeConfig(model=str(tiny_model_dir))))
    listed = set(re.findall(r"(GET|POST|PUT|DELETE|PATCH) (/\S+?)(?=[,;)])", line))
    assert {f"{m} {p}" for m, p in listed} == openapi_routes(app)
    assert "docs at /docs" in line
