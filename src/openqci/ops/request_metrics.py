"""An ASGI middleware that counts every request a KME answers, by endpoint and status, and times it.

The endpoint label is the route's path template (``/api/v1/keys/{slave_SAE_ID}/enc_keys``), never the
raw path, so the number of series stays bounded whatever clients send; a request that matches no route
counts as ``unmatched``. An error handler may name the refusal's error class in the scope
(:data:`ERROR_SCOPE_KEY`), which goes into ``openqci_etsi014_errors_total``.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openqci.ops.metrics_kme import KmeMetrics

__all__ = ["ERROR_SCOPE_KEY", "RequestMetrics"]

ERROR_SCOPE_KEY = "openqci.error"
"""Scope key under which an error handler leaves the class name of the error it answered."""

_SKIPPED = frozenset({"/metrics", "/health", "/health/live", "/health/ready"})


class RequestMetrics:
    """Wraps ``app``; every HTTP request it answers updates ``metrics``."""

    def __init__(self, app: ASGIApp, metrics: KmeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _SKIPPED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_and_see(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            error = scope.get(ERROR_SCOPE_KEY)
            if error is None and status[0] >= 400:
                error = "HTTPError"
            self.metrics.observe_request(_endpoint(scope), status[0], time.perf_counter() - started, error)


def _endpoint(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return f"{scope['method']} {path}" if isinstance(path, str) else "unmatched"
