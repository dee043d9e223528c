"""The network runtime: key-aware routing, link key supply, the controller and the launcher.

The scenario model lives in :mod:`openqci.scenario` (read once by ``load_scenario``); routing, supply and
everything here take the validated ``Scenario``. The controller (:class:`Controller`) owns the live
topology of a running network; :mod:`openqci.network.launcher` runs a whole network on one machine.
"""

from __future__ import annotations

from openqci.network.alarms import Alarm, AlarmKind, AlarmRules
from openqci.network.controller import Controller
from openqci.network.errors import (
    LaunchError,
    NetworkError,
    NoRouteError,
    RoutingError,
    UnknownKmeError,
    UnknownLinkError,
)
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
from openqci.network.supply import LinkSupply, expected_supply, link_supply
from openqci.network.topology import LinkEndReport, LinkStatus, NodeReport, NodeStatus

__all__ = [
    "Alarm",
    "AlarmKind",
    "AlarmRules",
    "ChannelEvent",
    "Controller",
    "LaunchError",
    "LinkCondition",
    "LinkEndReport",
    "LinkPlan",
    "LinkState",
    "LinkStatus",
    "LinkSupply",
    "NetworkError",
    "NoRouteError",
    "NodeReport",
    "NodeStatus",
    "Route",
    "RoutingError",
    "UnknownKmeError",
    "UnknownLinkError",
    "build_graph",
    "choose_route",
    "expected_supply",
    "link_condition",
    "link_supply",
    "link_weight",
]
