"""The twin's time loop: key made, stored, routed and consumed, step by step, in several worlds at once.

Each step, in every world: links that are up make key (fibre at their rate, satellite legs the key of the
passes that ended), stores are capped at the KME storage limit (the excess is thrown away and counted), and
every demand picks a route (its first candidate with enough key on every hop, or else the one with the most
key at its weakest hop). The demands' loads are added per link; where a link's load exceeds its store,
every demand crossing it gets the same share (store over load), and a demand receives its need times the
smallest share along its route. That key is then taken from *every* hop of the route. So by construction a
link never gives more key than it holds, and a demand served ``x`` bits over ``k`` hops spends ``k x``.

Worlds differ only in their routes and dead links (the single-failure analysis runs one world per failed
node); they share the schedule. Everything is vectorised over worlds, links and demands: the Python loop is
over time steps only, so the cost grows linearly with the size of the network.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openqci.planner.schedule import Schedule

__all__ = ["EngineRun", "simulate"]

_MET_TOLERANCE = 1e-9
"""A demand served within this relative shortfall counts as met (floating-point rounding)."""


@dataclass(frozen=True)
class EngineRun:
    """Totals per world (first axis) and, for a recorded run, the series of its only world.

    Series are ``float32`` of shape ``(steps, links)`` or ``(steps, demands)``; ``route`` is the candidate
    each demand took (-1: no usable route at all).
    """

    steps: int
    initial: NDArray[np.float64]
    produced: NDArray[np.float64]
    wasted: NDArray[np.float64]
    consumed: NDArray[np.float64]
    binding_steps: NDArray[np.int64]
    """Steps in which the link's store limited some demand."""
    empty_steps: NDArray[np.int64]
    served: NDArray[np.float64]
    met_steps: NDArray[np.int64]
    shortfall: NDArray[np.float64]
    route_steps: NDArray[np.int64]
    """``(worlds, demands, candidates)``: how many steps each candidate route was taken."""
    buffers: NDArray[np.float32] | None = None
    served_series: NDArray[np.float32] | None = None
    available_series: NDArray[np.float32] | None = None
    """Key in reach of each demand: the store of the weakest hop of the route it took."""
    route: NDArray[np.int8] | None = None


def simulate(
    plan: Schedule,
    paths: NDArray[np.int32],
    dead: NDArray[np.bool_],
    *,
    record: bool = False,
    progress: Callable[[int], None] | None = None,
) -> EngineRun:
    """Run ``plan`` in ``paths.shape[0]`` worlds.

    Parameters
    ----------
    plan
        The schedule (supply, outages, storage, needs).
    paths
        ``(worlds, demands, candidates, hops)`` link indices padded as :mod:`openqci.planner.routes` says,
        with ``pad = links`` and ``no_path = links + 1``.
    dead
        ``(worlds, links)``: links that never work in that world (a failed node's links).
    record
        Keep the series of buffers, service and routes (one world only).
    progress
        Called with the number of steps done, every few hundred steps.
    """
    worlds, demands, candidates, hops = paths.shape
    links = plan.rate_bps.shape[0]
    if record and worlds != 1:
        raise ValueError("series are recorded for one world only")
    width = links + 2
    offsets = (np.arange(worlds, dtype=np.int64) * width)[:, None, None]
    flat_paths = (paths.reshape(worlds, demands * candidates, hops) + offsets).reshape(-1)
    chosen_offsets = (np.arange(worlds, dtype=np.int64) * width)[:, None, None]
    need = np.broadcast_to(plan.need_bits, (worlds, demands))
    buffer = np.tile(plan.initial_bits, (worlds, 1)).astype(float)
    alive = ~dead
    produced = np.zeros((worlds, links))
    wasted = np.zeros((worlds, links))
    consumed = np.zeros((worlds, links))
    binding = np.zeros((worlds, links), dtype=np.int64)
    empty = np.zeros((worlds, links), dtype=np.int64)
    served_total = np.zeros((worlds, demands))
    met_steps = np.zeros((worlds, demands), dtype=np.int64)
    shortfall = np.zeros((worlds, demands))
    route_steps = np.zeros((worlds, demands, candidates + 1), dtype=np.int64)
    series = _Series(plan.steps, links, demands) if record else None
    reach = np.empty((worlds, width))
    reach[:, links] = np.inf
    reach[:, links + 1] = 0.0
    share = np.empty((worlds, width))
    share[:, links] = 1.0
    share[:, links + 1] = 0.0
    world_index = np.arange(worlds)[:, None]
    demand_index = np.arange(demands)[None, :]
    fibre_bits = plan.rate_bps * plan.step_s
    cursor = 0
    for step in range(plan.steps):
        usable = plan.up[step][None, :] & alive
        made = np.where(usable, fibre_bits, 0.0)
        end = cursor
        while end < plan.deposit_step.shape[0] and plan.deposit_step[end] == step:
            end += 1
        if end > cursor:
            landed = np.bincount(
                plan.deposit_link[cursor:end], weights=plan.deposit_bits[cursor:end], minlength=links
            )
            made = made + np.where(alive, landed, 0.0)
            cursor = end
        buffer += made
        produced += made
        overflow = np.maximum(buffer - plan.capacity_bits, 0.0)
        wasted += overflow
        buffer -= overflow
        # route: first candidate with enough key on every hop, else the one with the most
        reach[:, :links] = np.where(alive if plan.relay_when_down else usable, buffer, 0.0)
        bottleneck = reach.reshape(-1)[flat_paths].reshape(worlds, demands, candidates, hops).min(axis=3)
        enough = bottleneck >= need[:, :, None]
        choice = np.where(enough.any(axis=2), enough.argmax(axis=2), bottleneck.argmax(axis=2))
        available = np.take_along_axis(bottleneck, choice[:, :, None], axis=2)[:, :, 0]
        route = paths[world_index, demand_index, choice] + chosen_offsets.reshape(worlds, 1, 1)
        want = np.where(available > 0.0, need, 0.0)
        flat_route = route.reshape(-1)
        load = np.bincount(flat_route, weights=np.repeat(want.reshape(-1), hops), minlength=worlds * width)
        load = load.reshape(worlds, width)[:, :links]
        limited = load > buffer
        share[:, :links] = np.where(limited, buffer / np.where(limited, load, 1.0), 1.0)
        fraction = share.reshape(-1)[flat_route].reshape(worlds, demands, hops).min(axis=2)
        served = want * fraction
        spent = np.bincount(flat_route, weights=np.repeat(served.reshape(-1), hops), minlength=worlds * width)
        # the shares keep every link's spending within its store; the minimum only absorbs rounding
        spent = np.minimum(spent.reshape(worlds, width)[:, :links], buffer)
        buffer = buffer - spent
        consumed += spent
        binding += limited & (load > 0.0)
        empty += buffer <= 0.0
        met = served >= need * (1.0 - _MET_TOLERANCE)
        met_steps += met
        served_total += served
        shortfall += need - served
        taken = np.where(available > 0.0, choice, candidates)
        route_steps[world_index, demand_index, taken] += 1
        if series is not None:
            series.keep(step, buffer[0], served[0], available[0], np.where(available[0] > 0.0, choice[0], -1))
        if progress is not None and step % 500 == 499:
            progress(step + 1)
    if progress is not None:
        progress(plan.steps)
    return EngineRun(
        steps=plan.steps,
        initial=np.tile(plan.initial_bits, (worlds, 1)),
        produced=produced,
        wasted=wasted,
        consumed=consumed,
        binding_steps=binding,
        empty_steps=empty,
        served=served_total,
        met_steps=met_steps,
        shortfall=shortfall,
        route_steps=route_steps[:, :, :candidates],
        buffers=None if series is None else series.buffers,
        served_series=None if series is None else series.served,
        available_series=None if series is None else series.available,
        route=None if series is None else series.route,
    )


class _Series:
    """The recorded series of a one-world run (float32: a week of minutes over 300 links is 12 MB)."""

    def __init__(self, steps: int, links: int, demands: int) -> None:
        self.buffers = np.zeros((steps, links), dtype=np.float32)
        self.served = np.zeros((steps, demands), dtype=np.float32)
        self.available = np.zeros((steps, demands), dtype=np.float32)
        self.route = np.zeros((steps, demands), dtype=np.int8)

    def keep(
        self,
        step: int,
        buffer: NDArray[np.float64],
        served: NDArray[np.float64],
        available: NDArray[np.float64],
        route: NDArray[np.int64],
    ) -> None:
        self.buffers[step] = buffer
        self.served[step] = served
        self.available[step] = np.minimum(available, np.finfo(np.float32).max)
        self.route[step] = route
