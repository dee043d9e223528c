"""Satellite passes over a ground station: when they start and end, how high they climb, and their track.

A pass is a window where the satellite stands above the station's elevation mask (and, for a night-only
station, the Sun is below :data:`~openqci.space.stations.NIGHT_SUN_ELEVATION_DEG`). Windows are found with
:func:`openqci.space.search.find_windows`; the default 30 s grid finds every pass that stays above the mask
for longer than that, i.e. every pass of a LEO satellite that rises more than a fraction of a degree above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from openqci.space.frames import look_angles
from openqci.space.orbits import Satellite
from openqci.space.search import find_windows, maximise_in_windows
from openqci.space.stations import NIGHT_SUN_ELEVATION_DEG, GroundStation
from openqci.space.sun import sun_elevation_deg
from openqci.space.timescale import to_utc, utc_after

__all__ = ["Pass", "PassTrack", "find_passes", "look_at", "pass_track"]


@dataclass(frozen=True)
class Pass:
    """One pass of a satellite over a station: the window above the mask and its highest point."""

    satellite: str
    station: str
    start: datetime
    end: datetime
    culmination: datetime
    max_elevation_deg: float

    @property
    def duration_s(self) -> float:
        """Length of the window in seconds."""
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class PassTrack:
    """A pass sampled at regular instants: the geometry the free-space link budget needs.

    ``time_s`` counts seconds from ``start``; the other arrays have the same shape.
    """

    start: datetime
    time_s: NDArray[np.float64]
    elevation_deg: NDArray[np.float64]
    azimuth_deg: NDArray[np.float64]
    slant_range_km: NDArray[np.float64]
    sun_elevation_deg: NDArray[np.float64]


def look_at(
    satellite: Satellite, station: GroundStation, start: datetime, offset_s: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Elevation (deg), azimuth (deg) and slant range (km) of ``satellite`` seen from ``station``."""
    position = satellite.position_ecef_km(start, offset_s)
    return look_angles(position, station.latitude_deg, station.longitude_deg, station.altitude_m)


def find_passes(
    satellite: Satellite,
    station: GroundStation,
    start: datetime,
    duration_s: float,
    *,
    step_s: float = 30.0,
) -> list[Pass]:
    """Every pass of ``satellite`` over ``station`` between ``start`` and ``start + duration_s``, in order.

    Raises
    ------
    InvalidWindowError
        If the duration is negative or the step not positive.
    PropagationError
        If SGP4 cannot propagate the orbit over the window.
    """
    start = to_utc(start)

    def visible(offset_s: NDArray[np.float64]) -> NDArray[np.bool_]:
        above = look_at(satellite, station, start, offset_s)[0] >= station.min_elevation_deg
        if station.night_only:
            above &= sun_elevation_deg(station, start, offset_s) < NIGHT_SUN_ELEVATION_DEG
        return above

    windows = find_windows(visible, duration_s, step_s=step_s)
    peak_s, peak_deg = maximise_in_windows(lambda t: look_at(satellite, station, start, t)[0], windows)
    return [
        Pass(
            satellite.name,
            station.name,
            utc_after(start, a),
            utc_after(start, b),
            utc_after(start, c),
            float(e),
        )
        for (a, b), c, e in zip(windows, peak_s, peak_deg, strict=True)
    ]


def pass_track(
    satellite: Satellite, station: GroundStation, window: Pass, *, step_s: float = 1.0
) -> PassTrack:
    """Sample a pass every ``step_s`` seconds from its start to its end (both included)."""
    count = max(2, int(np.ceil(window.duration_s / step_s)) + 1)
    time_s = np.minimum(np.arange(count) * step_s, window.duration_s)
    elevation, azimuth, range_km = look_at(satellite, station, window.start, time_s)
    sun = sun_elevation_deg(station, window.start, time_s)
    return PassTrack(window.start, time_s, elevation, azimuth, range_km, sun)
