"""The twin's conservation laws, weather, outages and storage limits, on scenarios small enough to reason
about by hand."""

from __future__ import annotations

import numpy as np
import pytest

from openqci.planner.metrics import twin_metrics
from openqci.planner.routes import candidate_paths
from openqci.planner.supply import fibre_rates_bps
from openqci.planner.topology import build_network
from openqci.planner.twin import run_twin
from openqci.scenario import load_scenario
from tests.planner.support import chain, demand, link, scenario, site


def _conserved(result) -> None:  # type: ignore[no-untyped-def]
    run = result.run
    held = run.initial + run.produced - run.wasted
    assert np.all(run.consumed <= held * (1 + 1e-12) + 1e-6)
    final = run.buffers[-1]
    assert np.allclose(held[0] - run.consumed[0], final, rtol=1e-5, atol=1.0)


def test_key_consumed_never_exceeds_key_produced_on_any_link() -> None:
    """Demands far above supply drain every link, yet no link gives more than it made."""
    starved = chain(rate=1e9)
    result = run_twin(starved, 0.5, failures=False)
    _conserved(result)
    assert result.run.met_steps.sum() == 0
    assert result.run.consumed.sum() > 0
    france = run_twin(load_scenario("scenarios/franceqci.yaml"), 1.0, failures=False)
    _conserved(france)


def test_a_demand_over_k_hops_consumes_k_times_its_key() -> None:
    plenty = chain(rate=100.0)
    result = run_twin(plenty, 0.25, failures=False)
    served = result.run.served[0, 0]
    assert served == pytest.approx(100.0 * 0.25 * 86_400.0)
    assert np.allclose(result.run.consumed[0], served)
    assert result.run.consumed[0].sum() == pytest.approx(3 * served)


def _ring_demands():  # type: ignore[no-untyped-def]
    sites = [site(n, 48.0 + 0.2 * i, 2.0 + 0.3 * (i % 3), "trusted-node") for i, n in enumerate("abcdef")]
    links = [link(x, y) for x, y in ("ab", "bc", "cd", "de", "ef", "fa")] + [link("b", "e", 60.0)]
    demands = [demand("a-c", "a", "c", 50.0), demand("d-f", "d", "f", 50.0), demand("b-e", "b", "e", 20.0)]
    return sites, links, demands


def test_removing_a_link_changes_exactly_the_demands_that_used_it() -> None:
    sites, links, demands = _ring_demands()
    full = twin_metrics(run_twin(scenario(sites, links, demands), 0.2, failures=False))
    for removed in ("a-b", "d-e", "b-e"):
        cut = [item for item in links if item["name"] != removed]
        less = twin_metrics(run_twin(scenario(sites, cut, demands), 0.2, failures=False))
        for before, after in zip(full["demands"], less["demands"], strict=True):
            used = any(removed in route["links"] for route in before["routes"] if route["steps"] > 0)
            routes_before = [r["links"] for r in before["routes"] if r["steps"] > 0]
            routes_after = [r["links"] for r in after["routes"] if r["steps"] > 0]
            if used:
                assert routes_after != routes_before, (removed, before["name"])
                assert all(removed not in r for r in routes_after)
            else:
                assert routes_after == routes_before, (removed, before["name"])
                assert after["served_bits"] == before["served_bits"]


def test_storage_limit_caps_every_store_and_counts_the_key_thrown_away() -> None:
    idle = chain(rate=1.0, kme_storage_bits=1e5)
    result = run_twin(idle, 0.1, failures=False)
    assert result.run.buffers.max() <= 1e5
    assert result.run.wasted.sum() > 0
    _conserved(result)


def test_a_scheduled_outage_stops_the_link_and_reroutes_or_starves_the_demand() -> None:
    outage = {"outages": [{"link": "b-c", "start_hour": 1.0, "duration_hours": 2.0}]}
    result = run_twin(chain(rate=100.0, **outage), 0.25, failures=False)
    rates = fibre_rates_bps(build_network(result.network.scenario))
    made = result.run.produced[0, 1]
    assert made == pytest.approx(rates[1] * (6 - 2) * 3600.0, rel=1e-9)
    met = result.run.met_steps[0, 0]
    assert met == result.schedule.steps - 120


def _satellite_scenario(cloud: float) -> object:
    sites = [
        site("gs-a", 43.75, 6.92, "ground-station"),
        site("gs-b", 48.0, 2.0, "ground-station"),
    ]
    satellite = {
        "name": "sat",
        "elements": {
            "epoch": "2026-01-01T00:00:00Z",
            "altitude_km": 530.0,
            "inclination_deg": 97.5,
            "raan_deg": 0.0,
        },
        "preset": "micius2017",
        "ground_stations": ["gs-a", "gs-b"],
    }
    planning = {
        "climate": [{"station": "gs-a", "monthly_cloud_fraction": [cloud] * 12}],
    }
    return scenario(sites, [], [demand("a-b", "gs-a", "gs-b", 5.0)], planning, [satellite])


def test_a_clouded_pass_makes_no_key_and_a_clear_one_its_finite_key() -> None:
    clear = run_twin(_satellite_scenario(0.0), 2.0, failures=False)
    cloudy = run_twin(_satellite_scenario(1.0), 2.0, failures=False)
    legs = {link.name: i for i, link in enumerate(clear.network.links)}
    a, b = legs["sat~gs-a"], legs["sat~gs-b"]
    pass_keys = sum(p.key_bits for p in clear.events.passes if p.link == a)
    assert pass_keys > 0
    assert clear.run.produced[0, a] == pytest.approx(pass_keys)
    assert cloudy.run.produced[0, a] == 0.0
    assert cloudy.run.produced[0, b] == clear.run.produced[0, b]
    # relayed through the satellite: both legs spend what the demand got
    assert clear.run.consumed[0, a] == pytest.approx(clear.run.served[0, 0])
    assert clear.run.consumed[0, b] == pytest.approx(clear.run.served[0, 0])
    assert cloudy.run.served[0, 0] == 0.0


def test_the_same_seed_gives_the_same_run_and_failures_name_the_cut_demands() -> None:
    first = twin_metrics(run_twin(chain(rate=10.0), 0.2, seed=3))
    again = twin_metrics(run_twin(chain(rate=10.0), 0.2, seed=3))
    assert first["demands"] == again["demands"]
    failed = {row["node"]: row["failed_demands"] for row in first["failures"]}
    assert failed == {"b": ["a-d"], "c": ["a-d"]}


def test_a_satellite_demand_gets_routes_through_another_ground_station() -> None:
    """Yen's four cheapest routes would all be fibre detours to the nearest station (gs-1)."""
    sites = [
        site("city", 45.0, 5.0),
        site("p", 45.1, 5.1, "trusted-node"),
        site("q", 44.9, 5.1, "trusted-node"),
        site("gs-1", 45.0, 5.2, "ground-station"),
        *[site(f"r{i}", 45.5 + 0.1 * i, 5.0, "trusted-node") for i in range(4)],
        site("gs-2", 46.0, 5.0, "ground-station"),
        site("island", 42.0, 9.0, "ground-station"),
    ]
    ring = [link("city", "gs-1"), link("city", "p"), link("p", "gs-1"), link("city", "q"), link("q", "gs-1")]
    ring.append(link("p", "q"))
    corridor = [link("city", "r0"), *[link(f"r{i}", f"r{i + 1}") for i in range(3)], link("r3", "gs-2")]
    satellite = {
        "name": "sat",
        "elements": {
            "epoch": "2026-01-01T00:00:00Z",
            "altitude_km": 530.0,
            "inclination_deg": 97.5,
            "raan_deg": 0.0,
        },
        "preset": "micius2017",
        "ground_stations": ["gs-1", "gs-2", "island"],
    }
    network = build_network(
        scenario(sites, ring + corridor, [demand("to-island", "city", "island", 1.0)], None, [satellite])
    )
    (routes,) = candidate_paths(network, network.graph())
    stations = [
        {network.links[i].site_b for i in path if "~" in network.links[i].name} - {"island"}
        for path in routes
    ]
    assert stations[0] == {"gs-1"}
    assert {"gs-2"} in stations
    assert len(set(routes)) == len(routes)


def _relaying_stored_key(built: object) -> object:
    from openqci.scenario import RoutingPolicy

    return built.model_copy(update={"routing": RoutingPolicy(stored_key_over_down_links=True)})  # type: ignore[attr-defined]


def test_under_the_policy_a_down_link_relays_its_stored_key_until_it_runs_out() -> None:
    outage = {"outages": [{"link": "b-c", "start_hour": 1.0, "duration_hours": 2.0}]}
    small = run_twin(_relaying_stored_key(chain(rate=100.0, **outage)), 0.25, failures=False)  # type: ignore[arg-type]
    # an hour of b-c's key in store carries 100 b/s through the two hours of the outage
    assert small.run.met_steps[0, 0] == small.schedule.steps
    made = small.run.produced[0, 1]
    rates = fibre_rates_bps(build_network(small.network.scenario))
    assert made == pytest.approx(rates[1] * (6 - 2) * 3600.0, rel=1e-9)  # it still makes no key while down
    _conserved(small)
    # a demand of most of the link's rate empties the store (capped at kme_storage_bits) within the outage
    big_rate = 0.6 * float(rates[1])
    big = run_twin(_relaying_stored_key(chain(rate=big_rate, **outage)), 0.25, failures=False)  # type: ignore[arg-type]
    without = run_twin(chain(rate=big_rate, **outage), 0.25, failures=False)
    assert without.run.met_steps[0, 0] == without.schedule.steps - 120
    assert without.run.met_steps[0, 0] < big.run.met_steps[0, 0] < big.schedule.steps
    _conserved(big)
