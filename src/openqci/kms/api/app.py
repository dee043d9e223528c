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

import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openqci.kms.api import device, etsi014, kx, relay
from openqci.kms.device_etsi014 import Etsi014Link
from openqci.kms.errors import KeyShortageError, KmsError
from openqci.kms.identity import Directory
from openqci.kms.manager import KeyManager
from openqci.ops.events import Event, log_event
from openqci.ops.metrics_kme import KmeMetrics
from openqci.ops.probes import probes_router
from openqci.ops.request_metrics import ERROR_SCOPE_KEY, RequestMetrics

__all__ = ["create_app"]

_log = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def create_app(
    manager: KeyManager,
    directory: Directory,
    *,
    lifespan: Lifespan | None = None,
    device_links: Mapping[str, Etsi014Link] | None = None,
    api_docs: bool = False,
    metrics: KmeMetrics | None = None,
) -> FastAPI:
    """Return the ASGI app of one KME serving its SAEs through ``manager``.

    ``device_links`` (by link ID) are the links whose key this KME takes from a QKD device; their peers
    offer device keys through the app. ``api_docs`` serves ``/docs``, ``/redoc`` and ``/openapi.json``;
    ``metrics`` counts every request and is served at ``/metrics``
    beside ``/health`` (over the same mutual TLS: any certificate of the network's CA may scrape);
    the app is ready once its lifespan has started the manager (``app.state.serving``).
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
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.include_router(etsi014.router)
    app.include_router(kx.router)
    app.include_router(relay.router)
    app.include_router(device.router)
    app.add_exception_handler(KmsError, _kms_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
    return app


def _error(status: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = jsonable_encoder(details)
    return JSONResponse(body, status_code=status)


def _readiness(app: FastAPI) -> str | None:
    return None if app.state.serving else "the key manager is not started (or is stopping)"


def _refused(request: Request, error: Exception, status: int, reason: str) -> None:
    """Log a refused request as one event (and a key shortage as key exhausted); name it for the metrics."""
    request.scope[ERROR_SCOPE_KEY] = type(error).__name__
    kme: str = request.app.state.manager.kme_id
    event = Event.KEY_EXHAUSTED if isinstance(error, KeyShortageError) else Event.REQUEST_REFUSED
    log_event(
        _log,
        event,
        f"{request.method} {request.url.path} refused with {status}: {reason}",
        level=logging.WARNING,
        kme=kme,
        status=status,
        path=request.url.path,
        reason=reason,
        error=type(error).__name__,
    )


async def _kms_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, KmsError)
    _refused(request, error, error.status_code, error.message)
    return _error(error.status_code, error.message, error.details)


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [{".".join(str(p) for p in e["loc"]): str(e["msg"])} for e in error.errors()]
    first = next(iter(details[0].items())) if details else ("request", "malformed")
    _refused(request, error, 400, f"bad request: {first[0]}: {first[1]}")
    return _error(400, f"bad request: {first[0]}: {first[1]}", details)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404 and request.url.path.startswith("/api/v1/keys/"):
        return _error(400, "the path must name an SAE ID: /api/v1/keys/{SAE_ID}/(status|enc_keys|dec_keys)")
    return _error(error.status_code, str(error.detail))


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    _log.exception("unexpected failure serving %s", request.url.path)
    return _error(503, "internal error of the KME")
