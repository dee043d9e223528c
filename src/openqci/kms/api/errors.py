"""The KME's error answers: every refusal as the Error object of GS QKD 014 (Table 13), logged as one event.

Shared by the app's exception handlers (:mod:`openqci.kms.api.app`) and the fast path
(:mod:`openqci.kms.api.fast_path`), so a refused request reads the same whichever answered it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openqci.kms.errors import KeyShortageError, KmsError
from openqci.ops.events import Event, log_event
from openqci.ops.request_metrics import ERROR_SCOPE_KEY

__all__ = ["error_response", "http_error", "kms_error", "unexpected_error", "validation_error"]

_log = logging.getLogger(__name__)


def error_response(status: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = jsonable_encoder(details)
    return JSONResponse(body, status_code=status)


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


async def kms_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, KmsError)
    _refused(request, error, error.status_code, error.message)
    return error_response(error.status_code, error.message, error.details)


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    details = [{".".join(str(p) for p in e["loc"]): str(e["msg"])} for e in error.errors()]
    first = next(iter(details[0].items())) if details else ("request", "malformed")
    _refused(request, error, 400, f"bad request: {first[0]}: {first[1]}")
    return error_response(400, f"bad request: {first[0]}: {first[1]}", details)


async def http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404 and request.url.path.startswith("/api/v1/keys/"):
        return error_response(
            400, "the path must name an SAE ID: /api/v1/keys/{SAE_ID}/(status|enc_keys|dec_keys)"
        )
    return error_response(error.status_code, str(error.detail))


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    _log.exception("unexpected failure serving %s", request.url.path)
    return error_response(503, "internal error of the KME")
