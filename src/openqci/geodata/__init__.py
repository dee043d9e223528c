"""Country outlines for offline maps: Natural Earth 1:110m admin-0 countries, shipped with OpenQCI.

Natural Earth is in the public domain (naturalearthdata.com). The file ``countries_110m.json`` holds each
country's name, ISO 3166-1 alpha-3 code, continent and polygon rings as [longitude, latitude] pairs rounded
to 0.01 degree (165 kB); it was converted from the 1:110m "Admin 0 - Countries" layer as packaged in
geopandas 0.14.4. Reports and dashboards draw from it so that nothing is fetched at run time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Country", "countries", "countries_in"]

Ring = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Country:
    """One country: name, ISO alpha-3 code (``-99`` where Natural Earth has none), outline rings."""

    name: str
    iso_a3: str
    continent: str
    rings: tuple[Ring, ...]

    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        lons = [lon for ring in self.rings for lon, _ in ring]
        lats = [lat for ring in self.rings for _, lat in ring]
        return min(lons), min(lats), max(lons), max(lats)


@cache
def countries() -> tuple[Country, ...]:
    """Every country of the 1:110m layer (read once)."""
    text = resources.files(__name__).joinpath("countries_110m.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return tuple(
        Country(
            entry["name"],
            entry["iso_a3"],
            entry["continent"],
            tuple(tuple((float(lon), float(lat)) for lon, lat in ring) for ring in entry["rings"]),
        )
        for entry in data["countries"]
    )


def countries_in(west: float, south: float, east: float, north: float) -> tuple[Country, ...]:
    """The countries whose outline overlaps the box (degrees)."""
    result = []
    for country in countries():
        w, s, e, n = country.bounds()
        if e >= west and w <= east and n >= south and s <= north:
            result.append(country)
    return tuple(result)
