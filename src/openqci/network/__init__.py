"""The trusted-node network: scenarios, key-aware routing, link key supply, the controller and the launcher.

A scenario file is read once, by :func:`load_scenario`; routing, supply and everything built later take the
validated :class:`Scenario`. The controller (:class:`Controller`) owns the live topology of a running
network; :mod:`openqci.network.launcher` runs a whole network on one machine.
"""

from __future__ import annotations

from openqci.network.alarms import Alarm, AlarmKind, AlarmRules
from openqci.network.controller import Controller
from openqci.network.errors import (
    LaunchError,
    NetworkError,
    NoRouteError,
    RoutingError,
    ScenarioError,
    UnknownKmeError,
    UnknownLinkError,
)
from openqci.network.geo import EARTH_MEAN_RADIUS_KM, great_circle_km
from openqci.network.link_simulator import ChannelEvent, LinkPlan
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
from openqci.network.topology import LinkEndReport, LinkStatus, NodeReport, NodeStatus

__all__ = [
    "DEFAULT_ROUTE_FACTOR",
    "EARTH_MEAN_RADIUS_KM",
    "Alarm",
    "AlarmKind",
    "AlarmRules",
    "ChannelEvent",
    "Controller",
    "Demand",
    "FibreLink",
    "LaunchError",
    "LinkCondition",
    "LinkEndReport",
    "LinkPlan",
    "LinkProtocol",
    "LinkState",
    "LinkStatus",
    "LinkSupply",
    "NetworkError",
    "NoRouteError",
    "NodeReport",
    "NodeStatus",
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
    "UnknownLinkError",
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
