"""The dashboard's routes in-process: sign-in by the token, assets, snapshots and the stream's cap."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI

from openqci.network.alarms import AlarmRules
from openqci.network.controller import Controller
from openqci.ops.dashboard.history import History
from openqci.ops.dashboard.router import COOKIE, dashboard_router
from openqci.ops.dashboard.snapshot import SnapshotSource
from openqci.scenario import load_scenario
from tests.network.test_controller import ROOT, TOKEN, FakeClock, end


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mesh(clock: FakeClock) -> Controller:
    """The mesh with every link reported healthy by both ends."""
    controller = Controller(load_scenario(ROOT / "scenarios" / "mesh.yaml"), rules=AlarmRules(), clock=clock)
    for link in controller.scenario.links:
        for kme in (link.site_a, link.site_b):
            controller.report_link_end(end(link.name, kme))
    return controller


def client(controller: Controller, now: FakeClock, *, max_streams: int = 16) -> httpx.AsyncClient:
    app = FastAPI()
    source = SnapshotSource(controller, None, clock=now, history=History(samples=3, every_s=1.0))
    app.include_router(dashboard_router(source, TOKEN, max_streams=max_streams))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://controller")


@pytest.mark.anyio
async def test_the_token_signs_in_once_and_nothing_is_served_without_it(
    mesh: Controller, clock: FakeClock
) -> None:
    async with client(mesh, clock) as browser:
        assert (await browser.get("/dashboard/")).status_code == 401
        assert (await browser.get("/dashboard/api/snapshot")).status_code == 401
        assert (await browser.get("/dashboard/?token=wrong")).status_code == 401
        signed = await browser.get(f"/dashboard/?token={TOKEN}")
        assert signed.status_code == 303
        assert signed.headers["location"] == "/dashboard/"
        assert "httponly" in signed.headers["set-cookie"].lower()
        browser.cookies.set(COOKIE, TOKEN)
        page = await browser.get("/dashboard/")
        assert page.status_code == 200
        assert "/dashboard/static/dashboard.js" in page.text
        for asset in ("dashboard.js", "dashboard.css", "europe.json"):
            assert (await browser.get(f"/dashboard/static/{asset}")).status_code == 200
        outlines = (await browser.get("/dashboard/static/europe.json")).json()
        assert "Natural Earth" in outlines["source"]
        assert {"FRA", "DEU", "ITA", "ESP"} <= {c["iso"] for c in outlines["countries"]}
        assert (await browser.get("/dashboard/static/passwd")).status_code == 404


@pytest.mark.anyio
async def test_a_snapshot_carries_every_node_link_alarm_and_bounded_history(
    mesh: Controller, clock: FakeClock
) -> None:
    mesh.report_link_end(end("n1-n2", "n1", qber=0.12))
    async with client(mesh, clock) as browser:
        browser.cookies.set(COOKIE, TOKEN)
        for _ in range(5):
            clock.now_s += 1.0
            document = (await browser.get("/dashboard/api/snapshot")).json()
    assert [n["id"] for n in document["nodes"]] == [s.name for s in mesh.scenario.kme_sites]
    assert [link["id"] for link in document["links"]] == [link.name for link in mesh.scenario.links]
    alarmed = next(link for link in document["links"] if link["id"] == "n1-n2")
    assert alarmed["alarms"] == ["qber-high"]
    assert [(a["kind"], a["link"]) for a in document["alarms"]["active"]] == [("qber-high", "n1-n2")]
    assert len(document["history"]["link:n1-n2"]) == 3  # the ring keeps its last samples only
    alice = next(n for n in document["nodes"] if n["id"] == "alice")
    assert alice["key_bits"] == 2 * 100_000  # alice's ends of alice-n1 and alice-s1
    json.dumps(document)


@pytest.mark.anyio
async def test_the_live_stream_is_capped(mesh: Controller, clock: FakeClock) -> None:
    async with client(mesh, clock, max_streams=0) as browser:
        browser.cookies.set(COOKIE, TOKEN)
        refused = await browser.get("/dashboard/api/events")
    assert refused.status_code == 503
    assert "at most 0 live pages" in refused.json()["message"]
