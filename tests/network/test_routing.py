"""Key-aware routing: usable links only, simple paths, failures routed around, NoRouteError when due."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.network.errors import NoRouteError, UnknownKmeError
from openqci.network.routing import (
    LinkCondition,
    LinkState,
    build_graph,
    choose_route,
    link_condition,
)
from openqci.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
KEY_BITS = 256
FULL = LinkState(available_key_bits=1 << 20, key_rate_bps=1e5, qber=0.01)


def _states(graph: nx.Graph, state: LinkState = FULL) -> dict[str, LinkState]:
    return {name: state for _, _, name in graph.edges(data="link")}


@st.composite
def networks(draw: st.DrawFn) -> tuple[nx.Graph, dict[str, LinkState]]:
    """A random graph of 2 to 9 KMEs whose links are usable, down, alarmed or drained at random."""
    size = draw(st.integers(2, 9))
    pairs = [(a, b) for a in range(size) for b in range(a + 1, size)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    graph = nx.Graph()
    graph.add_nodes_from(f"k{i}" for i in range(size))
    states = {}
    for a, b in chosen:
        name = f"k{a}-k{b}"
        graph.add_edge(f"k{a}", f"k{b}", link=name)
        states[name] = LinkState(
            available_key_bits=draw(st.sampled_from([0, 100, KEY_BITS, 4096, 1 << 20])),
            qber=draw(st.floats(0.0, 0.2)),
            up=draw(st.sampled_from([True, True, False])),
            alarm=draw(st.sampled_from([False, False, True])),
        )
    return graph, states


def _usable_subgraph(graph: nx.Graph, states: dict[str, LinkState]) -> nx.Graph:
    usable = [
        (u, v)
        for u, v, name in graph.edges(data="link")
        if link_condition(states.get(name), KEY_BITS) is LinkCondition.USABLE
    ]
    sub = nx.Graph(usable)
    sub.add_nodes_from(graph)
    return sub


@settings(max_examples=150, deadline=None)
@given(networks(), st.data())
def test_route_exists_exactly_when_a_usable_path_does(
    network: tuple[nx.Graph, dict[str, LinkState]], data: st.DataObject
) -> None:
    graph, states = network
    source, destination = data.draw(st.sampled_from(sorted(graph))), data.draw(st.sampled_from(sorted(graph)))
    reachable = nx.has_path(_usable_subgraph(graph, states), source, destination)
    if not reachable:
        with pytest.raises(NoRouteError, match=f"no route from {source} to {destination}"):
            choose_route(graph, states, source, destination, KEY_BITS)
        return
    route = choose_route(graph, states, source, destination, KEY_BITS)
    assert route.kmes[0] == source
    assert route.kmes[-1] == destination
    assert len(set(route.kmes)) == len(route.kmes)
    assert route.hops == len(route.kmes) - 1
    for (u, v), name in zip(zip(route.kmes, route.kmes[1:], strict=False), route.links, strict=True):
        assert graph.edges[u, v]["link"] == name
        assert link_condition(states[name], KEY_BITS) is LinkCondition.USABLE


@settings(max_examples=150, deadline=None)
@given(networks(), st.data())
def test_a_failed_link_on_the_shortest_path_is_routed_around(
    network: tuple[nx.Graph, dict[str, LinkState]], data: st.DataObject
) -> None:
    graph, _ = network
    states = _states(graph)
    source, destination = data.draw(st.sampled_from(sorted(graph))), data.draw(st.sampled_from(sorted(graph)))
    if source == destination or not nx.has_path(graph, source, destination):
        return
    first = choose_route(graph, states, source, destination, KEY_BITS)
    failed = data.draw(st.sampled_from(first.links))
    states[failed] = LinkState(available_key_bits=1 << 20, up=False)
    around = graph.copy()
    around.remove_edges_from([(u, v) for u, v, name in graph.edges(data="link") if name == failed])
    if nx.has_path(around, source, destination):
        assert failed not in choose_route(graph, states, source, destination, KEY_BITS).links
    else:
        with pytest.raises(NoRouteError, match=f"down {failed}"):
            choose_route(graph, states, source, destination, KEY_BITS)


@st.composite
def halves(draw: st.DrawFn) -> tuple[nx.Graph, dict[str, LinkState]]:
    """A random graph of up links whose two ends hold different halves of their key."""
    graph, _ = draw(networks())
    choice = st.sampled_from([0, 100, KEY_BITS, 4096])
    states = {}
    for u, v, name in graph.edges(data="link"):
        by_end = ((u, draw(choice)), (v, draw(choice)))
        states[name] = LinkState(min(b for _, b in by_end), available_by_end=by_end)
    return graph, states


@settings(max_examples=150, deadline=None)
@given(halves(), st.data())
def test_a_hop_needs_key_only_at_its_sending_end(
    network: tuple[nx.Graph, dict[str, LinkState]], data: st.DataObject
) -> None:
    graph, states = network
    source, destination = data.draw(st.sampled_from(sorted(graph))), data.draw(st.sampled_from(sorted(graph)))
    directed = nx.DiGraph()
    directed.add_nodes_from(graph)
    for u, v, name in graph.edges(data="link"):
        for sender, receiver in ((u, v), (v, u)):
            if link_condition(states[name], KEY_BITS, sender=sender) is LinkCondition.USABLE:
                directed.add_edge(sender, receiver)
    if not nx.has_path(directed, source, destination):
        with pytest.raises(NoRouteError):
            choose_route(graph, states, source, destination, KEY_BITS)
        return
    route = choose_route(graph, states, source, destination, KEY_BITS)
    assert (route.kmes[0], route.kmes[-1]) == (source, destination)
    for sender, name in zip(route.kmes, route.links, strict=False):
        assert states[name].sendable_bits(sender) >= KEY_BITS


def test_a_link_drained_at_one_end_carries_relays_sent_from_the_other() -> None:
    graph = nx.Graph()
    graph.add_edges_from([("a", "b", {"link": "ab"}), ("b", "c", {"link": "bc"}), ("a", "c", {"link": "ac"})])
    states = _states(graph)
    states["ac"] = LinkState(0, available_by_end=(("a", 1 << 20), ("c", 0)))
    assert choose_route(graph, states, "a", "c", KEY_BITS).kmes == ("a", "c")
    assert choose_route(graph, states, "c", "a", KEY_BITS).kmes == ("c", "b", "a")


def test_fewest_hops_then_most_key() -> None:
    mesh = build_graph(load_scenario(SCENARIOS / "mesh.yaml"))
    states = _states(mesh)
    assert choose_route(mesh, states, "alice", "bob", KEY_BITS).hops == 3
    states["n1-n2"] = LinkState(available_key_bits=KEY_BITS)  # enough for one relay, but scarce
    states["n1-s2"] = LinkState(available_key_bits=100)  # drained for this request
    assert choose_route(mesh, states, "alice", "bob", KEY_BITS).kmes == ("alice", "s1", "s2", "bob")
    states["s1-s2"] = LinkState(available_key_bits=1 << 20, up=False)
    assert choose_route(mesh, states, "alice", "bob", KEY_BITS).kmes == ("alice", "n1", "n2", "bob")


def test_line_reports_what_blocks_the_route() -> None:
    line = build_graph(load_scenario(SCENARIOS / "line5.yaml"))
    states = _states(line)
    assert choose_route(line, states, "kme1", "kme5", KEY_BITS).hops == 4
    states["kme2-kme3"] = LinkState(available_key_bits=100)
    states["kme4-kme5"] = LinkState(available_key_bits=1 << 20, qber=0.15, alarm=True)
    del states["kme1-kme2"]
    with pytest.raises(NoRouteError) as caught:
        choose_route(line, states, "kme1", "kme5", KEY_BITS)
    message = str(caught.value)
    assert "alarmed kme4-kme5 (QBER 0.150)" in message
    assert "drained kme2-kme3 (100 bits)" in message
    assert "unknown kme1-kme2" in message


def test_no_physical_path_and_unknown_kme() -> None:
    graph = nx.Graph()
    graph.add_edge("a", "b", link="ab")
    graph.add_node("c")
    with pytest.raises(NoRouteError, match="no physical path"):
        choose_route(graph, _states(graph), "a", "c", KEY_BITS)
    with pytest.raises(UnknownKmeError, match="unknown KME 'z'"):
        choose_route(graph, _states(graph), "a", "z", KEY_BITS)


def test_franceqci_atc_route_crosses_the_backbone() -> None:
    scenario = load_scenario(SCENARIOS / "franceqci.yaml")
    graph = build_graph(scenario)
    route = choose_route(graph, _states(graph), "dsna-blagnac", "dsna-paris", KEY_BITS)
    assert {"lyon", "avignon", "castelnaudary"} <= set(route.kmes)
    assert set(graph.nodes) == {site.name for site in scenario.kme_sites}


def test_a_down_link_that_relays_its_stored_key_spends_what_it_holds_and_no_more() -> None:
    down = LinkState(available_key_bits=4096, up=False, relays_stored_key=True)
    assert link_condition(down, 4096) is LinkCondition.USABLE
    assert link_condition(down, 4097) is LinkCondition.DOWN  # drained of stored key: down, not drained
    assert link_condition(LinkState(available_key_bits=4096, up=False), 256) is LinkCondition.DOWN
    alarmed = LinkState(available_key_bits=4096, up=False, relays_stored_key=True, alarm=True)
    assert link_condition(alarmed, 256) is LinkCondition.ALARMED
