"""Least-cost design: which candidate links, trusted nodes and ground stations to build so that every
demand gets its key, optionally still after any single trusted-node failure.

The model is a mixed-integer programme solved by HiGHS through :func:`scipy.optimize.milp`:

* a binary ``y`` per candidate fibre link (cost of the link) and per candidate site (cost of the site);
  links and sites that are not candidates exist for free;
* key flows as commodities aggregated by source KME (one commodity per distinct source: exact for
  feasibility): ``f[c, l, +]`` and ``f[c, l, -]`` (kb/s, along and against a link), conserved;
* each link carries at most its mean secret key rate times ``1 - capacity_margin``: a fibre span its
  physics rate, a satellite leg the key of its passes over the period weighted by the chance of clear sky,
  divided by the period; a candidate link only if built, a link of a candidate site only if the site is
  built (so a ground station left out also loses its passes);
* with ``survivable``, one more copy of the flows per trusted node, in which that node's links carry
  nothing: every demand whose ends are not the failed node must still be routed;
* a binary per candidate repeater (quantum memories at a site), and one per path that meets an
  entanglement demand (:mod:`openqci.planner.repeaters`): each demand takes one such path, and a path
  needs the candidate repeaters, links and sites on it built.

Relay consumes key on every hop, so a demand routed over ``k`` hops takes its rate from ``k`` links: the
flow model charges it to each link it crosses. The result gives the plan, its cost, the solver's gap and
time; :func:`apply_plan` turns it into a scenario the twin can run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from openqci.planner.errors import PlanError
from openqci.planner.repeaters import ChainOption, entanglement_options
from openqci.planner.supply import cloud_probabilities, fibre_rates_bps, satellite_passes
from openqci.planner.topology import PlanNetwork, build_network, planning_of
from openqci.scenario import Scenario

__all__ = ["MAX_VARIABLES", "DesignPlan", "apply_plan", "link_capacities_bps", "optimize_design"]

MAX_VARIABLES = 3_000_000
"""Largest programme attempted (flow variables over all failure copies): beyond it the solver would need
more memory than a workstation has; the message says so instead."""

_KBPS = 1000.0


@dataclass(frozen=True)
class DesignPlan:
    """The optimiser's answer."""

    status: str
    cost: float
    gap: float
    solve_s: float
    built_links: tuple[str, ...]
    built_sites: tuple[str, ...]
    skipped_links: tuple[str, ...]
    skipped_sites: tuple[str, ...]
    survivable: bool
    variables: int
    constraints: int
    link_load_bps: dict[str, float]
    """Key rate each link carries in the intact network's flows."""
    built_repeaters: tuple[str, ...] = ()
    skipped_repeaters: tuple[str, ...] = ()
    entanglement_routes: dict[str, ChainOption] = field(default_factory=dict)
    """The chain chosen for each entanglement demand."""

    def record(self) -> dict[str, Any]:
        """A JSON-ready dictionary."""
        return {
            "status": self.status,
            "cost": self.cost,
            "gap": self.gap,
            "solve_s": self.solve_s,
            "built_links": list(self.built_links),
            "built_sites": list(self.built_sites),
            "skipped_links": list(self.skipped_links),
            "skipped_sites": list(self.skipped_sites),
            "survivable": self.survivable,
            "variables": self.variables,
            "constraints": self.constraints,
            "link_load_bps": self.link_load_bps,
            "built_repeaters": list(self.built_repeaters),
            "skipped_repeaters": list(self.skipped_repeaters),
            "entanglement_routes": {
                name: option.record() for name, option in self.entanglement_routes.items()
            },
        }


def link_capacities_bps(network: PlanNetwork, days: float) -> NDArray[np.float64]:
    """Mean key rate of every link over ``days`` days: fibre from physics, satellite legs from their passes
    (expected clear-sky key over the period)."""
    capacity = fibre_rates_bps(network)
    duration_s = days * 86_400.0
    passes = satellite_passes(network, duration_s)
    clear = 1.0 - cloud_probabilities(network, passes)
    for supply, chance in zip(passes, clear, strict=True):
        capacity[supply.link] += supply.key_bits * chance / duration_s
    return capacity


def optimize_design(
    scenario: Scenario,
    *,
    survivable: bool = False,
    days: float = 7.0,
    time_limit_s: float = 300.0,
    capacities_bps: NDArray[np.float64] | None = None,
) -> DesignPlan:
    """Choose what to build (see the module's notes).

    Raises
    ------
    PlanError
        If no choice of candidates meets every demand, the programme is too large, or the solver stops
        without a solution.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_array

    network = build_network(scenario, with_candidates=True)
    planning = planning_of(scenario)
    site_cost = {entry.site: entry.cost for entry in planning.candidate_sites}
    endpoints = {d.source for d in network.demands} | {d.destination for d in network.demands}
    candidate_links = [i for i, link in enumerate(network.links) if link.candidate_cost is not None]
    candidate_sites = sorted(site_cost)
    nodes = {name: i for i, name in enumerate(network.nodes)}
    sources = sorted({d.source for d in network.demands})
    links = network.links
    failures = [n for n in network.trusted_nodes if n not in endpoints] if survivable else []
    _check_connected_without_each(network, failures)
    copies = 1 + len(failures)
    flow_count = copies * len(sources) * len(links) * 2
    if flow_count > MAX_VARIABLES:
        raise PlanError(
            f"the programme would have {flow_count} flow variables (limit {MAX_VARIABLES}): "
            "drop --survivable or plan a smaller region"
        )
    chain_options = entanglement_options(network)
    candidate_repeaters = sorted(entry.site for entry in planning.candidate_repeaters)
    if not network.demands and not chain_options:
        return DesignPlan(
            status="optimal",
            cost=0.0,
            gap=0.0,
            solve_s=0.0,
            built_links=(),
            built_sites=(),
            skipped_links=tuple(links[i].name for i in candidate_links),
            skipped_sites=tuple(candidate_sites),
            survivable=survivable,
            variables=0,
            constraints=0,
            link_load_bps={link.name: 0.0 for link in links},
            skipped_repeaters=tuple(candidate_repeaters),
        )
    # capacities only after the size check: the passes behind the satellite legs take a while
    if capacities_bps is not None:
        capacity = capacities_bps
    else:
        capacity = link_capacities_bps(network, days) if network.demands else np.zeros(len(links))
    capacity = capacity * (1.0 - planning.capacity_margin) / _KBPS
    options = [option for name in sorted(chain_options) for option in chain_options[name]]
    y_link = {link: k for k, link in enumerate(candidate_links)}
    y_site = {site: len(y_link) + k for k, site in enumerate(candidate_sites)}
    y_repeater = {site: len(y_link) + len(y_site) + k for k, site in enumerate(candidate_repeaters)}
    z_option = len(y_link) + len(y_site) + len(y_repeater)
    n_bin = z_option + len(options)
    total = n_bin + flow_count

    def flow(copy: int, source: int, link: int, direction: int) -> int:
        return n_bin + ((copy * len(sources) + source) * len(links) + link) * 2 + direction

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    lower: list[float] = []
    upper: list[float] = []

    def row(entries: list[tuple[int, float]], low: float, high: float) -> None:
        index = len(lower)
        for col, value in entries:
            rows.append(index)
            cols.append(col)
            vals.append(value)
        lower.append(low)
        upper.append(high)

    balance = np.zeros((len(sources), len(nodes)))
    for demand in network.demands:
        s = sources.index(demand.source)
        balance[s, nodes[demand.source]] += demand.rate_bps / _KBPS
        balance[s, nodes[demand.destination]] -= demand.rate_bps / _KBPS
    upper_bounds = np.full(total, np.inf)
    upper_bounds[:n_bin] = 1.0
    for copy in range(copies):
        failed = failures[copy - 1] if copy else None
        for s in range(len(sources)):
            need = balance[s].copy()
            if failed is not None:
                need[nodes[failed]] = 0.0  # no demand ends at a failed trusted node (endpoints are excluded)
            incidence: dict[int, list[tuple[int, float]]] = {}
            for li, link in enumerate(links):
                a, b = nodes[link.site_a], nodes[link.site_b]
                forward, backward = flow(copy, s, li, 0), flow(copy, s, li, 1)
                incidence.setdefault(a, []).extend([(forward, 1.0), (backward, -1.0)])
                incidence.setdefault(b, []).extend([(forward, -1.0), (backward, 1.0)])
                if failed is not None and failed in (link.site_a, link.site_b):
                    upper_bounds[forward] = upper_bounds[backward] = 0.0
            for node, entries in incidence.items():
                row(entries, need[node], need[node])
        for li, link in enumerate(links):
            carried = [(flow(copy, s, li, d), 1.0) for s in range(len(sources)) for d in (0, 1)]
            gates = [y_link[li]] if li in y_link else []
            gates += [y_site[end] for end in (link.site_a, link.site_b) if end in y_site]
            if not gates:
                row(carried, -np.inf, capacity[li])
            for gate in gates:
                row([*carried, (gate, -capacity[li])], -np.inf, 0.0)
    for link_index in candidate_links:
        link = links[link_index]
        for end in (link.site_a, link.site_b):
            if end in y_site:
                row([(y_link[link_index], 1.0), (y_site[end], -1.0)], -np.inf, 0.0)
    _choose_chains(row, options, z_option, y_repeater, y_site, {links[i].name: k for i, k in y_link.items()})
    lower_bounds = np.zeros(total)
    for site in candidate_sites:
        if site in endpoints:
            lower_bounds[y_site[site]] = 1.0
    cost = np.zeros(total)
    for link_index, k in y_link.items():
        cost[k] = float(links[link_index].candidate_cost or 0.0)
    for site, k in y_site.items():
        cost[k] = site_cost[site]
    repeater_cost = {entry.site: entry.cost for entry in planning.candidate_repeaters}
    for site, k in y_repeater.items():
        cost[k] = repeater_cost[site]
    integrality = np.zeros(total, dtype=np.int64)
    integrality[:n_bin] = 1
    matrix = coo_array((vals, (rows, cols)), shape=(len(lower), total)).tocsr()
    started = time.perf_counter()
    result = milp(
        cost,
        constraints=LinearConstraint(matrix, np.array(lower), np.array(upper)),
        integrality=integrality,
        bounds=Bounds(lower_bounds, upper_bounds),
        options={"time_limit": time_limit_s, "mip_rel_gap": 1e-6, "presolve": True},
    )
    solve_s = time.perf_counter() - started
    if result.status == 2:
        raise PlanError(_infeasible_message(network, capacity, survivable))
    if result.x is None:
        raise PlanError(f"the solver stopped without a design: {result.message}")
    x = np.asarray(result.x)
    chosen = x[:n_bin] > 0.5
    built_links = tuple(links[i].name for i in candidate_links if chosen[y_link[i]])
    built_sites = tuple(site for site in candidate_sites if chosen[y_site[site]])
    load = {
        link.name: float(sum(x[flow(0, s, li, d)] for s in range(len(sources)) for d in (0, 1)) * _KBPS)
        for li, link in enumerate(links)
    }
    gap = getattr(result, "mip_gap", None)
    return DesignPlan(
        status="optimal" if result.status == 0 else "time limit (best found)",
        cost=float(cost[:n_bin] @ chosen),
        gap=float(gap) if gap is not None else 0.0,
        solve_s=solve_s,
        built_links=built_links,
        built_sites=built_sites,
        skipped_links=tuple(links[i].name for i in candidate_links if not chosen[y_link[i]]),
        skipped_sites=tuple(site for site in candidate_sites if not chosen[y_site[site]]),
        survivable=survivable,
        variables=total,
        constraints=len(lower),
        link_load_bps=load,
        built_repeaters=tuple(site for site in candidate_repeaters if chosen[y_repeater[site]]),
        skipped_repeaters=tuple(site for site in candidate_repeaters if not chosen[y_repeater[site]]),
        entanglement_routes={
            option.demand: option for k, option in enumerate(options) if chosen[z_option + k]
        },
    )


def _choose_chains(
    row: Callable[[list[tuple[int, float]], float, float], None],
    options: list[ChainOption],
    first: int,
    y_repeater: dict[str, int],
    y_site: dict[str, int],
    y_link: dict[str, int],
) -> None:
    """Each entanglement demand takes one of its paths; a path needs what it crosses built."""
    by_demand: dict[str, list[int]] = {}
    for k, option in enumerate(options):
        z = first + k
        by_demand.setdefault(option.demand, []).append(z)
        gates = [y_repeater[site] for site in option.repeaters]
        gates += [y_site[site] for site in option.sites if site in y_site]
        gates += [y_link[name] for name in option.links if name in y_link]
        for gate in gates:
            row([(z, 1.0), (gate, -1.0)], -np.inf, 0.0)
    for zs in by_demand.values():
        row([(z, 1.0) for z in zs], 1.0, 1.0)


def apply_plan(scenario: Scenario, plan: DesignPlan) -> Scenario:
    """``scenario`` as built by ``plan``: chosen candidate links become links, candidate sites left out are
    removed with their links, satellite legs, weather and SAEs; the candidates are cleared."""
    planning = planning_of(scenario)
    dropped = set(plan.skipped_sites)
    raw = scenario.model_dump(mode="json", exclude_defaults=True)
    raw["sites"] = [s for s in raw["sites"] if s["name"] not in dropped]
    memories = {entry.site: entry.quantum for entry in planning.candidate_repeaters}
    for site in raw["sites"]:
        if site["name"] in plan.built_repeaters:
            site["quantum"] = memories[site["name"]].model_dump(mode="json", exclude_defaults=True)
    raw["links"] = [
        link
        for link in raw.get("links", [])
        if link["site_a"] not in dropped and link["site_b"] not in dropped
    ]
    for candidate in planning.candidate_links:
        if candidate.name in plan.built_links:
            entry: dict[str, Any] = {
                "name": candidate.name,
                "site_a": candidate.site_a,
                "site_b": candidate.site_b,
                "preset": candidate.preset,
            }
            if candidate.length_km is not None:
                entry["length_km"] = candidate.length_km
            else:
                entry["route_factor"] = candidate.route_factor
            raw["links"].append(entry)
    for satellite in raw.get("satellites", []):
        kept = [g for g in satellite.get("ground_stations", []) if g not in dropped]
        satellite["ground_stations"] = kept
    raw["saes"] = [sae for sae in raw.get("saes", []) if sae["kme"] not in dropped]
    kept_saes = {sae["name"] for sae in raw["saes"]}
    raw["demands"] = [
        d for d in raw.get("demands", []) if d["master_sae"] in kept_saes and d["slave_sae"] in kept_saes
    ]
    section = raw.get("planning")
    if section is not None:
        section["climate"] = [c for c in section.get("climate", []) if c["station"] not in dropped]
        section["candidate_links"] = []
        section["candidate_sites"] = []
        section["candidate_repeaters"] = []
    raw.pop("include", None)
    return Scenario.model_validate(raw)


def _check_connected_without_each(network: PlanNetwork, failures: list[str]) -> None:
    """Refuse survivability at once where a node's failure cuts demands off whatever is built.

    A trusted node on a single-path corridor disconnects the demands beyond it even with every candidate
    built; no programme is needed (nor, on a large network, could one of that size be solved) to say so.
    """
    import networkx as nx

    graph = network.graph()
    cut: dict[str, list[str]] = {}
    for node in failures:
        without = nx.restricted_view(graph, [node], [])
        for demand in network.demands:
            if demand.source != demand.destination and not nx.has_path(
                without, demand.source, demand.destination
            ):
                cut.setdefault(node, []).append(demand.name)
    if cut:
        shown = sorted(cut.items(), key=lambda item: -len(item[1]))
        lines = [
            f"{node} ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})" for node, names in shown
        ]
        more = f" and {len(lines) - 5} more nodes" if len(lines) > 5 else ""
        raise PlanError(
            f"no design survives every single trusted-node failure: even with every candidate built, "
            f"{len(cut)} nodes each cut demands off: {'; '.join(lines[:5])}{more}"
        )


def _infeasible_message(network: PlanNetwork, capacity: NDArray[np.float64], survivable: bool) -> str:
    """Name the demands that cannot be met even alone with every candidate built (a max-flow check)."""
    import networkx as nx

    graph = nx.DiGraph()
    for link, kbps in zip(network.links, capacity, strict=True):
        for u, v in ((link.site_a, link.site_b), (link.site_b, link.site_a)):
            previous = graph.get_edge_data(u, v, {"capacity": 0.0})["capacity"]
            graph.add_edge(u, v, capacity=previous + float(kbps) * _KBPS)
    alone = []
    for demand in network.demands:
        if demand.source == demand.destination:
            continue
        reach = 0.0
        if demand.source in graph and demand.destination in graph:
            reach = nx.maximum_flow_value(graph, demand.source, demand.destination)
        if reach < demand.rate_bps:
            alone.append(f"{demand.name} ({demand.rate_bps:.4g} b/s, at most {reach:.4g})")
    kind = " with every demand still met after any single trusted-node failure" if survivable else ""
    if alone:
        return (
            f"no choice of candidates meets every demand{kind}: even alone, with every candidate built, "
            f"these exceed the key the network can carry to them: {', '.join(alone)}"
        )
    return (
        f"no choice of candidates meets every demand{kind}: each fits alone, but not all together "
        "(links shared by several demands lack key): add candidates, raise capacities or lower the demands"
    )
