"""The digital twin: a scenario run over days, and the same run with each trusted node failed in turn.

:func:`run_twin` draws the period's events (passes, clouds, outages), lays them on a grid of minutes and
runs the engine with every series recorded; then it reruns the same events on a coarser grid in one world
per trusted node (that node and its links gone, routes recomputed around it) to find which demands fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from openqci.planner.engine import EngineRun, simulate
from openqci.planner.routes import Path, candidate_paths, failure_paths, path_array
from openqci.planner.schedule import Events, Schedule, draw_events, schedule
from openqci.planner.topology import PlanNetwork, build_network, planning_of
from openqci.scenario import Scenario

__all__ = ["FAILURE_STEP_S", "STEP_S", "TwinResult", "run_twin"]

STEP_S = 60.0
"""The twin's time step: one minute."""

FAILURE_STEP_S = 3600.0
"""Time step of the single-failure worlds: an hour (the same events on a coarser grid; with one world per
trusted node this keeps the analysis of EuroQCI's 230 nodes to a few seconds)."""

Progress = Callable[[str, int, int], None]
"""Called with a stage name, steps done and steps in all."""


@dataclass(frozen=True)
class TwinResult:
    """A twin run: the network, its events and schedule, the candidate routes and the engine's figures."""

    network: PlanNetwork
    days: float
    seed: int
    events: Events
    schedule: Schedule
    paths: list[list[Path]]
    run: EngineRun
    failures: dict[str, EngineRun] | None
    """Per failed trusted node, its world's totals (None when the analysis was not asked for)."""
    failure_baseline: EngineRun | None
    """The intact network on the failure analysis's grid, to compare the failure worlds with."""


def run_twin(
    scenario: Scenario,
    days: float,
    *,
    seed: int = 0,
    step_s: float = STEP_S,
    failures: bool = True,
    failure_step_s: float = FAILURE_STEP_S,
    rate_scale: float = 1.0,
    cloud_scale: float = 1.0,
    demand_scale: float = 1.0,
    events: Events | None = None,
    progress: Progress | None = None,
) -> TwinResult:
    """Run ``scenario`` for ``days`` days in steps of ``step_s`` seconds (see the module's notes)."""
    network = build_network(scenario)
    if events is None:
        events = draw_events(network, days, seed, rate_scale=rate_scale, cloud_scale=cloud_scale)
    plan = schedule(network, events, step_s, demand_scale=demand_scale)
    pool = candidate_paths(network, network.graph())
    links = len(network.links)
    paths = path_array(pool, pad=links, no_path=links + 1)[None]
    dead = np.zeros((1, links), dtype=bool)
    report = None if progress is None else (lambda done: progress("twin", done, plan.steps))
    run = simulate(plan, paths, dead, record=True, progress=report)
    failed_runs: dict[str, EngineRun] | None = None
    baseline: EngineRun | None = None
    if failures and network.trusted_nodes:
        baseline, failed_runs = _failure_worlds(network, events, pool, failure_step_s, demand_scale, progress)
    return TwinResult(network, days, seed, events, plan, pool, run, failed_runs, baseline)


def _failure_worlds(
    network: PlanNetwork,
    events: Events,
    pool: list[list[Path]],
    step_s: float,
    demand_scale: float,
    progress: Progress | None,
) -> tuple[EngineRun, dict[str, EngineRun]]:
    """One world for the intact network and one per trusted node, all on the coarse grid in one run."""
    plan = schedule(network, events, min(step_s, events.duration_s), demand_scale=demand_scale)
    links = len(network.links)
    nodes = network.trusted_nodes
    per_world = [pool] + [failure_paths(network, pool, node) for node in nodes]
    hops = max(1, max((len(p) for world in per_world for ps in world for p in ps), default=1))
    paths = np.stack([path_array(world, pad=links, no_path=links + 1, hops=hops) for world in per_world])
    dead = np.zeros((len(per_world), links), dtype=bool)
    for world, node in enumerate(nodes, start=1):
        for index, link in enumerate(network.links):
            dead[world, index] = node in (link.site_a, link.site_b)
    report = None if progress is None else (lambda done: progress("failures", done, plan.steps))
    run = simulate(plan, paths, dead, progress=report)
    worlds = [_world(run, index) for index in range(len(per_world))]
    return worlds[0], dict(zip(nodes, worlds[1:], strict=True))


def _world(run: EngineRun, index: int) -> EngineRun:
    """World ``index`` of a multi-world run, as a one-world run."""
    pick = slice(index, index + 1)
    return EngineRun(
        steps=run.steps,
        initial=run.initial[pick],
        produced=run.produced[pick],
        wasted=run.wasted[pick],
        consumed=run.consumed[pick],
        binding_steps=run.binding_steps[pick],
        empty_steps=run.empty_steps[pick],
        served=run.served[pick],
        met_steps=run.met_steps[pick],
        shortfall=run.shortfall[pick],
        route_steps=run.route_steps[pick],
    )


def required_fraction(network: PlanNetwork) -> float:
    """The fraction of steps a demand must be met in to count as satisfied."""
    return planning_of(network.scenario).required_met_fraction
