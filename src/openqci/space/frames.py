"""Reference frames: WGS-84 geodetic coordinates, TEME to Earth-fixed, and topocentric look angles.

SGP4 returns positions in the True Equator Mean Equinox (TEME) frame. Turning it by the Greenwich mean
sidereal time gives the Earth-fixed frame (pseudo-Earth-fixed: polar motion, at most ~15 m, is left out), and
the East-North-Up frame of a ground station then gives elevation, azimuth and slant range. Vallado et al.,
AIAA 2006-6753, Sec. "TEME", describe the same chain.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["WGS84_A_KM", "WGS84_F", "geodetic_to_ecef_km", "look_angles", "teme_to_ecef_km"]

WGS84_A_KM = 6378.137
"""WGS-84 equatorial radius (NIMA TR8350.2)."""
WGS84_F = 1.0 / 298.257223563
"""WGS-84 flattening (NIMA TR8350.2)."""


def geodetic_to_ecef_km(
    latitude_deg: ArrayLike, longitude_deg: ArrayLike, altitude_m: ArrayLike
) -> NDArray[np.float64]:
    """Earth-fixed Cartesian position (km) of WGS-84 geodetic coordinates; last axis is x, y, z."""
    lat, lon = np.deg2rad(latitude_deg), np.deg2rad(longitude_deg)
    altitude_km = np.asarray(altitude_m, dtype=np.float64) / 1000.0
    e2 = WGS84_F * (2.0 - WGS84_F)
    normal_km = WGS84_A_KM / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    x = (normal_km + altitude_km) * np.cos(lat) * np.cos(lon)
    y = (normal_km + altitude_km) * np.cos(lat) * np.sin(lon)
    z = (normal_km * (1.0 - e2) + altitude_km) * np.sin(lat)
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1).astype(np.float64)


def teme_to_ecef_km(position_teme_km: ArrayLike, gmst: ArrayLike) -> NDArray[np.float64]:
    """Rotate TEME positions (shape ``(..., 3)``) about the pole by the sidereal angle ``gmst`` (radians)."""
    r = np.asarray(position_teme_km, dtype=np.float64)
    c, s = np.cos(gmst), np.sin(gmst)
    x = c * r[..., 0] + s * r[..., 1]
    y = -s * r[..., 0] + c * r[..., 1]
    return np.stack([x, y, r[..., 2]], axis=-1)


def look_angles(
    target_ecef_km: ArrayLike, latitude_deg: float, longitude_deg: float, altitude_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Elevation (deg), azimuth (deg, north through east) and slant range (km) of targets seen from a site.

    Elevation is measured from the plane normal to the WGS-84 ellipsoid (geodetic horizon).
    """
    site = geodetic_to_ecef_km(latitude_deg, longitude_deg, altitude_m)
    d = np.asarray(target_ecef_km, dtype=np.float64) - site
    lat, lon = np.deg2rad(latitude_deg), np.deg2rad(longitude_deg)
    east = -np.sin(lon) * d[..., 0] + np.cos(lon) * d[..., 1]
    north = (
        -np.sin(lat) * np.cos(lon) * d[..., 0]
        - np.sin(lat) * np.sin(lon) * d[..., 1]
        + np.cos(lat) * d[..., 2]
    )
    up = (
        np.cos(lat) * np.cos(lon) * d[..., 0]
        + np.cos(lat) * np.sin(lon) * d[..., 1]
        + np.sin(lat) * d[..., 2]
    )
    range_km = np.sqrt(east**2 + north**2 + up**2)
    elevation_deg = np.rad2deg(np.arcsin(np.clip(up / range_km, -1.0, 1.0)))
    azimuth_deg = np.mod(np.rad2deg(np.arctan2(east, north)), 360.0)
    return elevation_deg, azimuth_deg, range_km
