"""The network map of a report as inline SVG: country outlines, links by utilisation, stations, tracks.

An equirectangular projection scaled by the cosine of the middle latitude keeps Europe's shapes
recognisable without a projection library. Sites far from the others (overseas regions) would shrink the
map to the whole globe: the frame covers the sites within :data:`FRAME_RADIUS_KM` of the median site, and
the others are named below the map.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from openqci.geodata import countries_in
from openqci.scenario import Site
from openqci.scenario.geo import great_circle_km

__all__ = ["FRAME_RADIUS_KM", "MapLink", "MapTrack", "network_map"]

FRAME_RADIUS_KM = 3500.0
WIDTH = 1000.0


@dataclass(frozen=True)
class MapLink:
    """A fibre link to draw: its ends, utilisation in [0, 1] (colour) and a tooltip."""

    site_a: str
    site_b: str
    utilisation: float
    label: str


@dataclass(frozen=True)
class MapTrack:
    """A satellite ground track: latitudes and longitudes in degrees, in time order."""

    name: str
    latitude_deg: Sequence[float]
    longitude_deg: Sequence[float]


def utilisation_colour(value: float) -> str:
    """Green (idle) through yellow to red (all key used)."""
    value = min(1.0, max(0.0, value))
    red = int(255 * min(1.0, 2 * value))
    green = int(200 * min(1.0, 2 * (1 - value)))
    return f"#{red:02x}{green:02x}30"


def network_map(
    sites: Sequence[Site], links: Sequence[MapLink], tracks: Sequence[MapTrack]
) -> tuple[str, list[str]]:
    """The SVG of the map and the names of the sites left outside its frame."""
    inside, outside = _frame(sites)
    lats = [s.latitude_deg for s in inside]
    lons = [s.longitude_deg for s in inside]
    south, north = min(lats) - 2.0, max(lats) + 2.0
    west, east = min(lons) - 3.0, max(lons) + 3.0
    scale_x = math.cos(math.radians((south + north) / 2))
    span_x = (east - west) * scale_x
    height = WIDTH * (north - south) / span_x

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (lon - west) * scale_x / span_x * WIDTH, (north - lat) / (north - south) * height

    parts = [
        f'<svg id="network-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH:.0f} {height:.0f}" '
        f'width="100%" style="background:#dfeaf5">'
    ]
    for country in countries_in(west, south, east, north):
        for ring in country.rings:
            points = " ".join("{:.1f},{:.1f}".format(*xy(lat, lon)) for lon, lat in ring)
            parts.append(
                f'<polygon class="country" points="{points}" fill="#f4f1ea" stroke="#9a9a9a" '
                f'stroke-width="0.6"><title>{html.escape(country.name)}</title></polygon>'
            )
    for track in tracks:
        parts.extend(_track(track, xy, (west, south, east, north)))
    by_name = {site.name: site for site in sites}
    inside_names = {site.name for site in inside}
    for link in links:
        if link.site_a not in inside_names or link.site_b not in inside_names:
            continue
        a, b = by_name[link.site_a], by_name[link.site_b]
        (x1, y1), (x2, y2) = xy(a.latitude_deg, a.longitude_deg), xy(b.latitude_deg, b.longitude_deg)
        parts.append(
            f'<line class="link" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{utilisation_colour(link.utilisation)}" stroke-width="2.2">'
            f"<title>{html.escape(link.label)}</title></line>"
        )
    for site in inside:
        x, y = xy(site.latitude_deg, site.longitude_deg)
        parts.append(_site_marker(site, x, y))
    parts.append(_legend(height))
    parts.append("</svg>")
    return "".join(parts), [site.name for site in outside]


def _frame(sites: Sequence[Site]) -> tuple[list[Site], list[Site]]:
    lat0 = float(np.median([s.latitude_deg for s in sites]))
    lon0 = float(np.median([s.longitude_deg for s in sites]))
    inside: list[Site] = []
    outside: list[Site] = []
    for site in sites:
        near = great_circle_km(lat0, lon0, site.latitude_deg, site.longitude_deg) <= FRAME_RADIUS_KM
        (inside if near else outside).append(site)
    return (inside or list(sites)), outside


def _site_marker(site: Site, x: float, y: float) -> str:
    roles = {str(role) for role in site.roles}
    title = f"<title>{html.escape(site.name)} ({', '.join(sorted(roles))})</title>"
    if "ground-station" in roles:
        return (
            f'<polygon class="ground-station" points="{x:.1f},{y - 6:.1f} {x - 5:.1f},{y + 4:.1f} '
            f'{x + 5:.1f},{y + 4:.1f}" fill="#7b2cbf" stroke="#fff" stroke-width="0.8">{title}</polygon>'
        )
    colour, radius = ("#1d4e89", 3.2) if "user-site" in roles else ("#555", 2.4)
    return (
        f'<circle class="site" cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}" '
        f'stroke="#fff" stroke-width="0.6">{title}</circle>'
    )


def _track(track: MapTrack, xy: object, box: tuple[float, float, float, float]) -> list[str]:
    """Polylines of the track's pieces inside the box (a piece ends where the track leaves it)."""
    west, south, east, north = box
    pieces: list[list[str]] = [[]]
    previous_lon: float | None = None
    for lat, lon in zip(track.latitude_deg, track.longitude_deg, strict=True):
        jump = previous_lon is not None and abs(lon - previous_lon) > 180
        if not (south <= lat <= north and west <= lon <= east) or jump:
            if pieces[-1]:
                pieces.append([])
            previous_lon = lon
            if not (south <= lat <= north and west <= lon <= east):
                continue
        x, y = xy(lat, lon)  # type: ignore[operator]
        pieces[-1].append(f"{x:.1f},{y:.1f}")
        previous_lon = lon
    return [
        f'<polyline class="ground-track" points="{" ".join(piece)}" fill="none" stroke="#7b2cbf" '
        f'stroke-width="1" stroke-dasharray="4 3" opacity="0.7"><title>{html.escape(track.name)} ground track'
        "</title></polyline>"
        for piece in pieces
        if len(piece) > 1
    ]


def _legend(height: float) -> str:
    y = height - 70
    stops = "".join(
        f'<rect x="{20 + 12 * i}" y="{y + 40}" width="12" height="10" fill="{utilisation_colour(i / 9)}"/>'
        for i in range(10)
    )
    return (
        f'<g class="legend" font-family="sans-serif" font-size="11">'
        f'<rect x="10" y="{y - 5}" width="250" height="70" fill="#ffffffd0" stroke="#999"/>'
        f'<circle cx="25" cy="{y + 8}" r="3.2" fill="#1d4e89"/><text x="35" y="{y + 12}">user site</text>'
        f'<circle cx="105" cy="{y + 8}" r="2.4" fill="#555"/><text x="115" y="{y + 12}">trusted node</text>'
        f'<polygon points="25,{y + 18} 20,{y + 28} 30,{y + 28}" fill="#7b2cbf"/>'
        f'<text x="35" y="{y + 28}">ground station, track</text>{stops}'
        f'<text x="145" y="{y + 50}">utilisation 0-100 %</text></g>'
    )
