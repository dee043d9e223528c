"""The dashboard as an app of its own, for a source that is not a running controller (a twin replay).

It serves the same page, assets, snapshot and live stream as the controller (:func:`dashboard_router`,
behind the same token), plus ``/health``; ``/`` leads to the page. Connections are bounded as the
controller's are (:func:`openqci.network.controller_server.uvicorn_config`).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from prometheus_client import CollectorRegistry

from openqci.ops.dashboard.router import dashboard_router
from openqci.ops.dashboard.snapshot import Snapshots
from openqci.ops.probes import probes_router

__all__ = ["standalone_app"]


def standalone_app(source: Snapshots, token: str, *, name: str) -> FastAPI:
    """An app serving the dashboard of ``source`` to holders of ``token``; ``name`` names the process."""
    app = FastAPI(title=f"OpenQCI dashboard: {name}", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(dashboard_router(source, token))
    app.include_router(probes_router(CollectorRegistry(), lambda: None, name=name))

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/", status_code=307)

    return app
