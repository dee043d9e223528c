"""What ``./run demo`` runs: a QCI from nothing, its links making key, and its users' exchange.

:func:`run_demo` launches FranceQCI on this machine, lets its links make key, sends simulated air-traffic
surveillance tracks (ASTERIX CAT062) from the civil-aviation site in Toulouse to the control centre in the
Paris region over the encrypted channel with hybrid keys relayed across the trusted nodes, and cuts one
fibre of the route halfway. :class:`DemoResult` holds the figures; ``openqci.reports.demo_report`` renders
them as an offline HTML page (``docs/services.md``, section "The demonstration").
"""

from __future__ import annotations

from openqci.demo.figures import DemoResult, LinkFigures, keys_per_hour, link_figures
from openqci.demo.run import DEFAULT_SCENARIO, DemoObserver, DemoSettings, run_demo

__all__ = [
    "DEFAULT_SCENARIO",
    "DemoObserver",
    "DemoResult",
    "DemoSettings",
    "LinkFigures",
    "keys_per_hour",
    "link_figures",
    "run_demo",
]
