"""Key-aware routing: the path a relayed key takes through trusted nodes, given the live link states.

The graph has one node per KME site and one edge per fibre link (edge attribute ``link``: the link's name).
A route is a NetworkX shortest path whose weight function reads the current :class:`LinkState` of each
link. A link that is down, alarmed (QBER alarm, suspected eavesdropper) or drained (less key in store than
the request consumes) gets the weight ``None``, which NetworkX reads as "no edge", so routing goes around
it. Under the scenario's routing policy ``stored_key_over_down_links``, a down link whose two KMEs still
report keeps relaying the key in its stores (:attr:`LinkState.relays_stored_key`) until it is drained.
A usable link costs ``1 + key_bits / available_key_bits``: one per hop, plus up to one more as its key
runs low, so the fewest hops win and, among equal hop counts, the path with the most key to spare.

Every function here is pure: the controller owns the states and passes them in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import networkx as nx

from openqci.network.errors import NoRouteError, UnknownKmeError
from openqci.scenario import Scenario

__all__ = [
    "LinkCondition",
    "LinkState",
    "Route",
    "build_graph",
    "choose_route",
    "link_condition",
    "link_weight",
]

Weight = Callable[[str, str, dict[str, Any]], float | None]


@dataclass(frozen=True)
class LinkState:
    """What the controller knows about a link right now.

    Attributes
    ----------
    available_key_bits
        Key in store at both ends, ready for relay: the smaller of the two ends' halves.
    available_by_end
        ``(kme, bits)`` for each end that reported: the half of the link's key that end may hand out.
        A relay hop spends only its sending end's half (:mod:`openqci.kms.units`), so a link drained at
        one end still carries relays sent from the other.
    key_rate_bps
        Key the link currently makes, bits per second.
    qber
        Last estimated quantum bit error rate.
    up
        Whether the link runs (fibre and devices working).
    alarm
        Whether an alarm is raised on the link (QBER above threshold, suspected eavesdropper).
    relays_stored_key
        Down, yet both ends report and the routing policy lets a down link relay the key it holds.
    """

    available_key_bits: int
    key_rate_bps: float = 0.0
    qber: float = 0.0
    up: bool = True
    alarm: bool = False
    available_by_end: tuple[tuple[str, int], ...] = ()
    relays_stored_key: bool = False

    def sendable_bits(self, sender: str | None) -> int:
        """Key a relay sent from ``sender`` across this link may spend (the smaller half if unknown)."""
        for kme, bits in self.available_by_end:
            if kme == sender:
                return bits
        return self.available_key_bits


class LinkCondition(StrEnum):
    """Whether a link can carry a relay of a given size, and if not, why."""

    USABLE = "usable"
    DOWN = "down"
    ALARMED = "alarmed"
    DRAINED = "drained"
    UNKNOWN = "unknown"
    """No state has been reported for the link yet."""


@dataclass(frozen=True)
class Route:
    """A path between two KMEs: the KME sites in order and the links between them."""

    kmes: tuple[str, ...]
    links: tuple[str, ...]

    @property
    def hops(self) -> int:
        """Number of links crossed."""
        return len(self.links)


def build_graph(scenario: Scenario) -> nx.Graph:
    """The routing graph of ``scenario``: KME sites as nodes, fibre links as edges named by ``link``."""
    graph = nx.Graph(name=scenario.name)
    graph.add_nodes_from(site.name for site in scenario.kme_sites)
    for link in scenario.links:
        graph.add_edge(link.site_a, link.site_b, link=link.name, length_km=scenario.link_length_km(link))
    return graph


def link_condition(state: LinkState | None, key_bits: int, sender: str | None = None) -> LinkCondition:
    """Whether a link in ``state`` can carry a relay sent from ``sender`` that consumes ``key_bits``.

    Without a sender, the link must hold the key at both ends (either direction may be asked for).
    """
    if state is None:
        return LinkCondition.UNKNOWN
    if not state.up and not state.relays_stored_key:
        return LinkCondition.DOWN
    if state.alarm:
        return LinkCondition.ALARMED
    available = state.sendable_bits(sender)
    if available < key_bits or available <= 0:
        return LinkCondition.DRAINED if state.up else LinkCondition.DOWN
    return LinkCondition.USABLE


def link_weight(states: Mapping[str, LinkState], key_bits: int) -> Weight:
    """The NetworkX weight function over ``states`` for a relay of ``key_bits``.

    It returns ``None`` (edge hidden) for a link that is not usable from ``u`` towards ``v``, and otherwise
    ``1 + key_bits / sendable``, so a hop counts one and scarce key up to one more. ``sendable`` is the
    key of the hop's sending end ``u``; single-source Dijkstra calls the function with ``u`` the node on
    the source's side, so the direction is the relay's.
    """

    def weight(u: str, _v: str, data: dict[str, Any]) -> float | None:
        state = states.get(data["link"])
        if link_condition(state, key_bits, sender=u) is not LinkCondition.USABLE:
            return None
        assert state is not None
        return 1.0 + key_bits / state.sendable_bits(u)

    return weight


def choose_route(
    graph: nx.Graph, states: Mapping[str, LinkState], source_kme: str, destination_kme: str, key_bits: int
) -> Route:
    """The best usable route for relaying ``key_bits`` of key from ``source_kme`` to ``destination_kme``.

    Parameters
    ----------
    graph
        From :func:`build_graph` (edges carry the link name in ``link``).
    states
        Current state of each link, by link name; a link without a state is not used.
    source_kme, destination_kme
        KME site names.
    key_bits
        Link key each hop consumes (the key plus its authentication tag key).

    Returns
    -------
    Route
        The KMEs and links of a simple path of usable links; a single KME when both ends are the same.

    Raises
    ------
    UnknownKmeError
        If an end is not a node of ``graph``.
    NoRouteError
        If no path of usable links exists; the message lists the links that are down, alarmed, drained or
        without state, or says that no physical path exists.

    Examples
    --------
    >>> graph = nx.Graph()
    >>> graph.add_edges_from([("a", "b", {"link": "ab"}), ("b", "c", {"link": "bc"})])
    >>> graph.add_edge("a", "c", link="ac")
    >>> states = {"ab": LinkState(4096), "bc": LinkState(4096), "ac": LinkState(4096, up=False)}
    >>> choose_route(graph, states, "a", "c", 256).kmes
    ('a', 'b', 'c')
    """
    for kme in (source_kme, destination_kme):
        if kme not in graph:
            raise UnknownKmeError(f"unknown KME {kme!r}; the network's KMEs are: {', '.join(sorted(graph))}")
    try:
        # single-source, not nx.shortest_path's bidirectional search: its backward half would read each
        # link's key from the receiving end
        path = nx.dijkstra_path(graph, source_kme, destination_kme, weight=link_weight(states, key_bits))
    except nx.NetworkXNoPath:
        raise NoRouteError(_why_no_route(graph, states, source_kme, destination_kme, key_bits)) from None
    links = tuple(graph.edges[u, v]["link"] for u, v in itertools.pairwise(path))
    return Route(kmes=tuple(path), links=links)


def _why_no_route(
    graph: nx.Graph, states: Mapping[str, LinkState], source: str, destination: str, key_bits: int
) -> str:
    """Name what blocks every path: no fibre at all, or the unusable links around the source."""
    ends = f"no route from {source} to {destination}"
    if not nx.has_path(graph, source, destination):
        return f"{ends}: no physical path joins them"
    component = graph.subgraph(nx.node_connected_component(graph, source))
    blocked: dict[LinkCondition, list[str]] = {}
    for _u, _v, name in component.edges(data="link"):
        condition = link_condition(states.get(name), key_bits)
        if condition is not LinkCondition.USABLE:
            blocked.setdefault(condition, []).append(_describe(name, states.get(name), condition))
    reasons = "; ".join(f"{kind} {', '.join(sorted(names))}" for kind, names in sorted(blocked.items()))
    return f"{ends} for {key_bits} key bits: every path crosses an unusable link ({reasons})"


def _describe(name: str, state: LinkState | None, condition: LinkCondition) -> str:
    if condition is LinkCondition.DRAINED and state is not None:
        return f"{name} ({state.available_key_bits} bits)"
    if condition is LinkCondition.ALARMED and state is not None:
        return f"{name} (QBER {state.qber:.3f})"
    return name
