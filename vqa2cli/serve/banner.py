"""The routes part of ``vqa2 serve``'s start banner, read from the app itself so it never drifts from the
routes that exist."""

from __future__ import annotations


def served_routes(app) -> list[str]:
    """``"METHOD /path"`` of every route of ``app``'s API, in declaration order (read from the app, so the
    start banner never drifts from the routes)."""
    from fastapi.routing import APIRoute

    def walk(routes):  # FastAPI >= 0.16x keeps an included APIRouter as one wrapper route (original_router)
        for route in routes:
            inner = getattr(route, "original_router", None)
            yield from walk(inner.routes) if inner is not None else (route,)

    return [
        f"{method} {route.path}"
        for route in walk(app.routes)
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in sorted(route.methods - {"HEAD", "OPTIONS"})
    ]


def routes_banner(app) -> str:
    """The routes part of the start banner: every API route, then the documentation pages FastAPI adds."""
    docs = [url for url in (app.docs_url, app.redoc_url, app.openapi_url) if url]
    return ", ".join(served_routes(app)) + (f"; docs at {', '.join(docs)}" if docs else "")
