"""Great-circle distances between sites, for fibre lengths that a scenario does not state.

A fibre route follows roads and railways, so a span is longer than the straight line between its ends; the
scenario multiplies the great-circle distance by a route factor (1.3 by default, a common planning figure
for terrestrial fibre). The sphere has the IUGG mean Earth radius R1 = 6371.0088 km (Moritz, "Geodetic
Reference System 1980", J. Geodesy 74, 128 (2000)); against the ellipsoid the error stays below 0.5 %,
far less than the uncertainty of the route factor.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["EARTH_MEAN_RADIUS_KM", "great_circle_km"]

EARTH_MEAN_RADIUS_KM = 6371.0088
"""IUGG mean Earth radius R1 (km)."""


def great_circle_km(
    latitude_a_deg: ArrayLike,
    longitude_a_deg: ArrayLike,
    latitude_b_deg: ArrayLike,
    longitude_b_deg: ArrayLike,
) -> NDArray[np.float64]:
    """Great-circle distance on the mean sphere, by the haversine formula, element-wise.

    Parameters
    ----------
    latitude_a_deg, longitude_a_deg
        Geodetic latitude and longitude of the first point, degrees.
    latitude_b_deg, longitude_b_deg
        The same for the second point.

    Returns
    -------
    numpy.ndarray
        Distance in km along the surface (altitude is ignored).

    Examples
    --------
    >>> round(float(great_circle_km(0.0, 0.0, 0.0, 1.0)), 3)
    111.195
    >>> round(float(great_circle_km(48.8566, 2.3522, 45.764, 4.8357)))  # Paris to Lyon
    391
    """
    lat_a = np.radians(np.asarray(latitude_a_deg, dtype=np.float64))
    lat_b = np.radians(np.asarray(latitude_b_deg, dtype=np.float64))
    d_lat = lat_b - lat_a
    d_lon = np.radians(np.asarray(longitude_b_deg, dtype=np.float64) - np.asarray(longitude_a_deg))
    h = np.sin(d_lat / 2.0) ** 2 + np.cos(lat_a) * np.cos(lat_b) * np.sin(d_lon / 2.0) ** 2
    central_angle = 2.0 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
    return np.asarray(EARTH_MEAN_RADIUS_KM * central_angle, dtype=np.float64)
