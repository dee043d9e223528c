"""The network runtime: key-aware routing, link key supply, the controller and the launcher.

The scenario model lives in :mod:`openqci.scenario` (read once by ``load_scenario``); routing, supply and
everything here take the validated ``Scenario``. The controller (:class:`Controller`) owns the live
topology of a running network; :mod:`openqci.network.launcher` runs a whole network on one machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openqci._lazy import lazy_exports

# Each process of a launched network (39 site processes for FranceQCI) imports a few modules of this
# package; importing the controller, routing (networkx) and the scenario model with every one of them
# cost about 0.7 s of CPU per process at start-up. The names below are therefore loaded on first use.
_EXPORTS = {
    "Alarm": "openqci.network.alarms",
    "AlarmKind": "openqci.network.alarms",
    "AlarmRules": "openqci.network.alarms",
    "ChannelEvent": "openqci.network.link_simulator",
    "Controller": "openqci.network.controller",
    "LaunchError": "openqci.network.errors",
    "LinkCondition": "openqci.network.routing",
    "LinkEndReport": "openqci.network.topology",
    "LinkPlan": "openqci.network.link_simulator",
    "LinkState": "openqci.network.routing",
    "LinkStatus": "openqci.network.topology",
    "LinkSupply": "openqci.network.supply",
    "NetworkError": "openqci.network.errors",
    "NoRouteError": "openqci.network.errors",
    "NodeReport": "openqci.network.topology",
    "NodeStatus": "openqci.network.topology",
    "Route": "openqci.network.routing",
    "RoutingError": "openqci.network.errors",
    "UnknownKmeError": "openqci.network.errors",
    "UnknownLinkError": "openqci.network.errors",
    "build_graph": "openqci.network.routing",
    "choose_route": "openqci.network.routing",
    "expected_supply": "openqci.network.supply",
    "link_condition": "openqci.network.routing",
    "link_supply": "openqci.network.supply",
    "link_weight": "openqci.network.routing",
}

if TYPE_CHECKING:
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


__getattr__ = lazy_exports(__name__, _EXPORTS)


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
