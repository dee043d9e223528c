"""The twin against a launched network of the same scenario: key made per link and the routes chosen.

A ring of five KMEs (lim2014 spans of 100 to 140 km, so each link makes key at its own rate, from 11 to 82
kbit/s) runs as real processes (``openqci network up``, the rate model, an intake cap above every rate)
and as the twin. Key made: each link's key over a 30 s window, read from the controller, against the
twin's rate times the window; the controller's figures are as fresh as the last report of each end (one a
second), so the bound is three reports' worth of key plus two units. Routes: a key from a to c crosses b (two
hops, not three) in both; with a - b cut (``network attack --cut``; an outage over the whole twin run) both
take a - e - d - c.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from openqci.planner.metrics import twin_metrics
from openqci.planner.twin import run_twin
from openqci.scenario import Scenario
from tests.network.test_launcher import controller_get, launched, openqci, sae_client, wait_for

pytestmark = pytest.mark.slow

RING = [("a", "b", 110.0), ("b", "c", 120.0), ("c", "d", 100.0), ("d", "e", 130.0), ("e", "a", 140.0)]
INTAKE_CAP_BPS = 131072
WINDOW_S = 30.0
REPORT_S = 1.0
UNIT_BITS = 256


def ring_document() -> dict[str, Any]:
    sites = [
        {
            "name": name,
            "roles": ["kme", "trusted-node"],
            "latitude_deg": 45.0 + lat,
            "longitude_deg": 5.0 + lon,
        }
        for name, lat, lon in (
            ("a", 0.0, 0.0),
            ("b", 0.9, 0.6),
            ("c", 0.6, 1.8),
            ("d", -0.6, 1.8),
            ("e", -0.9, 0.6),
        )
    ]
    links = [
        {"name": f"{x}-{y}", "site_a": x, "site_b": y, "preset": "lim2014", "length_km": km}
        for x, y, km in RING
    ]
    return {
        "name": "ring5",
        "description": "five KMEs in a ring, spans of different lengths",
        "sites": sites,
        "links": links,
        "saes": [{"name": "sae-a", "kme": "a"}, {"name": "sae-c", "kme": "c"}],
        "demands": [{"name": "a-c", "master_sae": "sae-a", "slave_sae": "sae-c", "key_rate_bps": 1000.0}],
    }


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("ring5")
    path = root / "ring5.yaml"
    path.write_text(yaml.safe_dump(ring_document(), sort_keys=False))
    yield from launched(path, root / "state", "--intake-cap", str(INTAKE_CAP_BPS))


def made_bits(state_dir: Path) -> dict[str, int]:
    """Key made per link so far, the smaller of its two ends' counts (each end reports its own)."""
    links = controller_get(state_dir, "/api/v1/links").json()
    return {link["qkdl_id"]: min(link["made_key_bits_by_end"].values(), default=0) for link in links}


def test_key_made_per_link_matches_the_twin(ring: Path) -> None:
    wait_for(ring, lambda s: all(link["qkdl_status"] == "up" for link in s["links"]), timeout_s=30)
    time.sleep(2 * REPORT_S)
    first, started = made_bits(ring), time.monotonic()
    time.sleep(WINDOW_S)
    last, window_s = made_bits(ring), time.monotonic() - started
    twin = run_twin(Scenario.model_validate(ring_document()), WINDOW_S / 86_400, failures=False, step_s=1.0)
    expected = {
        link.name: float(twin.run.produced[0, i]) / WINDOW_S * window_s
        for i, link in enumerate(twin.network.links)
    }
    for name, want in expected.items():
        made = last[name] - first[name]
        rate = want / window_s
        assert rate < INTAKE_CAP_BPS
        bound = 3 * REPORT_S * rate + 2 * UNIT_BITS
        print(f"{name}: launched {made} bits in {window_s:.1f} s, twin {want:.0f} (bound {bound:.0f})")
        assert abs(made - want) <= bound, f"{name}: launched {made} bits, twin {want:.0f} (bound {bound:.0f})"
    rates = [expected[f"{x}-{y}"] for x, y, _ in RING]
    assert np.ptp(rates) > 0.5 * max(rates)  # the spans really differ: a swapped link would show


def launched_route(state_dir: Path) -> list[str]:
    with sae_client(state_dir, "sae-a", "a") as master:
        answer = master.post("/api/v1/keys/sae-c/enc_keys", json={"number": 1, "size": 256})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["key_container_extension"]["qci_routes"]["c"])


def twin_route(outage_on: str | None) -> list[str]:
    document = ring_document()
    if outage_on is not None:
        outage = {"link": outage_on, "start_hour": 0.0, "duration_hours": 1.0, "description": "cut"}
        document["planning"] = {"outages": [outage], "initial_key_fraction": 0.01}
    result = run_twin(Scenario.model_validate(document), 1.0 / 24.0, failures=False)
    (demand,) = twin_metrics(result)["demands"]
    taken = [route for route in demand["routes"] if route["steps"] > 0]
    assert len(taken) == 1, taken
    sites, here = ["a"], "a"
    for name in taken[0]["links"]:
        x, y = name.split("-")
        here = y if x == here else x
        sites.append(here)
    return sites


def test_routes_match_the_twin_intact_and_around_a_cut(ring: Path) -> None:
    wait_for(ring, lambda s: all(link["qkdl_status"] == "up" for link in s["links"]), timeout_s=30)
    assert launched_route(ring) == twin_route(None) == ["a", "b", "c"]
    done = openqci("network", "attack", "a-b", "--cut", "--state-dir", str(ring))
    assert done.returncode == 0, done.stderr
    cut = lambda s: any(x["qkdl_id"] == "a-b" and x["qkdl_status"] == "down" for x in s["links"])  # noqa: E731
    wait_for(ring, cut, 20)
    assert launched_route(ring) == twin_route("a-b") == ["a", "e", "d", "c"]
