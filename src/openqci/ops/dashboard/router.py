"""Serves the dashboard: the page, its assets, a snapshot, and the live stream of snapshots (SSE).

Every asset (page, script, style sheet, the country outlines of the map) ships in the package and is
served from here: the dashboard works with no internet access. The page and its data need the
controller's token, like the rest of the controller API: the address ``openqci network up`` prints carries
it once (``/dashboard/?token=...``), the page swaps it for an HttpOnly, same-site cookie and drops it from
the address bar. The stream sends one snapshot every ``interval_s`` to at most ``max_streams`` pages at
once (beyond that, 503), and ends after ``stream_max_s``; the browser's EventSource reconnects by itself.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse

from openqci.ops.dashboard.snapshot import Snapshots

__all__ = ["COOKIE", "dashboard_router"]

COOKIE = "openqci_dashboard"
_STATIC = Path(__file__).parent / "static"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
}
_DENIED = (
    "<!doctype html><title>OpenQCI dashboard</title><body style='background:#0b0f14;color:#d8dee9;"
    "font-family:sans-serif;padding:3em'><h1>Not signed in</h1><p>Open the dashboard address that "
    "<code>openqci network up</code> printed (it carries the controller token once).</p></body>"
)


def dashboard_router(
    source: Snapshots,
    token: str,
    *,
    interval_s: float = 0.5,
    max_streams: int = 16,
    stream_max_s: float = 600.0,
) -> APIRouter:
    """The dashboard's routes under ``/dashboard``, over ``source``, for holders of ``token``."""
    router = APIRouter(prefix="/dashboard", include_in_schema=False)
    assets = {p.name: p.read_bytes() for p in _STATIC.iterdir() if p.suffix in _TYPES}
    streams = [0]

    def signed_in(request: Request) -> bool:
        given = request.cookies.get(COOKIE, "")
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            given = bearer
        return hmac.compare_digest(given.encode(), token.encode())

    @router.get("")
    async def bare() -> RedirectResponse:
        return RedirectResponse("/dashboard/", status_code=307)

    @router.get("/")
    async def page(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), token.encode()):
                return HTMLResponse(_DENIED, status_code=401)
            answer = RedirectResponse("/dashboard/", status_code=303)
            answer.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/dashboard")
            return answer
        if not signed_in(request):
            return HTMLResponse(_DENIED, status_code=401)
        return Response(assets["index.html"], media_type=_TYPES[".html"], headers=_NO_STORE)

    @router.get("/static/{name}")
    async def asset(name: str) -> Response:
        body = assets.get(name)
        if body is None or name == "index.html":
            return JSONResponse({"message": f"no asset {name!r}"}, status_code=404)
        return Response(body, media_type=_TYPES[Path(name).suffix], headers={"cache-control": "max-age=300"})

    @router.get("/api/snapshot")
    async def snapshot(request: Request) -> Response:
        if not signed_in(request):
            return JSONResponse({"message": "not signed in to the dashboard"}, status_code=401)
        document = await asyncio.to_thread(source.snapshot, with_history=True)
        return Response(json.dumps(document), media_type="application/json", headers=_NO_STORE)

    @router.get("/api/events")
    async def events(request: Request) -> Response:
        if not signed_in(request):
            return JSONResponse({"message": "not signed in to the dashboard"}, status_code=401)
        if streams[0] >= max_streams:
            return JSONResponse({"message": f"at most {max_streams} live pages at once"}, status_code=503)
        return StreamingResponse(
            _stream(request, source, streams, interval_s, stream_max_s),
            media_type="text/event-stream",
            headers={**_NO_STORE, "x-accel-buffering": "no"},
        )

    return router


_NO_STORE = {"cache-control": "no-store"}


async def _stream(
    request: Request, source: Snapshots, streams: list[int], interval_s: float, max_s: float
) -> AsyncIterator[str]:
    streams[0] += 1
    try:
        yield f"retry: {int(interval_s * 2000)}\n\n"
        ends = time.monotonic() + max_s
        while time.monotonic() < ends and not await request.is_disconnected():
            document = await asyncio.to_thread(source.snapshot)
            yield f"event: snapshot\ndata: {json.dumps(document)}\n\n"
            await asyncio.sleep(interval_s)
    finally:
        streams[0] -= 1
