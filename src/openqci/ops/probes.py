"""``/metrics`` and ``/health`` for any process's FastAPI app: Prometheus text and liveness/readiness.

``/health/live`` answers 200 while the process serves at all; ``/health/ready`` (and ``/health``) answers
200 once the process does its job (a KME with its store open and its manager started, a controller with
reports from its network) and 503 with the reason otherwise, so an orchestrator restarts a dead process and
holds traffic from one that is not ready. The scrape runs in a worker thread: collectors may read a key
store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["Readiness", "probes_router"]

Readiness = Callable[[], str | None]
"""Returns None when the process is ready, else why it is not."""


def probes_router(
    registry: CollectorRegistry,
    readiness: Readiness,
    *,
    name: str,
    guard: Callable[[Request], None] | None = None,
) -> APIRouter:
    """A router serving ``registry`` at ``/metrics`` and the process ``name``'s health at ``/health``.

    ``guard`` (a FastAPI dependency that raises to refuse) protects ``/metrics``; health stays open.
    """
    router = APIRouter(tags=["operations"])
    guards = [Depends(guard)] if guard is not None else []

    @router.get("/metrics", include_in_schema=False, dependencies=guards)
    async def metrics() -> Response:
        body = await asyncio.to_thread(generate_latest, registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    @router.get("/health/live", include_in_schema=False)
    async def live() -> JSONResponse:
        return JSONResponse({"status": "live", "process": name})

    @router.get("/health/ready", include_in_schema=False)
    @router.get("/health", include_in_schema=False)
    async def ready() -> JSONResponse:
        why = readiness()
        if why is None:
            return JSONResponse({"status": "ready", "process": name})
        return JSONResponse({"status": "not ready", "process": name, "reason": why}, status_code=503)

    return router
