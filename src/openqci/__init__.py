"""OpenQCI: software for a Quantum Communication Infrastructure, from photons to applications.

The names below make the Python API (``docs/api.md``): key rates and reach, devices of one's own, a link
that makes key, scenarios and their expected supply, figures. They load on first use (PEP 562), so
``import openqci`` reads no file and imports neither scipy, numba nor the link engine; type checkers and
IDEs see them through the ``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openqci._lazy import lazy_exports

if TYPE_CHECKING:
    from openqci.api import make_system, max_distance_km, preset_names, run_link, secret_key_rate
    from openqci.errors import OpenQciError
    from openqci.link.run import LinkRunReport
    from openqci.network.supply import LinkSupply, expected_supply
    from openqci.physics.decoy_bb84 import DecoyMethod
    from openqci.physics.devices import Detector, QkdSystem, WeakCoherentSource
    from openqci.physics.keyrate import KeyRateResult
    from openqci.physics.presets import get_preset
    from openqci.physics.protocols import Protocol
    from openqci.reports.rate_plot import plot_rate_versus_distance
    from openqci.scenario.errors import ScenarioError
    from openqci.scenario.model import Scenario, load_scenario

__all__ = [
    "DecoyMethod",
    "Detector",
    "KeyRateResult",
    "LinkRunReport",
    "LinkSupply",
    "OpenQciError",
    "Protocol",
    "QkdSystem",
    "Scenario",
    "ScenarioError",
    "WeakCoherentSource",
    "__version__",
    "expected_supply",
    "get_preset",
    "load_scenario",
    "make_system",
    "max_distance_km",
    "plot_rate_versus_distance",
    "preset_names",
    "run_link",
    "secret_key_rate",
]

__version__ = "0.1.0"

_HOMES = {
    "DecoyMethod": "openqci.physics.decoy_bb84",
    "Detector": "openqci.physics.devices",
    "KeyRateResult": "openqci.physics.keyrate",
    "LinkRunReport": "openqci.link.run",
    "LinkSupply": "openqci.network.supply",
    "OpenQciError": "openqci.errors",
    "Protocol": "openqci.physics.protocols",
    "QkdSystem": "openqci.physics.devices",
    "Scenario": "openqci.scenario.model",
    "ScenarioError": "openqci.scenario.errors",
    "WeakCoherentSource": "openqci.physics.devices",
    "expected_supply": "openqci.network.supply",
    "get_preset": "openqci.physics.presets",
    "load_scenario": "openqci.scenario.model",
    "make_system": "openqci.api",
    "max_distance_km": "openqci.api",
    "plot_rate_versus_distance": "openqci.reports.rate_plot",
    "preset_names": "openqci.api",
    "run_link": "openqci.api",
    "secret_key_rate": "openqci.api",
}
"""Where each public name lives; its module is imported the first time the name is read."""


__getattr__ = lazy_exports(__name__, _HOMES)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
