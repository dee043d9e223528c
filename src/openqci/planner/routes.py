"""Candidate routes of each demand, as padded arrays of link indices the twin can gather from.

Key-aware routing happens in the twin, step by step, among a few candidates fixed in advance: the
:data:`CANDIDATES` cheapest paths (Yen's algorithm, NetworkX), a fibre span costing one and a satellite leg
:data:`~openqci.planner.topology.SATELLITE_HOP_COST`. At each step a demand takes its
first candidate whose every link holds the key it needs, or else the one with the most key at its weakest
link: the rule of the launched network's controller (fewest hops, then the most key to spare), applied to
a fixed menu so that all demands are routed in one vectorised operation.

A demand whose cheapest route crosses a satellite gets candidates that differ in their ground stations
and satellites instead: after each candidate, its satellite legs, and every leg at the ground stations it
used, cost one more :data:`~openqci.planner.topology.SATELLITE_HOP_COST`, and the next candidate is the
cheapest path under those costs. Yen's cheapest paths would all be fibre detours to the same station, so
when that station's legs run dry between passes the demand would have no other way, although the network
has one (as the least-cost design, which splits the flow between stations, counts on).

Arrays have shape ``(demands, CANDIDATES, hops)``; a path shorter than ``hops`` is padded with ``pad``
(a link that always has infinite key and no load), a missing candidate is ``[no_path, pad, ...]`` (a link
that never has key).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from openqci.planner.topology import SATELLITE_HOP_COST, PlanNetwork

__all__ = ["CANDIDATES", "Path", "candidate_paths", "failure_paths", "path_array"]

CANDIDATES = 4
"""Routes kept per demand."""

Path = tuple[int, ...]
"""Link indices, in order from the demand's source KME."""


def candidate_paths(network: PlanNetwork, graph: nx.Graph, count: int = CANDIDATES) -> list[list[Path]]:
    """Up to ``count`` fewest-hop simple paths of each demand over ``graph`` (shared between equal ends)."""
    cache: dict[tuple[str, str], list[Path]] = {}
    result = []
    for demand in network.demands:
        key = (demand.source, demand.destination)
        if key not in cache:
            cache[key] = _paths(graph, demand.source, demand.destination, count)
        result.append(cache[key])
    return result


def failure_paths(
    network: PlanNetwork, pool: Sequence[Sequence[Path]], failed: str, count: int = CANDIDATES
) -> list[list[Path]]:
    """Each demand's candidates once ``failed`` (a node) is gone: the pool's paths that avoid it, or else
    the fewest-hop path of the graph without it."""
    links = network.links
    graph: nx.Graph | None = None
    result: list[list[Path]] = []
    for demand, paths in zip(network.demands, pool, strict=True):
        if failed in (demand.source, demand.destination):
            result.append([])
            continue
        kept = [p for p in paths if all(failed not in (links[i].site_a, links[i].site_b) for i in p)]
        if not kept and paths:
            if graph is None:
                graph = network.graph(without_nodes=frozenset({failed}))
            kept = _paths(graph, demand.source, demand.destination, 1)
        result.append(kept[:count])
    return result


def path_array(
    paths: Sequence[Sequence[Path]], pad: int, no_path: int, hops: int | None = None
) -> NDArray[np.int32]:
    """The ``(demands, CANDIDATES, hops)`` array of ``paths`` (see the module's notes on padding)."""
    longest = max((len(p) for ps in paths for p in ps), default=1)
    width = max(1, longest if hops is None else hops)
    array = np.full((len(paths), CANDIDATES, width), pad, dtype=np.int32)
    array[:, :, 0] = no_path
    for d, demand_paths in enumerate(paths):
        for k, path in enumerate(demand_paths[:CANDIDATES]):
            array[d, k, :] = pad
            array[d, k, : len(path)] = path
    return array


def _paths(graph: nx.Graph, source: str, destination: str, count: int) -> list[Path]:
    if source == destination:
        return [()]
    if source not in graph or destination not in graph or not nx.has_path(graph, source, destination):
        return []
    if count == 1:
        nodes = nx.shortest_path(graph, source, destination, weight="cost")
        return [tuple(graph.edges[u, v]["index"] for u, v in itertools.pairwise(nodes))]
    found = list(itertools.islice(nx.shortest_simple_paths(graph, source, destination, weight="cost"), count))
    if any(graph.edges[u, v]["satellite"] for u, v in itertools.pairwise(found[0])):
        found = _station_diverse(graph, source, destination, count)
    return [tuple(graph.edges[u, v]["index"] for u, v in itertools.pairwise(nodes)) for nodes in found]


def _station_diverse(graph: nx.Graph, source: str, destination: str, count: int) -> list[list[str]]:
    """Up to ``count`` distinct paths, each the cheapest once the satellite legs and ground stations of the
    ones before cost more (see the module's notes)."""
    extra: dict[frozenset[str], float] = {}

    def cost(u: str, v: str, edge: dict[str, object]) -> float:
        return float(edge["cost"]) + extra.get(frozenset((u, v)), 0.0)  # type: ignore[arg-type]

    chosen: list[list[str]] = []
    for _ in range(3 * count):
        nodes = nx.shortest_path(graph, source, destination, weight=cost)
        if nodes not in chosen:
            chosen.append(nodes)
            if len(chosen) == count:
                break
        for u, v in itertools.pairwise(nodes):
            if not graph.edges[u, v]["satellite"]:
                continue
            extra[frozenset((u, v))] = extra.get(frozenset((u, v)), 0.0) + SATELLITE_HOP_COST
            station = v if graph.nodes[u]["satellite"] else u
            for other in graph.neighbors(station):
                if graph.edges[station, other]["satellite"]:
                    leg = frozenset((station, other))
                    extra[leg] = extra.get(leg, 0.0) + SATELLITE_HOP_COST
    return chosen
