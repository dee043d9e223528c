"""The planner's view of a scenario: nodes, key-making links (fibre spans and satellite legs), demands.

A satellite is a trusted relay: it becomes a node of its own, joined to each ground station it serves by a
*satellite leg* named ``SATELLITE~STATION``. Key from a pass lands in that leg's store (held on board and at
the station); a key relayed from one station to another through the satellite spends key of both legs, as
a fibre relay spends key of every span it crosses. A demand runs between the KMEs of its two SAEs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import networkx as nx

from openqci.scenario import Scenario, SiteRole
from openqci.scenario.planning import Planning

__all__ = [
    "SATELLITE_HOP_COST",
    "LinkKind",
    "PlanDemand",
    "PlanLink",
    "PlanNetwork",
    "build_network",
    "planning_of",
]


SATELLITE_HOP_COST = 20.0
"""Route cost of a satellite leg, in fibre hops: key from passes is scarce, so a route goes through a
satellite only when fibre would need about forty more hops or does not reach at all."""


class LinkKind(StrEnum):
    """How a planner link makes its key."""

    FIBRE = "fibre"
    SATELLITE = "satellite"


@dataclass(frozen=True)
class PlanLink:
    """One key-making link: a fibre span or a satellite leg; ``preset`` is the physics or mission preset."""

    name: str
    site_a: str
    site_b: str
    kind: LinkKind
    preset: str
    length_km: float
    protocol: str = "decoy-bb84"
    candidate_cost: float | None = None
    """Cost when the link is only a candidate of the optimiser; None for a link that exists."""


@dataclass(frozen=True)
class PlanDemand:
    """A demand between the KMEs of its SAEs, at the rate it consumes."""

    name: str
    source: str
    destination: str
    rate_bps: float


@dataclass(frozen=True)
class PlanNetwork:
    """Everything the twin and the optimiser need to know about the topology."""

    scenario: Scenario
    nodes: tuple[str, ...]
    links: tuple[PlanLink, ...]
    demands: tuple[PlanDemand, ...]
    trusted_nodes: tuple[str, ...]
    """Sites with the trusted-node role, and the satellites (trusted relays in orbit)."""

    def graph(self, *, without_nodes: frozenset[str] = frozenset()) -> nx.Graph:
        """The routing graph without ``without_nodes``: each edge has its link's ``index``, its route
        ``cost`` and ``satellite`` (a leg); each node ``satellite`` (a satellite, not a site)."""
        graph = nx.Graph()
        satellites = {link.site_a for link in self.links if link.kind is LinkKind.SATELLITE}
        graph.add_nodes_from(
            (node, {"satellite": node in satellites}) for node in self.nodes if node not in without_nodes
        )
        for index, link in enumerate(self.links):
            if link.site_a in without_nodes or link.site_b in without_nodes:
                continue
            satellite = link.kind is LinkKind.SATELLITE
            cost = SATELLITE_HOP_COST if satellite else 1.0
            graph.add_edge(link.site_a, link.site_b, index=index, cost=cost, satellite=satellite)
        return graph

    def link_index(self) -> dict[str, int]:
        """Link positions by name."""
        return {link.name: index for index, link in enumerate(self.links)}


def planning_of(scenario: Scenario) -> Planning:
    """The scenario's planning section, or the defaults when it has none."""
    return scenario.planning if scenario.planning is not None else Planning()


def build_network(scenario: Scenario, *, with_candidates: bool = False) -> PlanNetwork:
    """The planner's network of ``scenario``; ``with_candidates`` adds the candidate fibre links."""
    links = [
        PlanLink(
            link.name,
            link.site_a,
            link.site_b,
            LinkKind.FIBRE,
            link.preset,
            scenario.link_length_km(link),
            str(link.protocol),
        )
        for link in scenario.links
    ]
    for satellite in scenario.satellites:
        for station in satellite.ground_stations:
            name = f"{satellite.name}~{station}"
            links.append(PlanLink(name, satellite.name, station, LinkKind.SATELLITE, satellite.preset, 0.0))
    if with_candidates:
        links += _candidate_links(scenario)
    sites = scenario.sites_by_name
    saes = scenario.saes_by_name
    demands = tuple(
        PlanDemand(d.name, saes[d.master_sae].kme, saes[d.slave_sae].kme, d.required_rate_bps)
        for d in scenario.demands
    )
    nodes = tuple(site.name for site in scenario.sites) + tuple(sat.name for sat in scenario.satellites)
    trusted = tuple(name for name, site in sites.items() if SiteRole.TRUSTED_NODE in site.roles)
    return PlanNetwork(
        scenario=scenario,
        nodes=nodes,
        links=tuple(links),
        demands=demands,
        trusted_nodes=trusted + tuple(sat.name for sat in scenario.satellites),
    )


def _candidate_links(scenario: Scenario) -> list[PlanLink]:
    from openqci.scenario.geo import great_circle_km

    sites = scenario.sites_by_name
    result = []
    for candidate in planning_of(scenario).candidate_links:
        length = candidate.length_km
        if length is None:
            a, b = sites[candidate.site_a], sites[candidate.site_b]
            distance = great_circle_km(a.latitude_deg, a.longitude_deg, b.latitude_deg, b.longitude_deg)
            length = float(distance) * candidate.route_factor
        result.append(
            PlanLink(
                candidate.name,
                candidate.site_a,
                candidate.site_b,
                LinkKind.FIBRE,
                candidate.preset,
                length,
                candidate_cost=candidate.cost,
            )
        )
    return result
