"""Assembles the KME application: the ETSI 014 and KME-to-KME routers and the one error handler.

Every error answer carries the standard's Error object (GS QKD 014 Table 13), 401 included, because
clients such as ``etsi-qkd-014-client`` read a JSON body from every non-200 reply. Framework errors are
mapped too: a malformed request is 400, a path without an SAE ID is 400 (the Merqury suite's blank-ID case),
and an unexpected failure is 503, the only server-side code the standard defines.

The interactive documentation (``/docs``, ``/redoc``) and the OpenAPI document are not served unless the
configuration asks for them (``serving.api_docs``): every SAE and peer KME certificate of the site could
otherwise read the KME's whole interface, the KME-to-KME endpoints included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from openqci.kms.api import device, etsi014, kx, relay
from openqci.kms.api.errors import http_error, kms_error, unexpected_error, validation_error
from openqci.kms.api.fast_path import EtsiFastPath, get_routes
from openqci.kms.device_etsi014 import Etsi014Link
from openqci.kms.errors import KmsError
from openqci.kms.identity import Directory
from openqci.kms.manager import KeyManager
from openqci.ops.metrics_kme import KmeMetrics
from openqci.ops.probes import probes_router
from openqci.ops.request_metrics import RequestMetrics

__all__ = ["create_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    manager: KeyManager,
    directory: Directory,
    *,
    lifespan: Lifespan | None = None,
    device_links: Mapping[str, Etsi014Link] | None = None,
    api_docs: bool = False,
    metrics: KmeMetrics | None = None,
    fast_path: bool = True,
) -> FastAPI:
    """Return the ASGI app of one KME serving its SAEs through ``manager``.

    ``device_links`` (by link ID) are the links whose key this KME takes from a QKD device; their peers
    offer device keys through the app. ``api_docs`` serves ``/docs``, ``/redoc`` and ``/openapi.json``;
    ``metrics`` counts every request and is served at ``/metrics``
    beside ``/health`` (over the same mutual TLS: any certificate of the network's CA may scrape);
    the app is ready once its lifespan has started the manager (``app.state.serving``). ``fast_path``
    answers the GET forms of enc_keys and dec_keys without the router (:mod:`openqci.kms.api.fast_path`);
    off, every request takes the routes (the tests compare the two).
    """
    app = FastAPI(
        title=f"OpenQCI KME {manager.kme_id}",
        summary="ETSI GS QKD 014 V1.1.1 key delivery",
        version="1.1.1",
        lifespan=lifespan,
        docs_url="/docs" if api_docs else None,
        redoc_url="/redoc" if api_docs else None,
        openapi_url="/openapi.json" if api_docs else None,
    )
    app.state.manager = manager
    app.state.directory = directory
    app.state.device_links = dict(device_links or {})
    app.state.serving = False
    metrics = metrics or KmeMetrics(manager.kme_id)
    app.include_router(probes_router(metrics.registry, lambda: _readiness(app), name=manager.kme_id))
    app.include_router(etsi014.router)
    app.include_router(kx.router)
    app.include_router(relay.router)
    app.include_router(device.router)
    if fast_path:
        app.add_middleware(EtsiFastPath, routes=get_routes(etsi014.router, etsi014.FAST_PATHS))
    app.add_middleware(RequestMetrics, metrics=metrics)  # added last: outermost, it counts the fast path too
    app.add_exception_handler(KmsError, kms_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
    return app


def _readiness(app: FastAPI) -> str | None:
    return None if app.state.serving else "the key manager is not started (or is stopping)"
