"""Key relay across a running network: real processes started by ``openqci network up``.

A master SAE gets keys through the ETSI 014 API of its KME for a slave SAE several trusted nodes away; the
slave retrieves the same bytes from its own KME; every hop spends link key at both of its ends; a cut
fibre, an eavesdropper or a dead trusted node is routed around without a failed request; a drained
bottleneck gives 503 with the reason.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.network.test_launcher import ROOT, launched, openqci, sae_client, wait_for


def consumed_units(state_dir: Path, kme: str, link: str) -> int:
    """Units of ``link`` consumed at ``kme``, read from its key store."""
    path = state_dir / "kmes" / kme / "keys.sqlite"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM units WHERE link_id = ? AND state = 3", (link,)
        ).fetchone()
    return int(count)


def get_keys(master: httpx.Client, slave: str, **body: Any) -> httpx.Response:
    return master.post(f"/api/v1/keys/{slave}/enc_keys", json=body)


def retrieve(client: httpx.Client, master: str, keys: list[dict[str, str]]) -> httpx.Response:
    return client.post(
        f"/api/v1/keys/{master}/dec_keys", json={"key_IDs": [{"key_ID": k["key_ID"]} for k in keys]}
    )


def route_taken(response: httpx.Response, kme: str) -> list[str]:
    return list(response.json()["key_container_extension"]["qci_routes"][kme])


@pytest.fixture(scope="module")
def line5(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from launched(ROOT / "scenarios" / "line5.yaml", tmp_path_factory.mktemp("relay-line5") / "state")


def test_a_key_crosses_four_hops_spending_link_key_at_both_ends_of_each(line5: Path) -> None:
    links = [f"kme{i}-kme{i + 1}" for i in range(1, 5)]
    before = {(kme, link): consumed_units(line5, kme, link) for link in links for kme in link.split("-")}
    with sae_client(line5, "sae-west", "kme1") as master, sae_client(line5, "sae-east", "kme5") as slave:
        got = get_keys(master, "sae-east", number=1, size=256)
        assert got.status_code == 200, got.text
        assert route_taken(got, "kme5") == ["kme1", "kme2", "kme3", "kme4", "kme5"]
        keys = got.json()["keys"]
        taken = retrieve(slave, "sae-west", keys)
        assert taken.status_code == 200, taken.text
        assert taken.json()["keys"] == keys
        assert len(base64.b64decode(keys[0]["key"])) == 32
        assert retrieve(slave, "sae-west", keys).status_code == 400
    for link in links:
        for kme in link.split("-"):
            # one unit of pad and one of Poly1305 key, the same two units at both ends
            assert consumed_units(line5, kme, link) - before[(kme, link)] == 2, (kme, link)


def test_multicast_to_slaves_two_and_four_hops_away(line5: Path) -> None:
    with sae_client(line5, "sae-west", "kme1") as master:
        got = get_keys(master, "sae-east", number=3, additional_slave_SAE_IDs=["sae-middle"])
    assert got.status_code == 200, got.text
    routes = got.json()["key_container_extension"]["qci_routes"]
    assert routes == {"kme5": ["kme1", "kme2", "kme3", "kme4", "kme5"], "kme3": ["kme1", "kme2", "kme3"]}
    keys = got.json()["keys"]
    for sae, kme in (("sae-east", "kme5"), ("sae-middle", "kme3")):
        with sae_client(line5, sae, kme) as slave:
            taken = retrieve(slave, "sae-west", keys)
            assert taken.status_code == 200, taken.text
            assert taken.json()["keys"] == keys


def test_status_reports_the_far_kme(line5: Path) -> None:
    with sae_client(line5, "sae-east", "kme5") as master:
        status = master.get("/api/v1/keys/sae-west/status").json()
    assert status["source_KME_ID"] == "kme5"
    assert status["target_KME_ID"] == "kme1"
    assert status["stored_key_count"] > 0


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Path]:
    yield from launched(ROOT / "scenarios" / "mesh.yaml", tmp_path / "state")


def link_named(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(link for link in document["links"] if link["qkdl_id"] == name)


def links_of(route: list[str]) -> set[frozenset[str]]:
    return {frozenset(pair) for pair in itertools.pairwise(route)}


def keep_asking(state_dir: Path, until: Any, timeout_s: float = 20.0) -> list[list[str]]:
    """Relay keys from sae-alice to sae-bob every 0.2 s until ``until(state)`` holds; all must succeed."""
    routes = []
    deadline = time.monotonic() + timeout_s
    with (
        sae_client(state_dir, "sae-alice", "alice") as master,
        sae_client(state_dir, "sae-bob", "bob") as slave,
    ):
        while True:
            got = get_keys(master, "sae-bob")
            assert got.status_code == 200, got.text
            taken = retrieve(slave, "sae-alice", got.json()["keys"])
            assert taken.json()["keys"] == got.json()["keys"]
            routes.append(route_taken(got, "bob"))
            document = wait_for(state_dir, lambda d: True)
            if until(document) or time.monotonic() > deadline:
                assert until(document), "the network did not reach the awaited state"
                return routes
            time.sleep(0.2)


@pytest.mark.slow  # real processes started, attacked or killed for many seconds (CI runs the slow suite too)
def test_a_cut_fibre_and_an_eavesdropper_are_routed_around_without_a_failed_request(mesh: Path) -> None:
    (first,) = keep_asking(mesh, lambda d: True)
    cut = "alice-n1" if first[1] == "n1" else "alice-s1"
    other = "alice-s1" if cut == "alice-n1" else "alice-n1"
    done = openqci("network", "attack", cut, "--cut", "--state-dir", str(mesh))
    assert done.returncode == 0, done.stderr
    assert "fibre cut" in done.stdout
    keep_asking(mesh, lambda d: link_named(d, cut)["qkdl_status"] == "down")
    after_cut = keep_asking(mesh, lambda d: True)
    assert all(frozenset(cut.split("-")) not in links_of(r) for r in after_cut)
    # mend the fibre, then put an eavesdropper on the path the keys took meanwhile
    openqci("network", "attack", cut, "--clear", "--state-dir", str(mesh))
    keep_asking(mesh, lambda d: link_named(d, cut)["qkdl_status"] == "up")
    done = openqci("network", "attack", other, "--intercept-resend", "0.3", "--state-dir", str(mesh))
    assert done.returncode == 0, done.stderr
    keep_asking(
        mesh, lambda d: any(a["link"] == other and a["kind"] == "qber-high" for a in d["alarms"]["active"])
    )
    after_attack = keep_asking(mesh, lambda d: True)
    assert all(frozenset(other.split("-")) not in links_of(r) for r in after_attack)


@pytest.fixture
def mesh_relaying_stored_key(tmp_path: Path) -> Iterator[Path]:
    """The mesh under the routing policy ``stored_key_over_down_links``."""
    document = yaml.safe_load((ROOT / "scenarios" / "mesh.yaml").read_text())
    document["routing"] = {"stored_key_over_down_links": True}
    path = tmp_path / "mesh-stored-key.yaml"
    path.write_text(yaml.safe_dump(document))
    yield from launched(path, tmp_path / "state")


@pytest.mark.slow  # real processes started and both of alice's fibres cut for several seconds
def test_under_the_policy_cut_fibres_go_on_relaying_the_key_they_hold(mesh_relaying_stored_key: Path) -> None:
    mesh = mesh_relaying_stored_key
    keep_asking(mesh, lambda d: True)
    cuts = ("alice-n1", "alice-s1")  # every route from alice crosses one of them
    for cut in cuts:
        done = openqci("network", "attack", cut, "--cut", "--state-dir", str(mesh))
        assert done.returncode == 0, done.stderr
    keep_asking(mesh, lambda d: all(link_named(d, cut)["qkdl_status"] == "down" for cut in cuts))
    spent = {cut: consumed_units(mesh, "alice", cut) for cut in cuts}
    after: list[list[str]] = []
    with sae_client(mesh, "sae-alice", "alice") as master, sae_client(mesh, "sae-bob", "bob") as slave:
        for _ in range(5):  # both down: without the policy this is a 503 (no route)
            got = get_keys(master, "sae-bob")
            assert got.status_code == 200, got.text
            assert retrieve(slave, "sae-alice", got.json()["keys"]).json()["keys"] == got.json()["keys"]
            after.append(route_taken(got, "bob"))
    assert all(links_of(route) & {frozenset(c.split("-")) for c in cuts} for route in after)
    assert sum(consumed_units(mesh, "alice", cut) for cut in cuts) - sum(spent.values()) == 2 * len(after)


def test_a_dead_trusted_node_fails_a_hop_which_is_voided_and_rerouted(mesh: Path) -> None:
    (first,) = keep_asking(mesh, lambda d: True)
    state = json.loads((mesh / "state.json").read_text())
    victim = first[1]
    (process,) = [p for p in state["processes"] if p["kmes"] == [victim]]
    os.kill(process["pid"], signal.SIGKILL)
    # at once, before the controller can know: the first attempt fails at the dead node, the retry goes round
    with sae_client(mesh, "sae-alice", "alice") as master, sae_client(mesh, "sae-bob", "bob") as slave:
        for _ in range(3):
            got = get_keys(master, "sae-bob")
            assert got.status_code == 200, got.text
            assert victim not in route_taken(got, "bob")
            assert retrieve(slave, "sae-alice", got.json()["keys"]).json()["keys"] == got.json()["keys"]


@pytest.fixture
def bottleneck(tmp_path: Path) -> Iterator[Path]:
    """Three KMEs in a line whose second link is slow (60 km of the 2004 GYS system: about 270 bit/s)."""
    document = yaml.safe_load((ROOT / "scenarios" / "line5.yaml").read_text())
    document["name"] = "bottleneck"
    document["sites"] = document["sites"][:3]
    document["links"] = [
        {"name": "kme1-kme2", "site_a": "kme1", "site_b": "kme2", "preset": "yuan2018", "length_km": 25.0},
        {"name": "kme2-kme3", "site_a": "kme2", "site_b": "kme3", "preset": "gys2004", "length_km": 60.0},
    ]
    document["saes"] = [{"name": "sae-west", "kme": "kme1"}, {"name": "sae-middle", "kme": "kme3"}]
    document["demands"] = []
    scenario = tmp_path / "bottleneck.yaml"
    scenario.write_text(yaml.safe_dump(document))
    yield from launched(scenario, tmp_path / "state")


def test_draining_the_bottleneck_gives_503_with_the_reason(bottleneck: Path) -> None:
    answers = []
    with sae_client(bottleneck, "sae-west", "kme1") as master:
        for _ in range(40):
            got = get_keys(master, "sae-middle", number=4)
            answers.append(got)
            if got.status_code != 200:
                break
    last = answers[-1]
    assert last.status_code == 503, "the slow link never ran out of key"
    message = last.json()["message"]
    assert "kme2-kme3" in message
    assert "drained" in message or "not enough key" in message
