"""The controller's REST API: the state of every node and link, alarms, routes, and the report intake.

``create_controller_app`` only assembles: the routers, the bearer-token check that every endpoint
declares, and one error handler that turns network errors into a JSON body with a message. Every
endpoint needs the token the launcher generated into the state directory (mode 0600): link simulators use it
to post reports, and operators and the KMEs' key relay use it to read. The app is served on 127.0.0.1
only.

Endpoints (all under ``/api/v1``):

- ``GET /state``: nodes, links and alarms in one document; ``GET /nodes``, ``GET /links``, ``GET /alarms``.
- ``GET /routes?from=KME&to=KME&key_bits=N[&avoid=LINK...]``: the route
  :func:`openqci.network.routing.choose_route` picks over the live link states (avoided links as
  down); 503 with the reason when no usable path exists, 400 for an unknown KME or link.
- ``POST /reports``: a site process's node and link-end reports (:class:`ReportIn`).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from openqci.network.controller import Controller
from openqci.network.controller_models import (
    AlarmOut,
    AlarmsOut,
    ErrorOut,
    LinkOut,
    NodeOut,
    ReportIn,
    RouteOut,
    StateOut,
)
from openqci.network.errors import NetworkError, NoRouteError, UnknownKmeError, UnknownLinkError

__all__ = ["authorised", "create_controller_app", "reports_router", "state_router"]

_Handler = Callable[[Request, Exception], Awaitable[Response]]


class _UnauthorizedError(NetworkError):
    """A request without the controller's bearer token."""


def _controller(request: Request) -> Controller:
    controller: Controller = request.app.state.controller
    return controller


def authorised(request: Request) -> None:
    """Refuse any request that does not carry ``Authorization: Bearer <token>``."""
    expected: str = request.app.state.token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise _UnauthorizedError(
            "missing or wrong bearer token; it is in the state directory's controller.token"
        )


ControllerDep = Annotated[Controller, Depends(_controller)]

state_router = APIRouter(prefix="/api/v1", dependencies=[Depends(authorised)], tags=["state"])
reports_router = APIRouter(prefix="/api/v1", dependencies=[Depends(authorised)], tags=["reports"])


@state_router.get("/nodes")
def get_nodes(controller: ControllerDep) -> list[NodeOut]:
    """Every KME site and its status."""
    return [NodeOut.from_view(view) for view in controller.nodes()]


@state_router.get("/links")
def get_links(controller: ControllerDep) -> list[LinkOut]:
    """Every fibre link: status, key rates, QBER, available key and alarms."""
    return [LinkOut.from_view(view) for view in controller.links()]


@state_router.get("/alarms")
def get_alarms(controller: ControllerDep) -> AlarmsOut:
    """Active alarms and the most recently cleared ones."""
    active, cleared = controller.alarms()
    return AlarmsOut(
        active=[AlarmOut.from_alarm(a) for a in active], cleared=[AlarmOut.from_alarm(a) for a in cleared]
    )


@state_router.get("/state")
def get_state(controller: ControllerDep) -> StateOut:
    """Nodes, links and alarms in one document."""
    return StateOut(
        network=controller.scenario.name,
        read_at=datetime.now(UTC).isoformat(),
        nodes=get_nodes(controller),
        links=get_links(controller),
        alarms=get_alarms(controller),
    )


@state_router.get("/routes")
def get_route(
    controller: ControllerDep,
    source: Annotated[str, Query(alias="from", min_length=1)],
    destination: Annotated[str, Query(alias="to", min_length=1)],
    key_bits: Annotated[int, Query(gt=0)] = 256,
    avoid: Annotated[list[str] | None, Query()] = None,
) -> RouteOut:
    """The route a relay of ``key_bits`` would take now from one KME to another, avoiding ``avoid``."""
    return RouteOut.from_route(controller.route(source, destination, key_bits, avoid=avoid or []), key_bits)


@reports_router.post("/reports", status_code=204)
def post_reports(controller: ControllerDep, report: ReportIn) -> Response:
    """Take the node and link-end reports of one site process."""
    for node in report.nodes:
        controller.report_node(node.to_report())
    for end in report.links:
        controller.report_link_end(end.to_report())
    return Response(status_code=204)


def create_controller_app(controller: Controller, token: str) -> FastAPI:
    """The controller's ASGI app over ``controller``, accepting only requests that carry ``token``."""
    if len(token) < 16:
        raise ValueError("the controller token must be at least 16 characters")
    app = FastAPI(title="OpenQCI network controller", version="1")
    app.state.controller = controller
    app.state.token = token
    app.state.started_s = time.time()
    app.include_router(state_router)
    app.include_router(reports_router)
    for error, status in _STATUS.items():
        app.add_exception_handler(error, _handler(status))
    return app


_STATUS: dict[type[Exception], int] = {
    _UnauthorizedError: 401,
    NoRouteError: 503,
    UnknownKmeError: 400,
    UnknownLinkError: 400,
    RequestValidationError: 400,
}


def _handler(status: int) -> _Handler:
    async def handle(_request: Request, error: Exception) -> Response:
        if isinstance(error, RequestValidationError):
            first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
            where = ".".join(str(p) for p in first["loc"])
            body = ErrorOut(message=f"bad request: {where}: {first['msg']}")
        else:
            body = ErrorOut(message=str(error))
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body.model_dump(), status_code=status, headers=headers)

    return handle
