"""The twin's check of a planned network: does the design the optimiser chose meet every demand?

The optimiser plans on mean rates (a satellite leg's pass key spread over the period) and without link
outages. The twin then runs the planned network minute by minute twice: as the optimiser saw it (no
random failures, no scheduled outages), where every demand should be met if the design is right, and with
the scenario's outages, where a demand on a single-path corridor can fail whatever is built. Each failing
demand is given its cause, read from the links of the routes it took: a link that was down (for how long)
or a store that ran empty (for what share of the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openqci.planner.metrics import twin_metrics
from openqci.planner.twin import run_twin
from openqci.scenario import Scenario

__all__ = ["TwinCheck", "check_design", "without_outages"]

_EMPTY_SHARE = 0.01
"""A store empty for more than this share of the steps is named as a cause."""


@dataclass(frozen=True)
class TwinCheck:
    """One twin run of a planned network."""

    days: float
    outages: bool
    demands: int
    satisfied: int
    failing: tuple[dict[str, Any], ...]
    """``name``, ``met_fraction`` and ``causes`` of each demand not satisfied."""

    def record(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "days": self.days,
            "outages": self.outages,
            "demands": self.demands,
            "satisfied": self.satisfied,
            "failing": list(self.failing),
        }


def without_outages(scenario: Scenario) -> Scenario:
    """``scenario`` with neither random link failures nor scheduled outages."""
    if scenario.planning is None:
        return scenario
    planning = scenario.planning.model_copy(update={"link_mtbf_hours": None, "outages": ()})
    return scenario.model_copy(update={"planning": planning})


def check_design(planned: Scenario, days: float, *, seed: int = 0, outages: bool) -> TwinCheck:
    """Run the twin on ``planned`` for ``days`` days, with the scenario's outages or without any."""
    scenario = planned if outages else without_outages(planned)
    metrics = twin_metrics(run_twin(scenario, days, seed=seed, failures=False))
    links = {link["name"]: link for link in metrics["links"]}
    hours = metrics["steps"] * metrics["step_s"] / 3600.0
    failing = []
    for demand in metrics["demands"]:
        if demand["satisfied"]:
            continue
        used = {name for route in demand["routes"] if route["steps"] > 0 for name in route["links"]}
        failing.append(
            {
                "name": demand["name"],
                "met_fraction": demand["met_fraction"],
                "causes": _causes([links[name] for name in sorted(used)], hours, demand["routable"]),
            }
        )
    return TwinCheck(
        days=days,
        outages=outages,
        demands=len(metrics["demands"]),
        satisfied=metrics["totals"]["demands_satisfied"],
        failing=tuple(failing),
    )


def _causes(links: list[dict[str, Any]], hours: float, routable: bool) -> list[str]:
    if not routable:
        return ["no route between its KMEs"]
    causes = [
        f"{link['name']} down {(1.0 - link['up_fraction']) * hours:.1f} h"
        for link in links
        if link["up_fraction"] < 1.0
    ]
    causes += [
        f"{link['name']}'s store empty {100 * link['empty_fraction']:.0f} % of the time"
        for link in links
        if link["up_fraction"] == 1.0 and link["empty_fraction"] > _EMPTY_SHARE
    ]
    return causes or ["key short on its routes"]
