"""Where the Sun is, from an analytic formula: enough to tell night from day at a ground station.

The low-precision solar coordinates of the Astronomical Almanac (section C, "Low precision formulas for the
Sun"; also Michalsky, Solar Energy 40, 227 (1988)) are good to about 0.01 degree between 1950 and 2050. No
ephemeris file is read, which keeps the library free of downloads.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.space.frames import look_angles, teme_to_ecef_km
from openqci.space.stations import GroundStation
from openqci.space.timescale import gmst_rad, julian_date

__all__ = ["sun_direction_ecef", "sun_elevation_deg"]

_AU_KM = 149_597_870.7


def sun_direction_ecef(start: datetime, offset_s: ArrayLike) -> NDArray[np.float64]:
    """Unit vectors (shape ``(n, 3)``) from the Earth's centre to the Sun in the Earth-fixed frame.

    References
    ----------
    The Astronomical Almanac, Sec. C5 (mean longitude, mean anomaly, ecliptic longitude, obliquity).
    """
    jd, fraction = julian_date(start, np.atleast_1d(np.asarray(offset_s, dtype=np.float64)))
    n = jd - 2_451_545.0 + fraction
    mean_longitude = np.deg2rad(280.460 + 0.9856474 * n)
    anomaly = np.deg2rad(357.528 + 0.9856003 * n)
    ecliptic = mean_longitude + np.deg2rad(1.915 * np.sin(anomaly) + 0.020 * np.sin(2.0 * anomaly))
    obliquity = np.deg2rad(23.439 - 4.0e-7 * n)
    inertial = np.stack(
        [np.cos(ecliptic), np.cos(obliquity) * np.sin(ecliptic), np.sin(obliquity) * np.sin(ecliptic)],
        axis=-1,
    )
    return teme_to_ecef_km(inertial, gmst_rad(jd, fraction))


def sun_elevation_deg(station: GroundStation, start: datetime, offset_s: ArrayLike) -> NDArray[np.float64]:
    """Elevation of the Sun's centre above a station's geodetic horizon (degrees, no refraction)."""
    sun_km = sun_direction_ecef(start, offset_s) * _AU_KM
    elevation, _, _ = look_angles(sun_km, station.latitude_deg, station.longitude_deg, station.altitude_m)
    return elevation
