"""Geometry of the simulated tracks: great circles on a spherical Earth and the system's stereographic plane.

The simulator flies great circles on a sphere of the mean Earth radius and takes the latitude and longitude
on that sphere as WGS-84 coordinates: distances on the sphere differ from those on the ellipsoid by up to
about 0.5 %, which does not matter for simulated traffic, and the items carry what the simulator computed.

The Cartesian position of a system track (I062/100) is the oblique stereographic projection of that point,
on the same sphere, from the system reference point: the plane used by radar data processing systems,
conformal, with a scale factor of 1 at the reference point. Its velocity (I062/185) is the derivative of
that projection along the motion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EARTH_RADIUS_M",
    "SYSTEM_REFERENCE",
    "StereographicPlane",
    "east_north",
    "from_unit",
    "great_circle",
    "initial_course",
    "to_unit",
]

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""

Vectors = NDArray[np.float64]


def to_unit(latitude_deg: NDArray[np.float64], longitude_deg: NDArray[np.float64]) -> Vectors:
    """Unit vectors (..., 3) of points given in degrees."""
    lat, lon = np.radians(latitude_deg), np.radians(longitude_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def from_unit(p: Vectors) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Latitude and longitude (degrees) of unit vectors (..., 3)."""
    lat = np.degrees(np.arcsin(np.clip(p[..., 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(p[..., 1], p[..., 0]))
    return lat, lon


def east_north(p: Vectors) -> tuple[Vectors, Vectors]:
    """Local east and north unit vectors (..., 3) at unit vectors ``p`` (not at the poles)."""
    horizontal = np.hypot(p[..., 0], p[..., 1])
    east = np.stack([-p[..., 1] / horizontal, p[..., 0] / horizontal, np.zeros_like(horizontal)], axis=-1)
    north = np.stack(
        [-p[..., 2] * p[..., 0] / horizontal, -p[..., 2] * p[..., 1] / horizontal, horizontal], axis=-1
    )
    return east, north


def great_circle(start: Vectors, end: Vectors) -> tuple[Vectors, NDArray[np.float64]]:
    """The unit tangent at ``start`` towards ``end`` and the central angle (radians) between them.

    A point at central angle ``d`` along the route is ``cos(d) * start + sin(d) * tangent``.
    """
    cos_angle = np.clip(np.sum(start * end, axis=-1), -1.0, 1.0)
    angle = np.arccos(cos_angle)
    towards = end - cos_angle[..., None] * start
    norm = np.linalg.norm(towards, axis=-1, keepdims=True)
    # a route from a point to itself (or its antipode) has no direction: its tangent is left at zero
    tangent = np.divide(towards, norm, out=np.zeros_like(towards), where=norm > 0.0)
    return tangent, angle


def initial_course(start: Vectors, tangent: Vectors) -> NDArray[np.float64]:
    """True course (degrees, 0-360) at ``start`` along ``tangent``."""
    east, north = east_north(start)
    course = np.degrees(np.arctan2(np.sum(tangent * east, axis=-1), np.sum(tangent * north, axis=-1)))
    return np.asarray(np.mod(course, 360.0), dtype=np.float64)


@dataclass(frozen=True)
class StereographicPlane:
    """Oblique stereographic projection from a reference point (degrees), on the sphere of radius ``radius``.

    ``x`` points east and ``y`` north at the reference point, in metres.
    """

    latitude: float
    longitude: float
    radius: float = EARTH_RADIUS_M

    def project(
        self, latitude_deg: NDArray[np.float64], longitude_deg: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Plane coordinates (m) of points in degrees."""
        x, y, *_ = self._terms(np.radians(latitude_deg), np.radians(longitude_deg))
        return x, y

    def velocity(
        self,
        latitude_deg: NDArray[np.float64],
        longitude_deg: NDArray[np.float64],
        v_east: NDArray[np.float64],
        v_north: NDArray[np.float64],
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Plane velocity (m/s) of points moving at ``v_east``, ``v_north`` (m/s) over the sphere."""
        lat, lon = np.radians(latitude_deg), np.radians(longitude_deg)
        _, _, dx_dlat, dx_dlon, dy_dlat, dy_dlon = self._terms(lat, lon)
        dlat = v_north / self.radius
        dlon = v_east / (self.radius * np.cos(lat))
        return dx_dlat * dlat + dx_dlon * dlon, dy_dlat * dlat + dy_dlon * dlon

    def _terms(self, lat: NDArray[np.float64], lon: NDArray[np.float64]) -> tuple[NDArray[np.float64], ...]:
        lat0, lon0 = np.radians(self.latitude), np.radians(self.longitude)
        s0, c0 = np.sin(lat0), np.cos(lat0)
        s, c = np.sin(lat), np.cos(lat)
        sd, cd = np.sin(lon - lon0), np.cos(lon - lon0)
        a = c * sd
        b = c0 * s - s0 * c * cd
        d = 1.0 + s0 * s + c0 * c * cd
        da_dlat, da_dlon = -s * sd, c * cd
        db_dlat, db_dlon = c0 * c + s0 * s * cd, s0 * c * sd
        dd_dlat, dd_dlon = s0 * c - c0 * s * cd, -c0 * c * sd
        k = 2.0 * self.radius
        x, y = k * a / d, k * b / d
        d2 = d * d
        dx_dlat = k * (da_dlat * d - a * dd_dlat) / d2
        dx_dlon = k * (da_dlon * d - a * dd_dlon) / d2
        dy_dlat = k * (db_dlat * d - b * dd_dlat) / d2
        dy_dlon = k * (db_dlon * d - b * dd_dlon) / d2
        return x, y, dx_dlat, dx_dlon, dy_dlat, dy_dlon


SYSTEM_REFERENCE = StereographicPlane(latitude=46.5, longitude=2.5)
"""The default system reference point: the middle of metropolitan France."""
