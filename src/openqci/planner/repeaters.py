"""Entanglement demands in the optimiser: each demand's candidate repeater chains, solved before the MILP.

A chain's pair rate and fidelity depend on its whole path, nonlinearly (the waiting time of nested swaps,
the decay of the pair that waits), so the programme cannot carry them as flows. Each demand instead gets a
short list of paths over fibre (the scenario's links and the candidate links) whose every site has quantum
memories or is a candidate repeater; each path is solved as a chain of its own segments
(:func:`openqci.qin.route.solve_path`) with the memories its sites would have, and kept if it delivers the
demand's rate and fidelity. The programme then picks one kept path per demand, a binary each, which needs
the candidate repeaters, links and sites on it built (:mod:`openqci.planner.optimize`).

A repeater serves every chain that crosses it: the memories per chain are taken to be part of what its
cost buys, so chains do not compete for them. Satellite legs carry key, not entanglement, here.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import networkx as nx

from openqci.planner.errors import PlanError
from openqci.planner.topology import LinkKind, PlanNetwork, planning_of
from openqci.qin.errors import QinParameterError
from openqci.qin.route import quantum_graph, solve_path
from openqci.scenario.planning import EntanglementDemand
from openqci.scenario.quantum import QuantumNode

__all__ = ["MAX_PATHS_PER_DEMAND", "ChainOption", "entanglement_options"]

MAX_PATHS_PER_DEMAND = 16
"""Paths tried per entanglement demand, fewest segments first (then the shorter in fibre): a chain's rate
falls fast with each swap, so the paths beyond these rarely win, and each costs a chain solve."""


@dataclass(frozen=True)
class ChainOption:
    """One path that meets an entanglement demand, and what it needs built."""

    demand: str
    sites: tuple[str, ...]
    links: tuple[str, ...]
    pair_rate_hz: float
    mean_fidelity: float
    repeaters: tuple[str, ...]
    """Candidate repeaters on the path (ends included): each must be built."""

    def record(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "sites": list(self.sites),
            "links": list(self.links),
            "pair_rate_hz": self.pair_rate_hz,
            "mean_fidelity": self.mean_fidelity,
            "repeaters": list(self.repeaters),
        }


def entanglement_options(network: PlanNetwork) -> dict[str, list[ChainOption]]:
    """The paths that meet each entanglement demand of the planning section, by demand.

    ``network`` is the planner's network of the scenario with its candidate links
    (``build_network(scenario, with_candidates=True)``), the one the optimiser builds its programme on.

    Raises
    ------
    PlanError
        If a demand has no such path even with every candidate built; the message gives the best chain
        found, or says that no path of quantum nodes joins its ends.
    """
    scenario = network.scenario
    planning = planning_of(scenario)
    if not planning.entanglement_demands:
        return {}
    sites = scenario.sites_by_name
    memories: dict[str, QuantumNode] = {
        name: site.quantum for name, site in sites.items() if site.quantum is not None
    }
    candidates = {entry.site: entry.quantum for entry in planning.candidate_repeaters}
    memories.update(candidates)
    spans = [
        (link.name, link.site_a, link.site_b, link.length_km)
        for link in network.links
        if link.kind is LinkKind.FIBRE
    ]
    graph = quantum_graph(spans, memories)
    options: dict[str, list[ChainOption]] = {}
    for demand in planning.entanglement_demands:
        options[demand.name] = _options_of(demand, graph, memories, candidates)
    return options


def _options_of(
    demand: EntanglementDemand, graph: nx.Graph, memories: dict[str, QuantumNode], candidates: Collection[str]
) -> list[ChainOption]:
    a, b = demand.site_a, demand.site_b
    if a not in graph or b not in graph or not nx.has_path(graph, a, b):
        raise PlanError(
            f"entanglement demand {demand.name}: no fibre path of quantum nodes joins {a} and {b}, even with "
            "every candidate repeater and link built"
        )
    kept: list[ChainOption] = []
    best: tuple[float, float, tuple[str, ...]] | None = None
    paths = itertools.islice(nx.shortest_simple_paths(graph, a, b, weight="cost"), MAX_PATHS_PER_DEMAND)
    for path in paths:
        edges = [graph.edges[u, v] for u, v in itertools.pairwise(path)]
        try:
            _, chain = solve_path([memories[name] for name in path], [edge["km"] for edge in edges])
        except QinParameterError:
            continue  # a chain too slow to solve on a grid is far from any demand's rate
        rate, fidelity = chain.pair_rate_hz, chain.mean_fidelity
        if best is None or rate > best[0]:
            best = (rate, fidelity, tuple(path))
        if rate >= demand.pair_rate_hz and fidelity >= demand.min_fidelity:
            kept.append(
                ChainOption(
                    demand=demand.name,
                    sites=tuple(path),
                    links=tuple(edge["name"] for edge in edges),
                    pair_rate_hz=rate,
                    mean_fidelity=fidelity,
                    repeaters=tuple(name for name in path if name in candidates),
                )
            )
    if not kept:
        found = (
            f"the fastest of the paths tried gives {best[0]:.4g} pairs/s at fidelity {best[1]:.4f} "
            f"({'-'.join(best[2])})"
            if best is not None
            else "no path tried could be solved"
        )
        raise PlanError(
            f"entanglement demand {demand.name}: no repeater chain delivers {demand.pair_rate_hz:g} pairs/s "
            f"at fidelity {demand.min_fidelity:g} or more, even with every candidate built: {found}"
        )
    return kept
