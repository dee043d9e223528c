"""The optimiser places quantum repeaters: the least-cost set that gives every entanglement demand a chain
meeting its rate and fidelity, checked against enumeration of every set over every path."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml

from openqci.planner.errors import PlanError
from openqci.planner.optimize import apply_plan, optimize_design
from openqci.qin.route import solve_path
from openqci.scenario import Scenario, ScenarioError, load_scenario
from openqci.scenario.quantum import QuantumNode
from tests.planner.support import link, scenario, site

GOOD = {"memory_coherence_s": 1.0}
SHORT_LIVED = {"memory_coherence_s": 0.05}
REPEATERS = {"r1": (3.0, GOOD), "r2": (1.0, SHORT_LIVED), "r3": (2.0, GOOD), "r4": (1.5, GOOD)}
CANDIDATE_LINK = ("c-a-c", "a", "c", 60.0, 2.5)
SPANS = [
    ("a", "b", 100.0), ("a", "r1", 25.0), ("r1", "b", 25.0), ("a", "r2", 25.0), ("r2", "b", 25.0),
    ("a", "r3", 17.0), ("r3", "r4", 17.0), ("r4", "b", 17.0), ("b", "c", 40.0), ("r1", "c", 40.0),
    ("r4", "c", 30.0),
]  # fmt: skip


def _instance(demands: list[tuple[str, str, str, float, float]]) -> Scenario:
    sites = [site(name, 48.0, 2.0 + 0.1 * k) for k, name in enumerate(["a", "b", "c", *REPEATERS])]
    for entry in sites:
        if entry["name"] in ("a", "b", "c"):
            entry["quantum"] = GOOD
    name, a, b, km, cost = CANDIDATE_LINK
    planning = {
        "candidate_repeaters": [
            {"site": name, "cost": cost, "quantum": memories} for name, (cost, memories) in REPEATERS.items()
        ],
        "candidate_links": [
            {"name": name, "site_a": a, "site_b": b, "preset": "lim2014", "length_km": km, "cost": cost}
        ],
        "entanglement_demands": [
            {"name": name, "site_a": a, "site_b": b, "pair_rate_hz": rate, "min_fidelity": fidelity}
            for name, a, b, rate, fidelity in demands
        ],
    }
    return scenario(sites, [link(a, b, km) for a, b, km in SPANS], [], planning)


def _cheapest_by_enumeration(demands: list[tuple[str, str, str, float, float]]) -> float:
    """Every set of repeaters and of the candidate link, every simple path of each: the least cost that
    meets every demand."""
    memories = {name: QuantumNode.model_validate(GOOD) for name in ("a", "b", "c")}
    options = [*REPEATERS, CANDIDATE_LINK[0]]
    best = float("inf")
    for size in range(len(options) + 1):
        for chosen in itertools.combinations(options, size):
            graph = nx.Graph()
            built = {**memories}
            built.update({r: QuantumNode.model_validate(REPEATERS[r][1]) for r in chosen if r in REPEATERS})
            spans = [*SPANS, CANDIDATE_LINK[1:4]] if CANDIDATE_LINK[0] in chosen else SPANS
            graph.add_weighted_edges_from((a, b, km) for a, b, km in spans if a in built and b in built)

            def met(a: str, b: str, rate: float, fidelity: float, graph: nx.Graph = graph) -> bool:
                if a not in graph or b not in graph:
                    return False
                for path in nx.all_simple_paths(graph, a, b):
                    kms = [graph.edges[u, v]["weight"] for u, v in itertools.pairwise(path)]
                    _, chain = solve_path([built[n] for n in path], kms)  # noqa: B023
                    if chain.pair_rate_hz >= rate and chain.mean_fidelity >= fidelity:
                        return True
                return False

            if all(met(a, b, rate, fidelity) for _, a, b, rate, fidelity in demands):
                price = sum(REPEATERS[r][0] if r in REPEATERS else CANDIDATE_LINK[4] for r in chosen)
                best = min(best, price)
    return best


CASES = [
    [("ab", "a", "b", 1.0, 0.95)],  # the direct 100 km span: nothing to build
    [("ab", "a", "b", 50.0, 0.85)],  # one swap is enough, the cheap short-lived r2 will do
    [("ab", "a", "b", 50.0, 0.9)],  # r2's memories lose too much: r1 (3) against r3 and r4 (3.5)
    [("ab", "a", "b", 50.0, 0.88), ("ac", "a", "c", 10.0, 0.9)],  # r1 serves both demands
    [("ab", "a", "b", 20.0, 0.9), ("ac", "a", "c", 15.0, 0.95)],  # the candidate link for a-c
]


@pytest.mark.parametrize("demands", CASES)
def test_the_placement_is_the_optimum_enumeration_finds(
    demands: list[tuple[str, str, str, float, float]],
) -> None:
    built = _instance(demands)
    plan = optimize_design(built)
    assert plan.status == "optimal"
    assert plan.cost == pytest.approx(_cheapest_by_enumeration(demands))
    assert set(plan.entanglement_routes) == {name for name, *_ in demands}
    for name, a, b, rate, fidelity in demands:
        chain = plan.entanglement_routes[name]
        assert (chain.sites[0], chain.sites[-1]) == (a, b)
        assert chain.pair_rate_hz >= rate
        assert chain.mean_fidelity >= fidelity
        assert set(chain.repeaters) <= set(plan.built_repeaters)
        assert set(chain.links) <= {*(f"{a}-{b}" for a, b, _ in SPANS), *plan.built_links}


def test_the_planned_scenario_has_the_memories_and_its_chains_deliver() -> None:
    demands = [("ab", "a", "b", 50.0, 0.88), ("ac", "a", "c", 10.0, 0.9)]
    plan = optimize_design(_instance(demands))
    planned = apply_plan(_instance(demands), plan)
    sites = planned.sites_by_name
    assert {name for name in REPEATERS if sites[name].quantum is not None} == set(plan.built_repeaters)
    assert planned.planning is not None
    assert planned.planning.candidate_repeaters == ()
    for chain in plan.entanglement_routes.values():  # solved again from the built scenario alone
        lengths = {frozenset((a.site_a, a.site_b)): a.length_km for a in planned.links}
        kms = [lengths[frozenset(pair)] for pair in itertools.pairwise(chain.sites)]
        nodes = [sites[name].quantum for name in chain.sites]
        assert all(node is not None for node in nodes)
        _, again = solve_path(nodes, kms)  # type: ignore[arg-type]
        assert again.pair_rate_hz == pytest.approx(chain.pair_rate_hz, rel=1e-12)


def test_a_demand_no_chain_can_meet_is_named_with_the_best_found() -> None:
    with pytest.raises(PlanError, match=r"entanglement demand ab: no repeater chain delivers 1000 pairs/s"):
        optimize_design(_instance([("ab", "a", "b", 1000.0, 0.5)]))


def _write(tmp_path: Path, planning: dict[str, Any]) -> Path:
    raw = _instance([("ab", "a", "b", 50.0, 0.85)]).model_dump(mode="json", exclude_defaults=True)
    raw["planning"].update(planning)
    path = tmp_path / "q.yaml"
    path.write_text(yaml.safe_dump(json.loads(json.dumps(raw))))  # no shared objects: no YAML aliases
    return path


def test_bad_references_are_named(tmp_path: Path) -> None:
    bad = {
        "candidate_repeaters": [
            {"site": "a", "cost": 1.0, "quantum": GOOD},
            {"site": "nowhere", "cost": 1.0, "quantum": GOOD},
        ],
        "entanglement_demands": [{"name": "x", "site_a": "a", "site_b": "r1", "pair_rate_hz": 1.0}],
    }
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, bad))
    text = "\n".join(caught.value.problems)
    assert "candidate_repeaters[0]" in text
    assert "already has quantum memories" in text
    assert "unknown site 'nowhere'" in text
    assert "'r1' has no quantum memories" in text


def test_the_command_prints_the_repeaters_and_chains(tmp_path: Path) -> None:
    path = _write(tmp_path, {})
    done = subprocess.run(
        [sys.executable, "-m", "openqci", "plan", "optimize", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "install quantum memories at: r2" in done.stdout
    assert "entanglement ab: a-r2-b" in done.stdout
