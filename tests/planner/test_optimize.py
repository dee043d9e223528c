"""The optimiser returns the least-cost design, checked against enumeration of every design by max-flow."""

from __future__ import annotations

import itertools
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from openqci.planner.errors import PlanError
from openqci.planner.optimize import apply_plan, optimize_design
from openqci.planner.topology import build_network
from openqci.planner.twin import run_twin
from openqci.planner.verify import check_design
from openqci.scenario import load_scenario
from tests.planner.support import chain, demand, link, scenario, site

# capacities (b/s) given directly, so that the optimum can be found by hand and by enumeration
CAPACITY = {
    "s-a": 900.0, "a-t1": 500.0, "s-b": 400.0, "b-t2": 400.0, "a-b": 300.0,
    "c-s-c": 1000.0, "c-c-t1": 1000.0, "c-c-t2": 1000.0, "c-a-t2": 600.0, "c-s-b2": 350.0,
}  # fmt: skip
COST = {"c-s-c": 3.0, "c-c-t1": 1.0, "c-c-t2": 1.0, "c-a-t2": 2.5, "c-s-b2": 1.2}
SITE_COST = {"c": 2.0}


def _instance(t1_rate: float, t2_rate: float):  # type: ignore[no-untyped-def]
    sites = [
        site("s", 48.0, 2.0),
        site("a", 48.3, 2.4, "trusted-node"),
        site("b", 47.7, 2.4, "trusted-node"),
        site("c", 48.0, 2.6, "trusted-node"),
        site("t1", 48.3, 3.0),
        site("t2", 47.7, 3.0),
    ]
    links = [link("s", "a"), link("a", "t1"), link("s", "b"), link("b", "t2"), link("a", "b")]
    ends = {"c-s-c": ("s", "c"), "c-c-t1": ("c", "t1"), "c-c-t2": ("c", "t2"), "c-a-t2": ("a", "t2")}
    ends["c-s-b2"] = ("s", "b")
    candidates = [
        {"name": name, "site_a": a, "site_b": b, "preset": "lim2014", "length_km": 30.0, "cost": COST[name]}
        for name, (a, b) in ends.items()
    ]
    planning = {
        "capacity_margin": 0.0,
        "candidate_links": candidates,
        "candidate_sites": [{"site": "c", "cost": SITE_COST["c"]}],
    }
    demands = [demand("s-t1", "s", "t1", t1_rate), demand("s-t2", "s", "t2", t2_rate)]
    built = scenario(sites, links, demands, planning)
    network = build_network(built, with_candidates=True)
    capacities = np.array([CAPACITY[item.name] for item in network.links])
    return built, network, capacities


def _feasible(network, capacities, chosen: set[str], survivable: bool) -> bool:  # type: ignore[no-untyped-def]
    def meets(without: str | None) -> bool:
        graph = nx.DiGraph()
        for item, capacity in zip(network.links, capacities, strict=True):
            if item.candidate_cost is not None and item.name not in chosen:
                continue
            if "c" in (item.site_a, item.site_b) and "c" not in chosen:
                continue
            if without in (item.site_a, item.site_b):
                continue
            graph.add_edge(item.site_a, item.site_b, capacity=capacity)
            graph.add_edge(item.site_b, item.site_a, capacity=capacity)
        for d in network.demands:
            graph.add_edge(d.destination, "sink", capacity=d.rate_bps)
        if "s" not in graph or "sink" not in graph:
            return False
        need = sum(d.rate_bps for d in network.demands)
        return bool(nx.maximum_flow_value(graph, "s", "sink") >= need - 1e-6)

    if not meets(None):
        return False
    return not survivable or all(meets(node) for node in ("a", "b", "c") if node in chosen or node != "c")


def _enumerate(network, capacities, survivable: bool) -> tuple[float, set[str]]:  # type: ignore[no-untyped-def]
    options = [*COST, "c"]
    best: tuple[float, set[str]] = (float("inf"), set())
    for size in range(len(options) + 1):
        for combo in itertools.combinations(options, size):
            chosen = set(combo)
            price = sum(COST.get(name, 0.0) for name in chosen) + (SITE_COST["c"] if "c" in chosen else 0.0)
            if price < best[0] and _feasible(network, capacities, chosen, survivable):
                best = (price, chosen)
    return best


@pytest.mark.parametrize(
    ("t1_rate", "t2_rate", "survivable"),
    [(400.0, 300.0, False), (700.0, 300.0, False), (500.0, 650.0, False), (200.0, 200.0, True)],
)
def test_the_optimum_is_the_one_enumeration_finds(t1_rate: float, t2_rate: float, survivable: bool) -> None:
    built, network, capacities = _instance(t1_rate, t2_rate)
    cost, _chosen = _enumerate(network, capacities, survivable)
    plan = optimize_design(built, survivable=survivable, capacities_bps=capacities)
    assert plan.status == "optimal"
    assert plan.cost == pytest.approx(cost)
    assert plan.gap <= 1e-6
    # the design found costs the optimum and is itself feasible (ties may pick another optimal design)
    assert _feasible(network, capacities, {*plan.built_links, *plan.built_sites}, survivable)


def test_an_impossible_demand_is_named() -> None:
    built, _network, capacities = _instance(5000.0, 100.0)
    with pytest.raises(PlanError, match=r"s-t1 \(5000 b/s, at most"):
        optimize_design(built, capacities_bps=capacities)


def test_the_twin_confirms_the_plan_meets_every_demand() -> None:
    built, _network, _ = _instance(40_000.0, 30_000.0)  # physics rates: 30 km of lim2014 is ~2.6 Mb/s
    plan = optimize_design(built)
    planned = apply_plan(built, plan)
    result = run_twin(planned, 0.1, failures=False)
    assert result.run.met_steps.min() == result.schedule.steps


def test_a_network_without_demands_needs_nothing_built() -> None:
    built, _network, capacities = _instance(1.0, 1.0)
    idle = built.model_copy(update={"demands": ()})
    plan = optimize_design(idle, capacities_bps=capacities)
    assert (plan.cost, plan.built_links, plan.built_sites) == (0.0, (), ())
    assert set(plan.skipped_links) == set(COST)


@pytest.mark.slow
def test_the_twin_confirms_the_euroqci_plan_with_and_without_its_outages() -> None:
    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "euroqci.yaml")
    assert scenario.routing.stored_key_over_down_links  # the corridors ride out outages on their stores
    plan = optimize_design(scenario, days=7.0)
    assert plan.status == "optimal"
    planned = apply_plan(scenario, plan)
    for outages in (False, True):
        check = check_design(planned, 7.0, outages=outages)
        assert check.satisfied == check.demands == len(scenario.demands), (outages, check.failing)
    # without the policy, a down link relays nothing: the single-path corridors fail, each on an outage
    strict = planned.model_copy(
        update={"routing": planned.routing.model_copy(update={"stored_key_over_down_links": False})}
    )
    with_outages = check_design(strict, 7.0, outages=True)
    assert with_outages.satisfied < with_outages.demands
    for failing in with_outages.failing:
        assert any(cause.endswith(" h") for cause in failing["causes"]), failing  # an outage on its way


def test_survivability_is_refused_at_once_where_a_node_cuts_a_demand_off() -> None:
    with pytest.raises(PlanError, match=r"2 nodes each cut demands off: b \(a-d\); c \(a-d\)"):
        optimize_design(chain(100.0), survivable=True)


def test_a_programme_too_large_is_refused_with_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    import openqci.planner.optimize as optimize

    monkeypatch.setattr(optimize, "MAX_VARIABLES", 4)
    with pytest.raises(PlanError, match=r"6 flow variables \(limit 4\)"):
        optimize_design(chain(100.0))
