"""The controller: link status, alarms and routes as functions of the reports and the clock, and its API."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from openqci.network.alarms import AlarmKind, AlarmRules, alarm_conditions, update_alarms
from openqci.network.controller import Controller
from openqci.network.controller_api import create_controller_app
from openqci.network.errors import NoRouteError, UnknownLinkError
from openqci.network.topology import LinkEndReport, LinkStatus, NodeReport, QkdLink, link_status
from openqci.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t" * 32


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now_s = 1_000_000.0

    def __call__(self) -> float:
        return self.now_s


def end(
    link: str, kme: str, *, qber: float = 0.03, available: int = 100_000, up: bool = True
) -> LinkEndReport:
    return LinkEndReport(link, kme, 6e6, 65536.0, qber, available, 5, up)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mesh(clock: FakeClock) -> Controller:
    """The mesh scenario with every link reported healthy by both ends."""
    controller = Controller(load_scenario(ROOT / "scenarios" / "mesh.yaml"), rules=AlarmRules(), clock=clock)
    for link in controller.scenario.links:
        for kme in (link.site_a, link.site_b):
            controller.report_link_end(end(link.name, kme))
    return controller


def test_link_is_unknown_until_both_ends_report_and_down_when_an_end_goes_silent() -> None:
    link = QkdLink("ab", "a", "b", 10.0, "yuan2018", 1e6, {"a": end("ab", "a")}, {"a": 0.0})
    assert link_status(link, 1.0, 5.0) is LinkStatus.UNKNOWN
    both = QkdLink(
        "ab",
        "a",
        "b",
        10.0,
        "yuan2018",
        1e6,
        {"a": end("ab", "a"), "b": end("ab", "b")},
        {"a": 0.0, "b": 4.0},
    )
    assert link_status(both, 5.0, 5.0) is LinkStatus.UP
    assert link_status(both, 5.1, 5.0) is LinkStatus.DOWN


def test_alarms_are_raised_once_and_cleared_with_the_time_of_the_change() -> None:
    reports = {"a": end("ab", "a", qber=0.08), "b": end("ab", "b")}
    link = QkdLink("ab", "a", "b", 10.0, "yuan2018", 1e6, reports, {"a": 10.0, "b": 10.0})
    first = update_alarms({}, alarm_conditions([link], AlarmRules(), 10.0), 10.0)
    assert [(a.kind, a.raised_at_s) for a in first.raised] == [(AlarmKind.QBER_HIGH, 10.0)]
    again = update_alarms(first.active, alarm_conditions([link], AlarmRules(), 11.0), 11.0)
    assert again.raised == []
    assert again.active == first.active
    calm = QkdLink(
        "ab",
        "a",
        "b",
        10.0,
        "yuan2018",
        1e6,
        {"a": end("ab", "a"), "b": end("ab", "b")},
        {"a": 12.0, "b": 12.0},
    )
    cleared = update_alarms(again.active, alarm_conditions([calm], AlarmRules(), 12.0), 12.0)
    assert cleared.active == {}
    assert [(a.kind, a.raised_at_s, a.cleared_at_s) for a in cleared.cleared] == [
        (AlarmKind.QBER_HIGH, 10.0, 12.0)
    ]


def test_drained_and_down_links_raise_their_own_alarms() -> None:
    drained = {"a": end("ab", "a", available=1000), "b": end("ab", "b")}
    cut = {"a": end("cd", "c", up=False), "b": end("cd", "d")}
    links = [
        QkdLink("ab", "a", "b", 10.0, "yuan2018", 1e6, drained, {"a": 0.0, "b": 0.0}),
        QkdLink("cd", "c", "d", 10.0, "yuan2018", 1e6, {"c": cut["a"], "d": cut["b"]}, {"c": 0.0, "d": 0.0}),
    ]
    found = alarm_conditions(links, AlarmRules(key_floor_bits=4096), 1.0)
    assert set(found) == {(AlarmKind.KEY_DRAINED, "ab"), (AlarmKind.LINK_DOWN, "cd")}
    assert "reported down by c" in found[(AlarmKind.LINK_DOWN, "cd")]


def test_route_avoids_a_link_with_a_qber_alarm(mesh: Controller) -> None:
    assert mesh.route("alice", "bob", 256).hops == 3
    mesh.report_link_end(end("alice-n1", "n1", qber=0.1))
    mesh.report_link_end(end("alice-s1", "alice", qber=0.1))
    links = {view.link.qkdl_id: view for view in mesh.links()}
    assert [a.kind for a in links["alice-n1"].alarms] == [AlarmKind.QBER_HIGH]
    with pytest.raises(NoRouteError, match="alarmed alice-n1"):
        mesh.route("alice", "bob", 256)
    mesh.report_link_end(end("alice-s1", "alice"))
    assert mesh.route("alice", "bob", 256).links == ("alice-s1", "s1-s2", "s2-bob")


def test_silent_end_turns_its_link_down_and_routing_goes_around(mesh: Controller, clock: FakeClock) -> None:
    clock.now_s += 4.0
    for link in mesh.scenario.links:
        if link.name != "n2-bob":
            for kme in (link.site_a, link.site_b):
                mesh.report_link_end(end(link.name, kme))
    clock.now_s += 2.0
    active, _ = mesh.alarms()
    assert [(a.kind, a.link, a.raised_at_s) for a in active] == [(AlarmKind.LINK_DOWN, "n2-bob", clock.now_s)]
    assert "n2-bob" not in mesh.route("alice", "bob", 256).links


def test_reports_for_unknown_links_or_wrong_ends_are_refused(mesh: Controller) -> None:
    with pytest.raises(UnknownLinkError, match="unknown link"):
        mesh.report_link_end(end("nowhere", "alice"))
    with pytest.raises(UnknownLinkError, match="not an end"):
        mesh.report_link_end(end("alice-n1", "bob"))
    with pytest.raises(UnknownLinkError, match="unknown KME"):
        mesh.report_node(NodeReport("mallory", "https://127.0.0.1:1"))


# -- the REST API, in process ------------------------------------------------------------------------------


def api(controller: Controller, token: str = TOKEN) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_controller_app(controller, TOKEN))
    return httpx.AsyncClient(
        transport=transport, base_url="http://controller", headers={"authorization": f"Bearer {token}"}
    )


@pytest.mark.anyio
async def test_every_endpoint_needs_the_token(mesh: Controller) -> None:
    async with api(mesh, token="wrong" * 8) as client:
        for path in (
            "/api/v1/state",
            "/api/v1/nodes",
            "/api/v1/links",
            "/api/v1/alarms",
            "/api/v1/routes?from=alice&to=bob",
        ):
            response = await client.get(path)
            assert response.status_code == 401, path
            assert "bearer token" in response.json()["message"]
        assert (await client.post("/api/v1/reports", json={})).status_code == 401


@pytest.mark.anyio
async def test_reports_update_state_and_routes_follow(mesh: Controller) -> None:
    report = {
        "nodes": [{"qkdn_id": "alice", "kme_url": "https://127.0.0.1:4431"}],
        "links": [
            {
                "qkdl_id": "alice-n1",
                "qkdn_id": "alice",
                "skr_bps": 0.0,
                "eskr_bps": 0.0,
                "qber": 0.11,
                "available_key_bits": 8192,
                "blocks": 9,
                "up": True,
            }
        ],
    }
    async with api(mesh) as client:
        assert (await client.post("/api/v1/reports", json=report)).status_code == 204
        state = (await client.get("/api/v1/state")).json()
        nodes = {n["qkdn_id"]: n for n in state["nodes"]}
        assert nodes["alice"]["qkdn_status"] == "up"
        assert nodes["bob"]["qkdn_status"] == "unknown"
        links = {link["qkdl_id"]: link for link in state["links"]}
        assert links["alice-n1"]["qber"] == 0.11
        assert links["alice-n1"]["available_key_bits"] == 8192
        assert [a["kind"] for a in state["alarms"]["active"]] == ["qber-high"]
        route = (
            await client.get("/api/v1/routes", params={"from": "alice", "to": "bob", "key_bits": 512})
        ).json()
        assert (route["links"][0], route["hops"], route["key_bits"]) == ("alice-s1", 3, 512)


@pytest.mark.anyio
async def test_route_errors_say_why(mesh: Controller) -> None:
    for link in ("n2-bob", "s2-bob"):
        mesh.report_link_end(end(link, "bob", up=False))
    async with api(mesh) as client:
        blocked = await client.get("/api/v1/routes", params={"from": "alice", "to": "bob"})
        assert blocked.status_code == 503
        assert "down n2-bob, s2-bob" in blocked.json()["message"]
        unknown = await client.get("/api/v1/routes", params={"from": "alice", "to": "mallory"})
        assert unknown.status_code == 400
        assert "unknown KME 'mallory'" in unknown.json()["message"]
        bad = await client.post("/api/v1/reports", json={"links": [{"qkdl_id": "alice-n1", "qber": 2}]})
        assert bad.status_code == 400
        assert bad.json()["message"].startswith("bad request")
        wrong_end = {
            "links": [
                {
                    "qkdl_id": "alice-n1",
                    "qkdn_id": "bob",
                    "skr_bps": 0,
                    "eskr_bps": 0,
                    "qber": 0.0,
                    "available_key_bits": 0,
                    "blocks": 0,
                }
            ]
        }
        assert (await client.post("/api/v1/reports", json=wrong_end)).status_code == 400


def _mesh_with_policy(clock: FakeClock, *, stored_key: bool) -> Controller:
    scenario = load_scenario(ROOT / "scenarios" / "mesh.yaml")
    routing = scenario.routing.model_copy(update={"stored_key_over_down_links": stored_key})
    controller = Controller(scenario.model_copy(update={"routing": routing}), rules=AlarmRules(), clock=clock)
    for link in controller.scenario.links:
        for kme in (link.site_a, link.site_b):
            controller.report_link_end(end(link.name, kme))
    return controller


@pytest.mark.parametrize("stored_key", [False, True])
def test_a_down_link_relays_its_stored_key_only_under_the_policy(clock: FakeClock, stored_key: bool) -> None:
    mesh = _mesh_with_policy(clock, stored_key=stored_key)
    first = mesh.route("alice", "bob", 256)
    cut = first.links[0]
    ends = next(link for link in mesh.scenario.links if link.name == cut)
    for kme in (ends.site_a, ends.site_b):  # both ends still answer: their key source is down
        mesh.report_link_end(end(cut, kme, up=False, available=200_000))
    views = {view.link.qkdl_id: view for view in mesh.links()}
    assert views[cut].status is LinkStatus.DOWN  # the alarm and the status say down either way
    assert [a.kind for a in views[cut].alarms] == [AlarmKind.LINK_DOWN]
    assert (cut in mesh.route("alice", "bob", 256).links) is stored_key
    # a link a relay just failed on is avoided whatever the policy
    assert cut not in mesh.route("alice", "bob", 256, avoid=[cut]).links


def test_a_down_link_whose_end_went_silent_relays_nothing(clock: FakeClock) -> None:
    mesh = _mesh_with_policy(clock, stored_key=True)
    cut = mesh.route("alice", "bob", 256).links[0]
    ends = next(link for link in mesh.scenario.links if link.name == cut)
    mesh.report_link_end(end(cut, ends.site_a, up=False, available=4096))
    mesh.report_link_end(end(cut, ends.site_b, up=False, available=4096))
    clock.now_s += 4.0
    for link in mesh.scenario.links:  # every other link, and one end of the cut one, report again
        for kme in (link.site_a, link.site_b):
            if link.name != cut:
                mesh.report_link_end(end(link.name, kme))
    mesh.report_link_end(end(cut, ends.site_a, up=False, available=4096))
    clock.now_s += 2.0  # the other end is now silent beyond the staleness limit
    assert cut not in mesh.route("alice", "bob", 256).links
