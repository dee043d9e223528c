"""The trusted-node network: the scenario model, key-aware routing and the expected key supply of links.

A scenario file is read once, by :func:`load_scenario`; routing, supply and everything built later take the
validated :class:`Scenario`.
"""

from __future__ import annotations

from openqci.network.errors import NetworkError, NoRouteError, RoutingError, ScenarioError, UnknownKmeError
from openqci.network.geo import EARTH_MEAN_RADIUS_KM, great_circle_km
from openqci.network.routing import (
    LinkCondition,
    LinkState,
    Route,
    build_graph,
    choose_route,
    link_condition,
    link_weight,
)
from openqci.network.scenario import (
    DEFAULT_ROUTE_FACTOR,
    Demand,
    FibreLink,
    LinkProtocol,
    OrbitalElements,
    Sae,
    Satellite,
    Scenario,
    Site,
    SiteRole,
    TwoLineElements,
    load_scenario,
    scenario_json_schema,
)
from openqci.network.supply import LinkSupply, expected_supply, link_supply

__all__ = [
    "DEFAULT_ROUTE_FACTOR",
    "EARTH_MEAN_RADIUS_KM",
    "Demand",
    "FibreLink",
    "LinkCondition",
    "LinkProtocol",
    "LinkState",
    "LinkSupply",
    "NetworkError",
    "NoRouteError",
    "OrbitalElements",
    "Route",
    "RoutingError",
    "Sae",
    "Satellite",
    "Scenario",
    "ScenarioError",
    "Site",
    "SiteRole",
    "TwoLineElements",
    "UnknownKmeError",
    "build_graph",
    "choose_route",
    "expected_supply",
    "great_circle_km",
    "link_condition",
    "link_supply",
    "link_weight",
    "load_scenario",
    "scenario_json_schema",
]
