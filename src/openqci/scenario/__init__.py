"""The scenario model: one YAML file per network, validated, with its JSON Schema; no runtime.

The network runtime, the planner and the operations view all read networks through this package, so it
loads no numerics beyond numpy: :func:`load_scenario` is the only place that touches a file, and every
other layer receives the validated :class:`Scenario`.
"""

from __future__ import annotations

from openqci.scenario.devices import DeviceSettings
from openqci.scenario.errors import ScenarioError
from openqci.scenario.geo import EARTH_MEAN_RADIUS_KM, great_circle_km
from openqci.scenario.model import (
    DEFAULT_ROUTE_FACTOR,
    Demand,
    Etsi014Device,
    FibreLink,
    FilesDevice,
    KeySourceKind,
    LinkProtocol,
    OrbitalElements,
    RoutingPolicy,
    Sae,
    Satellite,
    Scenario,
    Site,
    SiteRole,
    TwoLineElements,
    load_scenario,
    scenario_json_schema,
)

__all__ = [
    "DEFAULT_ROUTE_FACTOR",
    "EARTH_MEAN_RADIUS_KM",
    "Demand",
    "DeviceSettings",
    "Etsi014Device",
    "FibreLink",
    "FilesDevice",
    "KeySourceKind",
    "LinkProtocol",
    "OrbitalElements",
    "RoutingPolicy",
    "Sae",
    "Satellite",
    "Scenario",
    "ScenarioError",
    "Site",
    "SiteRole",
    "TwoLineElements",
    "great_circle_km",
    "load_scenario",
    "scenario_json_schema",
]
