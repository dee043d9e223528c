"""A twin run kept as frames for the operations dashboard: ``replay.npz`` beside the report.

The twin steps minute by minute; a dashboard needs far fewer pictures. Steps are grouped into at most
:data:`MAX_FRAMES` frames, and each frame keeps, per link, the key in store at its end, the mean key rate
made during it, the key spent on it, and whether the link was up throughout; per demand, the share of its
need that was served and the candidate route it last took. That is all the dashboard draws, and a week of
EuroQCI (364 links, 74 demands) fits in about 3 MB.

The file is a plain ``numpy`` archive read without pickles: the arrays, and one JSON string with the
network (sites with their coordinates and roles, links, demands with their candidate routes as site
names).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from openqci.planner.errors import PlanError
from openqci.planner.routes import CANDIDATES
from openqci.planner.topology import PlanLink, planning_of
from openqci.planner.twin import TwinResult

__all__ = ["MAX_FRAMES", "RECORDING_FILE", "Recording", "load_recording", "record_twin", "save_recording"]

MAX_FRAMES = 2016
"""Frames kept of a run: a week at five-minute frames (a longer run gets longer frames)."""

RECORDING_FILE = "replay.npz"
"""The recording's name in a report folder."""

_FORMAT = 1
_ARRAYS = ("key_bits", "made_bps", "spent_bits", "up", "served_fraction", "route")
_STEPS_PER_CHUNK = 2048
"""Steps whose spending is gathered at once (bounds the memory of the gather, not its result)."""


@dataclass(frozen=True)
class Recording:
    """A twin run in frames (first axis of every array)."""

    network: dict[str, Any]
    """``name``, ``start_s`` (UNIX time of the planning start), ``sites``, ``links`` and ``demands``."""
    frame_s: float
    key_bits: NDArray[np.float32]
    """``(frames, links)``: key in each link's store at the end of the frame."""
    made_bps: NDArray[np.float32]
    """``(frames, links)``: mean key rate made during the frame (a pass's key lands when it ends)."""
    spent_bits: NDArray[np.float32]
    """``(frames, links)``: key taken from the link's store by relays during the frame."""
    up: NDArray[np.bool_]
    """``(frames, links)``: up for the whole frame."""
    served_fraction: NDArray[np.float32]
    """``(frames, demands)``: key served over key needed during the frame."""
    route: NDArray[np.int8]
    """``(frames, demands)``: candidate route taken at the end of the frame (-1: none)."""

    @property
    def frames(self) -> int:
        return int(self.key_bits.shape[0])

    @property
    def duration_s(self) -> float:
        return self.frames * self.frame_s


def record_twin(result: TwinResult, *, max_frames: int = MAX_FRAMES) -> Recording:
    """The frames of ``result`` (a recorded run: :func:`~openqci.planner.twin.run_twin` records one)."""
    run, plan = result.run, result.schedule
    if run.buffers is None or run.served_series is None or run.route is None:
        raise PlanError("the twin run has no recorded series to replay")
    steps = run.buffers.shape[0]
    per_frame = max(1, -(-steps // max_frames))
    frames = -(-steps // per_frame)
    last = np.minimum(np.arange(frames) * per_frame + per_frame - 1, steps - 1)
    made_bits = plan.up * (plan.rate_bps * plan.step_s)[None, :]
    np.add.at(made_bits, (plan.deposit_step, plan.deposit_link), plan.deposit_bits)
    frame_of_step = np.arange(steps) // per_frame
    frame_length_s = np.bincount(frame_of_step, minlength=frames) * plan.step_s
    need = np.bincount(frame_of_step, minlength=frames)[:, None] * plan.need_bits[None, :]
    served = _sum_by_frame(run.served_series.astype(np.float64), frame_of_step, frames)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(need > 0, served / need, 1.0)
    down_steps = _sum_by_frame((~plan.up).astype(np.int64), frame_of_step, frames)
    return Recording(
        network=_network_record(result),
        frame_s=per_frame * plan.step_s,
        key_bits=run.buffers[last].astype(np.float32),
        made_bps=(_sum_by_frame(made_bits, frame_of_step, frames) / frame_length_s[:, None]).astype(
            np.float32
        ),
        spent_bits=_spent_by_frame(result, frame_of_step, frames).astype(np.float32),
        up=down_steps == 0,
        served_fraction=np.clip(fraction, 0.0, 1.0).astype(np.float32),
        route=run.route[last].astype(np.int8),
    )


def save_recording(recording: Recording, path: Path) -> None:
    """Write ``recording`` to ``path`` (compressed)."""
    header = json.dumps({"format": _FORMAT, "frame_s": recording.frame_s, "network": recording.network})
    arrays = {name: getattr(recording, name) for name in _ARRAYS}
    with open(path, "wb") as stream:
        np.savez_compressed(stream, header=np.array(header), **arrays)


def load_recording(path: Path) -> Recording:
    """Read a recording written by :func:`save_recording`.

    Raises
    ------
    PlanError
        If the file is missing, not a recording, or of another format.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["header"]))
            arrays = {name: archive[name] for name in _ARRAYS}
    except FileNotFoundError:
        message = f"{path}: no such file (openqci plan SCENARIO --out DIR writes DIR/{RECORDING_FILE})"
        raise PlanError(message) from None
    except (OSError, KeyError, ValueError) as error:
        raise PlanError(f"{path}: not a twin recording ({type(error).__name__}: {error})") from None
    if header.get("format") != _FORMAT:
        raise PlanError(f"{path}: recording format {header.get('format')!r}, this version reads {_FORMAT}")
    shapes = {arrays[name].shape for name in ("key_bits", "made_bps", "spent_bits", "up")}
    links, demands = len(header["network"]["links"]), len(header["network"]["demands"])
    frames = arrays["key_bits"].shape[0]
    if shapes != {(frames, links)} or {arrays[n].shape for n in ("served_fraction", "route")} != {
        (frames, demands)
    }:
        raise PlanError(f"{path}: the recording's arrays do not match its network")
    return Recording(network=header["network"], frame_s=float(header["frame_s"]), **arrays)


def _sum_by_frame(values: NDArray[Any], frame_of_step: NDArray[np.int64], frames: int) -> NDArray[Any]:
    """Sums of ``values`` (steps first) over the steps of each frame."""
    starts = np.searchsorted(frame_of_step, np.arange(frames))
    return np.add.reduceat(values, starts, axis=0)


def _spent_by_frame(result: TwinResult, frame_of_step: NDArray[np.int64], frames: int) -> NDArray[np.float64]:
    """Key spent per link and frame: every demand's served key on every hop of the route it took."""
    run, network = result.run, result.network
    assert run.served_series is not None
    assert run.route is not None
    links = len(network.links)
    spent = np.zeros((frames, links + 1))
    longest = max((len(p) for ps in result.paths for p in ps), default=1)
    # one more candidate than the twin keeps, all padding: where a demand took no route
    paths = np.full((len(network.demands), CANDIDATES + 1, max(1, longest)), links, dtype=np.int64)
    for d, candidates in enumerate(result.paths):
        for k, path in enumerate(candidates[:CANDIDATES]):
            paths[d, k, : len(path)] = path
    demand_index = np.arange(len(network.demands))[None, :]
    for start in range(0, run.route.shape[0], _STEPS_PER_CHUNK):
        stop = min(start + _STEPS_PER_CHUNK, run.route.shape[0])
        route = run.route[start:stop].astype(np.int64)
        taken = np.where(route >= 0, route, CANDIDATES)
        hops = paths[demand_index, taken]  # (steps, demands, hops)
        served = np.broadcast_to(run.served_series[start:stop, :, None], hops.shape)
        cells = frame_of_step[start:stop, None, None] * (links + 1) + hops
        spent += np.bincount(cells.ravel(), weights=served.ravel(), minlength=frames * (links + 1)).reshape(
            frames, links + 1
        )
    return spent[:, :links]


def _network_record(result: TwinResult) -> dict[str, Any]:
    """What the dashboard needs of the network: names, coordinates, roles, links, demands and routes."""
    network = result.network
    scenario = network.scenario
    sites = [
        {
            "id": site.name,
            "lat": site.latitude_deg,
            "lon": site.longitude_deg,
            "roles": [str(role) for role in site.roles],
        }
        for site in scenario.sites
    ]
    sites += [
        {"id": sat.name, "lat": None, "lon": None, "roles": ["satellite"]} for sat in scenario.satellites
    ]
    links = [
        {
            "id": link.name,
            "a": link.site_a,
            "b": link.site_b,
            "kind": str(link.kind),
            "length_km": link.length_km,
            "preset": link.preset,
            "rate_bps": float(rate),
        }
        for link, rate in zip(network.links, result.events.rate_bps, strict=True)
    ]
    demands = [
        {
            "name": demand.name,
            "source": demand.source,
            "destination": demand.destination,
            "rate_bps": demand.rate_bps,
            "routes": [_sites_along(network.links, demand.source, path) for path in result.paths[index]],
        }
        for index, demand in enumerate(network.demands)
    ]
    return {
        "name": scenario.name,
        "start_s": planning_of(scenario).start.timestamp(),
        "sites": sites,
        "links": links,
        "demands": demands,
    }


def _sites_along(links: tuple[PlanLink, ...], source: str, path: tuple[int, ...]) -> list[str]:
    """The sites a route visits, from ``source``."""
    here, visited = source, [source]
    for index in path:
        link = links[index]
        here = link.site_b if link.site_a == here else link.site_a
        visited.append(here)
    return visited
