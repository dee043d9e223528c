"""What happens when: the time-dependent inputs of a twin run, built once and shared by every variant.

:class:`Events` holds what is drawn or computed in seconds (satellite passes with their cloud draws, link
outages); :func:`schedule` lays them on a grid of time steps. The same events on a coarser grid drive the
single-failure analysis, so its worlds see the same weather and the same cuts as the main run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openqci.planner.errors import PlanError
from openqci.planner.supply import PassSupply, cloud_probabilities, fibre_rates_bps, satellite_passes
from openqci.planner.topology import LinkKind, PlanNetwork, planning_of

__all__ = ["Events", "Schedule", "draw_events", "schedule"]

MAX_STEPS = 2_000_000
"""Longest grid a run accepts (about 3.8 years of minutes): bounds the recorded series."""


@dataclass(frozen=True)
class Events:
    """Supply and outages over the whole period, in seconds from the planning start."""

    duration_s: float
    rate_bps: NDArray[np.float64]
    """Each link's secret key rate while up (0 for satellite legs)."""
    passes: tuple[PassSupply, ...]
    clouded: NDArray[np.bool_]
    """One flag per pass."""
    outages: tuple[tuple[int, float, float], ...]
    """(link, start_s, end_s) of every scheduled or random outage."""


@dataclass(frozen=True)
class Schedule:
    """Events on a grid of ``steps`` steps of ``step_s`` seconds, plus the demands' need per step."""

    step_s: float
    steps: int
    rate_bps: NDArray[np.float64]
    capacity_bits: NDArray[np.float64]
    initial_bits: NDArray[np.float64]
    up: NDArray[np.bool_]
    """``(steps, links)``: whether the link makes key during the step (and relays it)."""
    deposit_step: NDArray[np.int64]
    deposit_link: NDArray[np.int64]
    deposit_bits: NDArray[np.float64]
    need_bits: NDArray[np.float64]
    """Key each demand consumes per step."""
    relay_when_down: bool = False
    """The scenario's ``routing.stored_key_over_down_links``: a link that is down still relays the key in
    its stores (a failed node's links never do)."""


def draw_events(
    network: PlanNetwork,
    days: float,
    seed: int,
    *,
    passes: tuple[PassSupply, ...] | None = None,
    rate_scale: float = 1.0,
    cloud_scale: float = 1.0,
) -> Events:
    """Supply and outages of ``days`` days: physics rates, passes with key, weather and failures drawn
    from ``seed`` (``passes`` reuses a previous computation of the same scenario and period)."""
    if not (days > 0 and np.isfinite(days)):
        raise PlanError(f"days must be a finite number > 0, got {days!r}")
    duration_s = days * 86_400.0
    rng = np.random.default_rng(seed)
    weather_rng, failure_rng = rng.spawn(2)
    found = tuple(satellite_passes(network, duration_s)) if passes is None else passes
    # one uniform draw per pass: a pass clouded at probability p stays clouded at any larger p
    draws = weather_rng.random(len(found))
    clouded = draws < np.clip(cloud_probabilities(network, list(found)) * cloud_scale, 0.0, 1.0)
    return Events(
        duration_s=duration_s,
        rate_bps=fibre_rates_bps(network) * rate_scale,
        passes=tuple(
            PassSupply(p.link, p.start_s, p.end_s, p.max_elevation_deg, p.key_bits * rate_scale)
            for p in found
        ),
        clouded=clouded,
        outages=_outages(network, duration_s, failure_rng),
    )


def schedule(network: PlanNetwork, events: Events, step_s: float, *, demand_scale: float = 1.0) -> Schedule:
    """``events`` on a grid of ``step_s`` seconds."""
    if not (step_s > 0 and np.isfinite(step_s)):
        raise PlanError(f"the time step must be a finite number of seconds > 0, got {step_s!r}")
    steps = int(np.ceil(events.duration_s / step_s))
    if steps > MAX_STEPS:
        raise PlanError(
            f"{steps} time steps exceed the limit of {MAX_STEPS}: use fewer days or a longer step"
        )
    planning = planning_of(network.scenario)
    count = len(network.links)
    up = np.ones((steps, count), dtype=bool)
    for link, start_s, end_s in events.outages:
        up[int(start_s // step_s) : int(np.ceil(end_s / step_s)), link] = False
    clear = [p for p, hidden in zip(events.passes, events.clouded, strict=True) if not hidden]
    deposit_step = np.array([min(steps - 1, int(p.end_s // step_s)) for p in clear], dtype=np.int64)
    order = np.argsort(deposit_step, kind="stable")
    capacity = np.full(count, planning.kme_storage_bits)
    need = np.array([d.rate_bps * step_s * demand_scale for d in network.demands], dtype=float)
    return Schedule(
        step_s=step_s,
        steps=steps,
        rate_bps=events.rate_bps,
        capacity_bits=capacity,
        initial_bits=capacity * planning.initial_key_fraction,
        up=up,
        deposit_step=deposit_step[order],
        deposit_link=np.array([p.link for p in clear], dtype=np.int64)[order],
        deposit_bits=np.array([p.key_bits for p in clear], dtype=float)[order],
        need_bits=need,
        relay_when_down=network.scenario.routing.stored_key_over_down_links,
    )


def _outages(
    network: PlanNetwork, duration_s: float, rng: np.random.Generator
) -> tuple[tuple[int, float, float], ...]:
    planning = planning_of(network.scenario)
    index = network.link_index()
    result = [
        (index[o.link], o.start_hour * 3600.0, (o.start_hour + o.duration_hours) * 3600.0)
        for o in planning.outages
    ]
    if planning.link_mtbf_hours is not None:
        mtbf_s, mttr_s = planning.link_mtbf_hours * 3600.0, planning.link_mttr_hours * 3600.0
        for link_index, link in enumerate(network.links):
            if link.kind is not LinkKind.FIBRE:
                continue
            time_s = rng.exponential(mtbf_s)
            while time_s < duration_s:
                repair_s = rng.exponential(mttr_s)
                result.append((link_index, time_s, time_s + repair_s))
                time_s += repair_s + rng.exponential(mtbf_s)
    return tuple(result)
