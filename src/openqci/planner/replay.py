"""A recorded twin run played back as the operations dashboard's live view.

:class:`ReplaySource` answers the dashboard's ``snapshot()`` with documents of the same shape as a launched
network's (:mod:`openqci.ops.dashboard.snapshot`), read from a :class:`~openqci.planner.recording.Recording`
at the simulated time that the wall clock has reached: ``speed`` simulated seconds per second, from the
start again once the end is reached. So the page, its map, tables, plots and alarms work unchanged.

What maps onto what: a link that is down for a frame raises a ``link-down`` alarm (cleared when it comes
back), a link whose store is empty a ``key-drained`` one; the routes the demands take are the relays; the
key rate is the key made during the frame. The twin keeps one store per link, so both ends of a link show
the same key. Satellites and sites far from the rest (overseas regions) have no useful place on a map of
Europe: they are drawn in a row along its top and bottom edge, their true coordinates kept in the tooltip.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from openqci.planner.mapsvg import FRAME_RADIUS_KM
from openqci.planner.recording import Recording
from openqci.scenario.geo import great_circle_km

__all__ = ["ReplaySource"]

_HISTORY_FRAMES = 300
"""Frames of every plot's series a newly opened page gets."""
_CLEARED_KEPT = 50


class ReplaySource:
    """Snapshots of ``recording`` at the simulated time the clock has reached."""

    def __init__(
        self, recording: Recording, *, speed: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not (speed > 0 and np.isfinite(speed)):
            raise ValueError(f"the replay speed must be a finite number > 0, got {speed!r}")
        self.recording = recording
        self.speed = speed
        self._clock = clock
        self._began = clock()
        net = recording.network
        self._links: list[dict[str, Any]] = net["links"]
        self._demands: list[dict[str, Any]] = net["demands"]
        self._sites = _placed_sites(net["sites"])
        self._ends = {
            s["id"]: [i for i, link in enumerate(self._links) if s["id"] in (link["a"], link["b"])]
            for s in self._sites
        }
        self._outages = _intervals(~recording.up)
        self._spent_total = np.cumsum(recording.spent_bits, axis=0, dtype=np.float64)

    def frame_now(self) -> int:
        """The frame the clock has reached (the replay loops)."""
        elapsed = (self._clock() - self._began) * self.speed
        return int(elapsed // self.recording.frame_s) % self.recording.frames

    def snapshot(self, *, with_history: bool = False) -> dict[str, Any]:
        """The network at the current frame; ``with_history`` adds the plots' series up to it."""
        frame = self.frame_now()
        rec = self.recording
        now = self._time(frame)
        links = [self._link(i, frame) for i in range(len(self._links))]
        active = [self._alarm(i, start, None) for i, start, end in self._outages if start <= frame < end]
        active += [
            _drained(link["id"], now) for link in links if link["status"] == "up" and link["key_bits"] < 1.0
        ]
        cleared = [self._alarm(i, start, end) for i, start, end in self._outages if end <= frame]
        cleared.sort(key=lambda a: a["cleared_s"], reverse=True)
        document: dict[str, Any] = {
            "network": f"{rec.network['name']} (twin replay)",
            "now_s": now,
            "read_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "nodes": self._nodes(links, frame),
            "links": links,
            "alarms": {"active": active, "cleared": cleared[:_CLEARED_KEPT]},
            "routes": self._routes(frame, now),
            "attacks": [],
            "replay": {
                "frame": frame,
                "frames": rec.frames,
                "frame_s": rec.frame_s,
                "speed": self.speed,
                "start_s": rec.network["start_s"],
            },
        }
        if with_history:
            document["history"] = self._history(frame)
        return document

    def _time(self, frame: int) -> float:
        return float(self.recording.network["start_s"] + (frame + 1) * self.recording.frame_s)

    def _link(self, index: int, frame: int) -> dict[str, Any]:
        rec, link = self.recording, self._links[index]
        key = float(rec.key_bits[frame, index])
        rate = float(rec.made_bps[frame, index])
        up = bool(rec.up[frame, index])
        made_total = float(np.sum(rec.made_bps[: frame + 1, index], dtype=np.float64) * rec.frame_s)
        spent_total = float(self._spent_total[frame, index])
        alarms = [] if up else ["link-down"]
        if up and key < 1.0:
            alarms.append("key-drained")
        return {
            "id": link["id"],
            "a": link["a"],
            "b": link["b"],
            "status": "up" if up else "down",
            "length_km": link["length_km"],
            "preset": link["preset"],
            "expected_skr_bps": link["rate_bps"] if link["kind"] == "fibre" else None,
            "skr_bps": rate,
            "eskr_bps": rate,
            "qber": None,
            "key_bits": key,
            "key_bits_by_end": {link["a"]: key, link["b"]: key},
            "made_bits_by_end": {link["a"]: made_total, link["b"]: made_total},
            "consumed_bits_by_end": {link["a"]: spent_total, link["b"]: spent_total},
            "alarms": alarms,
            "routable": up,
            "attack": None,
        }

    def _nodes(self, links: list[dict[str, Any]], frame: int) -> list[dict[str, Any]]:
        nodes = []
        for site in self._sites:
            mine = [links[i] for i in self._ends[site["id"]]]
            nodes.append(
                {
                    "id": site["id"],
                    "status": "up",
                    "roles": site["roles"],
                    "lat": site["lat"],
                    "lon": site["lon"],
                    "url": site["where"],
                    "links": [link["id"] for link in mine],
                    "key_bits": sum(link["key_bits"] for link in mine),
                    "made_bits": sum(next(iter(link["made_bits_by_end"].values())) for link in mine),
                    "consumed_bits": sum(next(iter(link["consumed_bits_by_end"].values())) for link in mine),
                }
            )
        return nodes

    def _routes(self, frame: int, now: float) -> list[dict[str, Any]]:
        """The route each demand took in the frame, starting with a different demand each frame."""
        rec = self.recording
        count = len(self._demands)
        routes = []
        for k in range(count):
            index = (frame + k) % count
            demand = self._demands[index]
            taken = int(rec.route[frame, index])
            share = float(rec.served_fraction[frame, index])
            served_bits = share * demand["rate_bps"] * rec.frame_s
            error: str | None
            if taken < 0 or taken >= len(demand["routes"]):
                kmes = [demand["source"], demand["destination"]]
                error = "no route with key"
            else:
                kmes = demand["routes"][taken]
                error = None if share >= 0.999 else f"{100 * share:.0f} % of the demand's key"
            routes.append(
                {
                    "at_s": now,
                    "from": demand["source"],
                    "to": demand["destination"],
                    "key_bits": served_bits,
                    "kmes": kmes,
                    "error": error,
                    "demand": demand["name"],
                }
            )
        return routes[:20]

    def _alarm(self, index: int, start: int, end: int | None) -> dict[str, Any]:
        link = self._links[index]["id"]
        return {
            "kind": "link-down",
            "link": link,
            "message": f"{link} down in the twin (scheduled or random outage)",
            "raised_s": self._time(start - 1),
            "cleared_s": None if end is None else self._time(end - 1),
            "severity": "critical",
        }

    def _history(self, frame: int) -> dict[str, list[list[float]]]:
        rec = self.recording
        first = max(0, frame - _HISTORY_FRAMES + 1)
        frames = range(first, frame + 1)
        times = [self._time(f) for f in frames]
        series: dict[str, list[list[float]]] = {}
        for i, link in enumerate(self._links):
            series[f"link:{link['id']}"] = [
                [t, float(rec.made_bps[f, i]), float(rec.key_bits[f, i]), 0.0]
                for t, f in zip(times, frames, strict=True)
            ]
        for site in self._sites:
            ends = self._ends[site["id"]]
            key = rec.key_bits[first : frame + 1, ends].sum(axis=1, dtype=np.float64)
            spent = self._spent_total[first : frame + 1, ends].sum(axis=1)
            series[f"kme:{site['id']}"] = [
                [t, float(k), float(s)] for t, k, s in zip(times, key, spent, strict=True)
            ]
        return series


def _drained(link: str, now: float) -> dict[str, Any]:
    return {
        "kind": "key-drained",
        "link": link,
        "message": f"no key left in {link}'s store",
        "raised_s": now,
        "cleared_s": None,
        "severity": "warning",
    }


def _intervals(down: NDArray[np.bool_]) -> list[tuple[int, int, int]]:
    """``(link, first frame down, first frame up again)`` of every outage, in time order."""
    padded = np.zeros((down.shape[0] + 2, down.shape[1]), dtype=np.int8)
    padded[1:-1] = down
    change = np.diff(padded, axis=0)
    starts = np.argwhere(change == 1)
    ends = np.argwhere(change == -1)
    spans = []
    for link in range(down.shape[1]):
        begin = starts[starts[:, 1] == link, 0]
        finish = ends[ends[:, 1] == link, 0]
        spans += [(link, int(b), int(e)) for b, e in zip(begin, finish, strict=True)]
    return sorted(spans, key=lambda span: span[1])


def _placed_sites(sites: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every site with the coordinates it is drawn at; satellites and far sites along the map's edges."""
    located = [s for s in sites if s["lat"] is not None]
    if not located:
        return [s | {"where": "satellite"} for s in sites]
    lat = np.array([s["lat"] for s in located])
    lon = np.array([s["lon"] for s in located])
    middle_lat, middle_lon = float(np.median(lat)), float(np.median(lon))
    distance = great_circle_km(lat, lon, middle_lat, middle_lon)
    near = distance <= FRAME_RADIUS_KM
    near_lat, near_lon = lat[near], lon[near]
    west, east = float(near_lon.min()), float(near_lon.max())
    north, south = float(near_lat.max()), float(near_lat.min())
    far = [s for s, d in zip(located, distance, strict=True) if d > FRAME_RADIUS_KM]
    satellites = [s for s in sites if s["lat"] is None]
    placed: dict[str, dict[str, Any]] = {}
    for s, d in zip(located, distance, strict=True):
        if d <= FRAME_RADIUS_KM:
            placed[s["id"]] = s | {"where": f"{s['lat']:.3f}, {s['lon']:.3f}"}
    for row, margin in ((far, south - 2.0), (satellites, north + 2.0)):
        for k, s in enumerate(row):
            x = west + (east - west) * (k + 0.5) / max(1, len(row))
            where = (
                "satellite, drawn above the map"
                if s["lat"] is None
                else (f"{s['lat']:.3f}, {s['lon']:.3f}, drawn at the map's edge")
            )
            placed[s["id"]] = s | {"lat": margin, "lon": x, "where": where}
    return [placed[s["id"]] for s in sites]
