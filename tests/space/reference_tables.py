"""The analytic pass geometry the space tests check, recomputed here (no paper prints this table).

A circular orbit of altitude ``h`` over a spherical, non-rotating Earth of radius ``R = 6371 km``
(``GM = 398600.4418 km^3/s^2``): the period is Kepler's ``2 pi sqrt((R + h)^3 / GM)``; a station sees the
satellite at elevation ``el`` at slant range ``sqrt((R + h)^2 - R^2 cos^2 el) - R sin el`` and Earth
central angle ``arccos(R cos el / (R + h)) - el``, so an overhead pass stays above ``el`` for twice that
angle over the orbital rate. Plain Python, no :mod:`openqci`; run from the repository root::

    python -m tests.space.reference_tables
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0
MU_KM3_S2 = 398_600.4418
ALTITUDES_KM = (500.0, 550.0)
MASKS_DEG = (0.0, 10.0, 15.0, 20.0)
ELEVATIONS_DEG = (90.0, 30.0, 20.0, 15.0, 10.0)


def slant_range_km(elevation_deg: float, altitude_km: float, radius_km: float = EARTH_RADIUS_KM) -> float:
    """Distance from a station to a satellite seen at ``elevation_deg``."""
    el = math.radians(elevation_deg)
    return math.sqrt((radius_km + altitude_km) ** 2 - (radius_km * math.cos(el)) ** 2) - radius_km * math.sin(
        el
    )


def period_min(altitude_km: float) -> float:
    """Orbital period of the circular orbit, minutes."""
    return 2.0 * math.pi * math.sqrt((EARTH_RADIUS_KM + altitude_km) ** 3 / MU_KM3_S2) / 60.0


def overhead_pass_s(altitude_km: float, mask_deg: float) -> float:
    """Time an overhead (zenith) pass spends above ``mask_deg``."""
    el = math.radians(mask_deg)
    orbit_km = EARTH_RADIUS_KM + altitude_km
    central = math.acos(EARTH_RADIUS_KM * math.cos(el) / orbit_km) - el
    return 2.0 * central / math.sqrt(MU_KM3_S2 / orbit_km**3)


def geometry_table() -> dict[float, dict[str, object]]:
    """Per altitude: period (min), pass above each mask (s), slant range at each elevation (km), rounded."""
    return {
        h: {
            "period_min": round(period_min(h), 1),
            "pass_s": [round(overhead_pass_s(h, m)) for m in MASKS_DEG],
            "slant_range_km": [round(slant_range_km(e, h)) for e in ELEVATIONS_DEG],
        }
        for h in ALTITUDES_KM
    }


if __name__ == "__main__":
    print(f"pass above {MASKS_DEG} deg, slant range at {ELEVATIONS_DEG} deg")
    for altitude, row in geometry_table().items():
        print(f"{altitude:g} km:", row)
