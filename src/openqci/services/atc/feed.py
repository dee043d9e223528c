"""A surveillance feed of simulated system tracks in ASTERIX CAT062, as a radar data processing system sends.

:class:`TrackFeed` holds a set of simulated flights (:mod:`.flights`) and turns their state at an instant
into CAT062 records (:mod:`.asterix_062`). A processing system updates each track every ``period`` seconds
(4 s by default); two ways of asking are offered:

* :meth:`TrackFeed.records_at` gives the whole picture at one instant: one record per tracked flight, all
  with that time of track information;
* :meth:`TrackFeed.records_between` gives the updates due in an interval, each track being updated at its
  own phase within the period, so that a feed read every second carries a quarter of the tracks each time,
  as a system spreading its output over the period does.

The transport is not here: the bytes go to whatever channel carries them, and :func:`.decode_records`
turns them back into :class:`.TrackRecords` at the other end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openqci.services.atc.asterix_062 import DEFAULT_BLOCK_BYTES, TrackRecords, encode_cat062
from openqci.services.atc.flights import Flights, RouteMix, generate_flights
from openqci.services.atc.geo import SYSTEM_REFERENCE, StereographicPlane

__all__ = ["TrackFeed", "TrackSource"]

_DAY = 86_400.0


@dataclass(frozen=True)
class TrackSource:
    """Who sends the tracks: the data source identifier (I062/010) and service (I062/015).

    SAC and SIC are allocated by EUROCONTROL to each country and system; these defaults are placeholders
    to be set to those of the installation.
    """

    sac: int = 0
    sic: int = 1
    service_id: int = 1

    def __post_init__(self) -> None:
        for name in ("sac", "sic", "service_id"):
            if not 0 <= getattr(self, name) <= 255:
                raise ValueError(f"{name} must fit one byte")


def _time_of_day(times: NDArray[np.float64]) -> NDArray[np.float64]:
    """Seconds since the last midnight UTC, in [0, 86400)."""
    tod = np.mod(times, _DAY)
    return np.where(tod >= _DAY, 0.0, tod)


class TrackFeed:
    """Simulated system tracks over France, as CAT062 bytes, the same for the same seed.

    ``flights`` is a number of flights tracked at any instant of the busy period (drawn with
    :func:`.generate_flights` from ``seed``, ``start``, ``duration`` and ``mix``) or a :class:`.Flights`
    drawn beforehand. ``period`` is the track update period (s); ``plane`` the system reference point of
    the Cartesian items (I062/100, I062/185); ``simulated`` sets the SIM bit of I062/080 (on by default:
    these are not real aircraft).

    Example::

        feed = TrackFeed(seed=1, flights=3000)
        t = feed.start + 600.0
        data = feed.records_between(t, t + 1.0)  # about 750 records, in data blocks
        tracks = decode_records(data)
    """

    def __init__(
        self,
        seed: int = 0,
        flights: int | Flights = 3000,
        *,
        start: float = 7 * 3600.0,
        duration: float = 3600.0,
        mix: RouteMix | None = None,
        period: float = 4.0,
        source: TrackSource | None = None,
        plane: StereographicPlane = SYSTEM_REFERENCE,
        simulated: bool = True,
        max_block_bytes: int = DEFAULT_BLOCK_BYTES,
    ) -> None:
        if period <= 0:
            raise ValueError("period must be positive")
        self.flights = (
            flights
            if isinstance(flights, Flights)
            else generate_flights(seed, flights, start=start, duration=duration, mix=mix)
        )
        self.start = start
        self.period = period
        self.source = source or TrackSource()
        self.plane = plane
        self.simulated = simulated
        self.max_block_bytes = max_block_bytes

    def tracks_at(self, t: float) -> TrackRecords:
        """One record per flight tracked at ``t``, in track order of the flights."""
        index = np.flatnonzero(self.flights.tracked(t))
        return self._records(index, np.full(index.size, float(t)))

    def records_at(self, t: float) -> bytes:
        """:meth:`tracks_at` as CAT062 data blocks."""
        return encode_cat062(self.tracks_at(t), max_block_bytes=self.max_block_bytes)

    def updates_between(self, t0: float, t1: float) -> TrackRecords:
        """The track updates due in ``[t0, t1)``, in time order.

        Track ``i`` is updated at ``update_phase[i] * period + k * period`` for whole ``k`` while it is
        tracked; an interval one period long holds one update of every track.
        """
        if t1 < t0:
            raise ValueError("t1 must not be before t0")
        phase = self.flights.update_phase * self.period
        k0 = np.ceil((t0 - phase) / self.period)
        indices, times = [], []
        for j in range(math.ceil((t1 - t0) / self.period) + 1):
            when = phase + (k0 + j) * self.period
            due = np.flatnonzero((when >= t0) & (when < t1) & self.flights.tracked(when))
            indices.append(due)
            times.append(when[due])
        index = np.concatenate(indices)
        at = np.concatenate(times)
        order = np.lexsort((index, at))
        return self._records(index[order], at[order])

    def records_between(self, t0: float, t1: float) -> bytes:
        """:meth:`updates_between` as CAT062 data blocks."""
        return encode_cat062(self.updates_between(t0, t1), max_block_bytes=self.max_block_bytes)

    def _records(self, index: NDArray[np.intp], times: NDArray[np.float64]) -> TrackRecords:
        f = self.flights
        state = f.state(times, index)
        x, y = self.plane.project(state.latitude, state.longitude)
        vx, vy = self.plane.velocity(state.latitude, state.longitude, state.v_east, state.v_north)
        n = index.size
        return TrackRecords(
            sac=np.full(n, self.source.sac, dtype=np.uint8),
            sic=np.full(n, self.source.sic, dtype=np.uint8),
            service_id=np.full(n, self.source.service_id, dtype=np.uint8),
            time_of_day=_time_of_day(times),
            latitude=state.latitude,
            longitude=state.longitude,
            x=x,
            y=y,
            vx=vx,
            vy=vy,
            mode3a=f.mode3a[index],
            callsign=f.callsign[index],
            track_number=f.track_number[index],
            flight_level=state.flight_level,
            simulated=np.full(n, self.simulated),
            first=times - self.period < f.tracked_from[index],
            last=times + self.period > f.tracked_until[index],
        )
