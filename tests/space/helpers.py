"""Analytic pass geometry for the tests: a circular orbit over a spherical, non-rotating Earth.

The closed forms of :mod:`tests.space.reference_tables` (slant range
``L = sqrt((R + h)^2 - R^2 cos^2 el) - R sin el``) and, for a pass whose closest approach is at Earth central
angle ``beta0``, central angle ``cos phi = cos beta0 cos(omega t)``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import brentq

from openqci.space.passes import PassTrack
from tests.space.reference_tables import EARTH_RADIUS_KM, MU_KM3_S2, slant_range_km

__all__ = ["EARTH_RADIUS_KM", "MU_KM3_S2", "analytic_track", "slant_range_km"]


def _elevation_and_range(
    phi: NDArray[np.float64], orbit_km: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r = EARTH_RADIUS_KM
    distance = np.sqrt(r**2 + orbit_km**2 - 2 * r * orbit_km * np.cos(phi))
    return np.degrees(np.arcsin((orbit_km * np.cos(phi) - r) / distance)), distance


def analytic_track(
    max_elevation_deg: float, min_elevation_deg: float, altitude_km: float = 500.0
) -> PassTrack:
    """A 1 s sampled night pass culminating at ``max_elevation_deg``, cut at ``min_elevation_deg``."""
    orbit_km = EARTH_RADIUS_KM + altitude_km
    omega = math.sqrt(MU_KM3_S2 / orbit_km**3)
    beta0 = 0.0
    if max_elevation_deg < 90:
        beta0 = brentq(lambda b: _elevation_and_range(np.array(b), orbit_km)[0] - max_elevation_deg, 0.0, 0.5)
    half_s = brentq(
        lambda t: (
            _elevation_and_range(np.arccos(np.cos(beta0) * np.cos(omega * t)), orbit_km)[0]
            - min_elevation_deg
        ),
        0.0,
        900.0,
    )
    t = np.linspace(-half_s, half_s, int(2 * half_s) + 1)
    elevation, distance = _elevation_and_range(np.arccos(np.cos(beta0) * np.cos(omega * t)), orbit_km)
    night = np.full_like(t, -30.0)
    return PassTrack(
        datetime(2017, 1, 1, 16, tzinfo=UTC), t - t[0], elevation, np.zeros_like(t), distance, night
    )
