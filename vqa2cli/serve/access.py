"""What ``vqa2 serve`` shows without the token, and to whom.

* With ``--token-file`` the API description (``/docs``, ``/redoc``, ``/openapi.json``) needs the bearer token,
  like ``/v1/*``: it lists every route and option, which is an outsider's map of the service. Without a token
  (loopback binds only) it stays open. ``/healthz``, ``/readyz`` and ``/metrics`` stay open for load balancers
  and Prometheus: they show state and counts, no inputs.
* ``/readyz`` names each loaded model by its id (card name, Hub repo and revision), never by the folder the
  weights were loaded from: a local folder's path on the server is replaced by its last component.
"""

from __future__ import annotations

import os
from typing import Any

from .security import Refused, check_bearer


class DocsGuard:
    """ASGI middleware: 401 with the error body on ``paths`` unless the bearer token matches."""

    def __init__(self, app, token: str, paths: set[str]):
        self.app, self.token, self.paths = app, token, paths

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") in self.paths:
            headers = dict(scope.get("headers") or [])
            try:
                check_bearer(headers.get(b"authorization", b"").decode("latin-1") or None, self.token)
            except Refused as exc:
                from ..errors import ApiError
                from .requests import _send_error

                return await _send_error(
                    send,
                    ApiError(exc.status, exc.code, exc.message, 2),
                    extra=[(b"www-authenticate", b"Bearer")],
                )
        return await self.app(scope, receive, send)


def protect_docs(app, token: str | None) -> None:
    """Put the API description of ``app`` behind ``token`` (nothing to do without one)."""
    if token is not None:
        app.add_middleware(
            DocsGuard, token=token, paths={u for u in (app.docs_url, app.redoc_url, app.openapi_url) if u}
        )


def public_model(info) -> dict[str, Any]:
    """``ModelInfo`` as ``/readyz`` shows it: the same keys, a local folder's path cut to its last component."""
    shown = info.to_dict()
    for key in ("name", "repo"):
        value = shown.get(key)
        if isinstance(value, str) and (
            os.path.isabs(value) or value.startswith(("~", ".")) or os.sep in value and os.path.exists(value)
        ):
            shown[key] = os.path.basename(value.rstrip("/" + os.sep)) or value
    return shown
