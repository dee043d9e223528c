"""Every figure of a twin run as one JSON-ready document (``metrics.json``, ``--json``).

Per demand: the fraction of steps its key was met in full, the key it lacked, the key within reach on its
route (the buffer that matters to it) and the routes it used. Per link: key made, used and thrown away
(store full), utilisation (used over made), and how often its store limited a demand (binding) or was
empty. Bottlenecks are the links that limited demands, worst first. Failures list, for each trusted node,
the demands satisfied in the intact network that are no longer satisfied when that node is gone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openqci.planner.engine import EngineRun
from openqci.planner.topology import planning_of
from openqci.planner.twin import TwinResult

__all__ = ["failure_table", "twin_metrics"]


def twin_metrics(result: TwinResult) -> dict[str, Any]:
    """The figures of ``result`` (see the module's notes)."""
    network, run, plan = result.network, result.run, result.schedule
    required = planning_of(network.scenario).required_met_fraction
    steps = plan.steps
    met_fraction = run.met_steps[0] / steps
    demands = []
    for index, demand in enumerate(network.demands):
        available = run.available_series[:, index] if run.available_series is not None else np.zeros(1)
        routes = [
            {
                "links": [network.links[i].name for i in path],
                "hops": len(path),
                "steps": int(run.route_steps[0, index, k]),
            }
            for k, path in enumerate(result.paths[index])
        ]
        demands.append(
            {
                "name": demand.name,
                "source": demand.source,
                "destination": demand.destination,
                "rate_bps": demand.rate_bps,
                "met_fraction": float(met_fraction[index]),
                "satisfied": bool(met_fraction[index] >= required),
                "needed_bits": float(plan.need_bits[index] * steps),
                "served_bits": float(run.served[0, index]),
                "shortfall_bits": float(run.shortfall[0, index]),
                "mean_available_bits": _finite(float(np.mean(available))),
                "min_available_bits": _finite(float(np.min(available))),
                "routable": bool(result.paths[index]),
                "routes": routes,
            }
        )
    links = []
    for index, link in enumerate(network.links):
        produced = float(run.produced[0, index] + run.initial[0, index])
        consumed = float(run.consumed[0, index])
        buffers = run.buffers[:, index] if run.buffers is not None else np.zeros(1)
        passes = [p for p in result.events.passes if p.link == index]
        links.append(
            {
                "name": link.name,
                "kind": str(link.kind),
                "site_a": link.site_a,
                "site_b": link.site_b,
                "preset": link.preset,
                "length_km": link.length_km,
                "rate_bps": float(plan.rate_bps[index]),
                "produced_bits": produced,
                "consumed_bits": consumed,
                "wasted_bits": float(run.wasted[0, index]),
                "utilisation": consumed / produced if produced > 0 else 0.0,
                "binding_fraction": float(run.binding_steps[0, index] / steps),
                "empty_fraction": float(run.empty_steps[0, index] / steps),
                "mean_buffer_bits": float(np.mean(buffers)),
                "up_fraction": float(np.mean(plan.up[:, index])),
                "passes": len(passes),
            }
        )
    clouded = int(np.sum(result.events.clouded))
    return {
        "scenario": network.scenario.name,
        "days": result.days,
        "seed": result.seed,
        "step_s": plan.step_s,
        "steps": steps,
        "start": planning_of(network.scenario).start.isoformat(),
        "required_met_fraction": required,
        "totals": {
            "sites": len(network.scenario.sites),
            "links": len(network.links),
            "fibre_links": sum(1 for link in network.links if str(link.kind) == "fibre"),
            "satellite_legs": sum(1 for link in network.links if str(link.kind) == "satellite"),
            "trusted_nodes": len(network.trusted_nodes),
            "demands": len(network.demands),
            "demands_satisfied": sum(1 for d in demands if d["satisfied"]),
            "passes": len(result.events.passes),
            "clouded_passes": clouded,
            "outages": len(result.events.outages),
            "key_produced_bits": float(np.sum(run.produced) + np.sum(run.initial)),
            "key_consumed_bits": float(np.sum(run.consumed)),
            "key_wasted_bits": float(np.sum(run.wasted)),
            "min_met_fraction": float(np.min(met_fraction)) if len(demands) else 1.0,
        },
        "demands": demands,
        "links": links,
        "bottlenecks": _bottlenecks(result, links),
        "failures": failure_table(result),
    }


def failure_table(result: TwinResult) -> list[dict[str, Any]]:
    """For each trusted node: the demands that stop being satisfied, and those left with no route."""
    if result.failures is None or result.failure_baseline is None:
        return []
    network = result.network
    required = planning_of(network.scenario).required_met_fraction
    base = _met(result.failure_baseline)
    rows = []
    for node, world in result.failures.items():
        met = _met(world)
        failed = [d.name for i, d in enumerate(network.demands) if base[i] >= required > met[i]]
        cut = [
            d.name
            for i, d in enumerate(network.demands)
            if world.route_steps[0, i].sum() == 0 and result.failure_baseline.route_steps[0, i].sum() > 0
        ]
        rows.append({"node": node, "failed_demands": failed, "disconnected_demands": cut})
    return sorted(rows, key=lambda row: (-len(row["failed_demands"]), row["node"]))


def _met(run: EngineRun) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.asarray(run.met_steps[0] / run.steps, dtype=float)


def _bottlenecks(result: TwinResult, links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Links whose store limited a demand, most often first, with the demands routed over them."""
    rows = []
    for index, link in enumerate(links):
        if link["binding_fraction"] <= 0.0:
            continue
        users = sorted(
            {
                result.network.demands[d].name
                for d, paths in enumerate(result.paths)
                for k, path in enumerate(paths)
                if index in path and result.run.route_steps[0, d, k] > 0
            }
        )
        rows.append(
            {
                "link": link["name"],
                "binding_fraction": link["binding_fraction"],
                "utilisation": link["utilisation"],
                "demands": users,
            }
        )
    return sorted(rows, key=lambda row: -row["binding_fraction"])


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None
