"""Entanglement between two sites of a scenario: the repeater chain its quantum nodes and fibre allow.

A scenario declares quantum memories at some sites (``quantum:`` of a site, docs/scenario.md). Entanglement
can cross a fibre link only between two such sites (a heralding station at its midpoint), and be swapped
only at a site with memories: so a route is a path of fibre links whose every site has ``quantum``. The
route with the fewest segments is taken (the chain's rate falls fastest with the number of swaps), the
shorter in fibre among equals.

Each segment is a heralded link of :mod:`openqci.qin.elementary` over its fibre, and the route is solved
exactly as a chain of those segments (:mod:`openqci.qin.chain`, each with its own success per attempt and
Werner parameter, each repeater with its own swap), under BCE's clock: every segment attempts once per
step, the step being the slowest segment's attempt (a shorter segment could attempt more often, so the
rate is a floor there). The memories are taken as the shortest-lived on the way and the cutoff as the
shortest, both for the whole chain.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from openqci.qin.chain import ChainParameters, ChainResult, solve_chain
from openqci.qin.elementary import ElementaryLink, FibreEntanglementLink, HeraldingScheme
from openqci.qin.errors import QinParameterError
from openqci.scenario import Scenario
from openqci.scenario.quantum import QuantumNode

__all__ = ["QinRoute", "quantum_graph", "route_entanglement", "solve_path"]


@dataclass(frozen=True)
class QinRoute:
    """A route between two quantum nodes, its segments, and the chain that bounds what it delivers."""

    sites: tuple[str, ...]
    links: tuple[str, ...]
    segment_km: tuple[float, ...]
    segments: tuple[ElementaryLink, ...]
    chain: ChainResult

    def records(self) -> dict[str, Any]:
        """A JSON-ready dictionary: the route, its segments and the chain's figures."""
        return {
            "sites": list(self.sites),
            "links": list(self.links),
            "segment_km": list(self.segment_km),
            "segment_p_gen": [s.p_gen for s in self.segments],
            "segment_werner": [s.werner for s in self.segments],
            "modelled_as": "each segment its own; every segment attempts once per step of the slowest",
            **self.chain.records(),
        }


def route_entanglement(
    scenario: Scenario,
    source: str,
    destination: str,
    *,
    scheme: HeraldingScheme = HeraldingScheme.TWO_PHOTON,
) -> QinRoute:
    """The repeater chain between ``source`` and ``destination`` (see the module's notes).

    Raises
    ------
    QinParameterError
        If either site is unknown or has no quantum memories, or no path of quantum nodes joins them.
    """
    sites = scenario.sites_by_name
    for name in (source, destination):
        if name not in sites:
            raise QinParameterError(f"unknown site {name!r}")
        if sites[name].quantum is None:
            raise QinParameterError(f"site {name!r} has no quantum memories (quantum: in the scenario)")
    if source == destination:
        raise QinParameterError("give two different sites")
    spans = [(link.name, link.site_a, link.site_b, scenario.link_length_km(link)) for link in scenario.links]
    graph = quantum_graph(spans, {name for name, site in sites.items() if site.quantum is not None})
    if source not in graph or destination not in graph or not nx.has_path(graph, source, destination):
        raise QinParameterError(
            f"no fibre path of quantum nodes joins {source} and {destination}: every site on the way needs "
            "quantum memories to swap entanglement"
        )
    path = nx.dijkstra_path(graph, source, destination, weight="cost")
    edges = [graph.edges[u, v] for u, v in itertools.pairwise(path)]
    nodes = [node for name in path if (node := sites[name].quantum) is not None]  # all have memories
    segments, chain = solve_path(nodes, [edge["km"] for edge in edges], scheme=scheme)
    return QinRoute(
        sites=tuple(path),
        links=tuple(edge["name"] for edge in edges),
        segment_km=tuple(edge["km"] for edge in edges),
        segments=segments,
        chain=chain,
    )


def quantum_graph(spans: Iterable[tuple[str, str, str, float]], memories: Collection[str]) -> nx.Graph:
    """The fibre spans ``(name, site_a, site_b, km)`` whose two ends are in ``memories``, as the graph
    entanglement routes are found on: edges carry ``name``, ``km`` and ``cost`` (a segment counts one,
    the fibre breaks ties), and of two spans between the same sites the shorter is kept."""
    graph = nx.Graph()
    for name, a, b, km in spans:
        if a in memories and b in memories:
            previous = graph.get_edge_data(a, b)
            if previous is None or km < previous["km"]:
                graph.add_edge(a, b, name=name, km=km, cost=1.0 + km * 1e-6)
    return graph


def solve_path(
    nodes: Sequence[QuantumNode],
    segment_km: Sequence[float],
    *,
    scheme: HeraldingScheme = HeraldingScheme.TWO_PHOTON,
) -> tuple[tuple[ElementaryLink, ...], ChainResult]:
    """The segments of a path of quantum nodes and the chain they make (see the module's notes).

    ``nodes`` are the memories of the path's sites in order (ends included), ``segment_km`` the fibre
    between each two consecutive ones.
    """
    if len(nodes) != len(segment_km) + 1 or not segment_km:
        raise QinParameterError("a path needs one more node than segments, and at least one segment")
    segments = tuple(
        FibreEntanglementLink(
            length_km=km,
            scheme=scheme,
            node_efficiency=min(nodes[i].node_efficiency, nodes[i + 1].node_efficiency),
        ).elementary()
        for i, km in enumerate(segment_km)
    )
    attempt_s = max(s.attempt_duration_s for s in segments)
    coherence_s = min(node.memory_coherence_s for node in nodes)
    cutoffs = [node.cutoff_s for node in nodes if node.cutoff_s is not None]
    parameters = ChainParameters(
        segments=len(segments),
        p_gen=min(s.p_gen for s in segments),
        cutoff_attempts=None if not cutoffs else max(0, math.floor(min(cutoffs) / attempt_s)),
        werner_elementary=min(s.werner for s in segments),
        coherence_attempts=coherence_s / attempt_s,
        attempt_duration_s=attempt_s,
        segment_p_gen=tuple(s.p_gen for s in segments),
        segment_werner=tuple(s.werner for s in segments),
        node_p_swap=tuple(node.p_swap for node in nodes[1:-1]),
    )
    return segments, solve_chain(parameters)
