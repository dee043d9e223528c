"""Optical ground stations: where they are, what they see above, and when they may work.

A station is a WGS-84 position plus what limits its passes: an elevation mask (below ~10-15 degrees the
atmosphere and the horizon make satellite QKD impractical; Micius worked down to about 10 degrees, Liao et al.
2017), an optional night-only rule (a Si-APD receiver at ~850 nm is blinded by the day sky), and its
telescope aperture, which the free-space link budget uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from openqci.space.errors import InvalidStationError
from openqci.space.frames import geodetic_to_ecef_km

__all__ = ["NIGHT_SUN_ELEVATION_DEG", "GroundStation"]

NIGHT_SUN_ELEVATION_DEG = -12.0
"""The Sun below this elevation counts as night (end of nautical twilight, US Naval Observatory)."""


@dataclass(frozen=True)
class GroundStation:
    """An optical ground station.

    Attributes
    ----------
    name
        The station's name.
    latitude_deg, longitude_deg
        WGS-84 geodetic coordinates, latitude in [-90, 90], longitude in [-180, 360).
    altitude_m
        Height above the WGS-84 ellipsoid.
    min_elevation_deg
        Elevation mask: passes are counted only above it.
    aperture_m
        Diameter of the receiving telescope, used by the link budget.
    night_only
        Work only while the Sun is below :data:`NIGHT_SUN_ELEVATION_DEG`.
    """

    name: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float = 0.0
    min_elevation_deg: float = 10.0
    aperture_m: float = 1.0
    night_only: bool = False

    def __post_init__(self) -> None:
        _require_range("latitude_deg", self.latitude_deg, -90.0, 90.0)
        _require_range("longitude_deg", self.longitude_deg, -180.0, 360.0)
        _require_range("altitude_m", self.altitude_m, -500.0, 9000.0)
        _require_range("min_elevation_deg", self.min_elevation_deg, -5.0, 89.0)
        if not (math.isfinite(self.aperture_m) and self.aperture_m > 0):
            raise InvalidStationError(f"aperture_m must be > 0, got {self.aperture_m!r}")

    @classmethod
    def from_text(cls, text: str, *, name: str = "", min_elevation_deg: float = 10.0) -> GroundStation:
        """A station from ``"LAT,LON[,ALT_M]"`` in degrees and metres, as the command line takes it.

        Raises
        ------
        InvalidStationError
            If the text is not two or three numbers or a coordinate is out of range.
        """
        parts = [part.strip() for part in text.split(",")]
        try:
            numbers = [float(part) for part in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (2, 3):
            raise InvalidStationError(f"station must be LAT,LON[,ALT_M] in degrees and metres, got {text!r}")
        altitude_m = numbers[2] if len(numbers) == 3 else 0.0
        label = name or f"{numbers[0]:.4f},{numbers[1]:.4f}"
        return cls(label, numbers[0], numbers[1], altitude_m, min_elevation_deg=min_elevation_deg)

    @cached_property
    def position_ecef_km(self) -> NDArray[np.float64]:
        """Earth-fixed position of the station (km)."""
        return geodetic_to_ecef_km(self.latitude_deg, self.longitude_deg, self.altitude_m)

    def distance_km(self, other: GroundStation) -> float:
        """Great-circle distance to another station on a sphere of radius 6371 km (haversine)."""
        lat1, lat2 = math.radians(self.latitude_deg), math.radians(other.latitude_deg)
        dlat, dlon = lat2 - lat1, math.radians(other.longitude_deg - self.longitude_deg)
        h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
        return 2.0 * 6371.0 * math.asin(math.sqrt(h))


def _require_range(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise InvalidStationError(f"{name} must lie in [{low:g}, {high:g}], got {value!r}")
