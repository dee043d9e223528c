"""Benchmark of the space segment: a week of passes for three satellites over twenty ground stations.

The vectorised pass search (coarse grid, then bisection of every edge at once) is timed on the full problem.
The baseline, run in the same process, is the naive approach: a per-second Python loop calling SGP4 and the
frame maths one instant at a time, timed on one satellite, one station and a shorter window, and scaled to the
full problem by its number of samples. Run with ``./run bench space`` or ``python benchmarks/bench_space.py``.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from openqci.space.frames import geodetic_to_ecef_km
from openqci.space.orbits import Satellite
from openqci.space.passes import find_passes
from openqci.space.stations import GroundStation
from openqci.space.timescale import gmst_rad, julian_date

WEEK_S = 7 * 86_400.0
BASELINE_S = 3 * 3600.0
START = datetime(2026, 3, 20, tzinfo=UTC)

STATIONS = [
    GroundStation(name, lat, lon, alt)
    for name, lat, lon, alt in [
        ("Paris", 48.85, 2.35, 35),
        ("Madrid", 40.42, -3.70, 650),
        ("Lisbon", 38.72, -9.14, 50),
        ("Rome", 41.90, 12.50, 20),
        ("Berlin", 52.52, 13.40, 34),
        ("Vienna", 48.21, 16.37, 190),
        ("Graz", 47.07, 15.49, 400),
        ("Warsaw", 52.23, 21.01, 100),
        ("Helsinki", 60.17, 24.94, 20),
        ("Athens", 37.98, 23.73, 100),
        ("Tenerife", 28.30, -16.51, 2390),
        ("Matera", 40.65, 16.70, 540),
        ("Oberpfaffenhofen", 48.08, 11.28, 600),
        ("Toulouse", 43.60, 1.44, 150),
        ("Dublin", 53.35, -6.26, 20),
        ("Stockholm", 59.33, 18.07, 30),
        ("Bucharest", 44.43, 26.10, 70),
        ("Valletta", 35.90, 14.51, 50),
        ("Nicosia", 35.17, 33.36, 220),
        ("Reunion", -21.11, 55.54, 100),
    ]
]
SATELLITES = [
    Satellite.from_elements(name, epoch=START, altitude_km=alt, inclination_deg=inc, raan_deg=raan)
    for name, alt, inc, raan in [
        ("SSO-500", 500.0, 97.4, 0.0),
        ("SSO-550", 550.0, 97.6, 60.0),
        ("INC-600", 600.0, 53.0, 120.0),
    ]
]


def vectorised_week() -> tuple[int, float]:
    """All passes of the week for every satellite and station; returns (passes, seconds)."""
    began = time.perf_counter()
    count = sum(len(find_passes(sat, site, START, WEEK_S)) for sat in SATELLITES for site in STATIONS)
    return count, time.perf_counter() - began


def naive_loop(satellite: Satellite, station: GroundStation, duration_s: float) -> tuple[int, float]:
    """Per-second scalar loop: SGP4, TEME to Earth-fixed and elevation one instant at a time."""
    site = geodetic_to_ecef_km(station.latitude_deg, station.longitude_deg, station.altitude_m)
    lat, lon = math.radians(station.latitude_deg), math.radians(station.longitude_deg)
    up = (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))
    began, rises, above = time.perf_counter(), 0, False
    for second in range(int(duration_s)):
        jd, fraction = julian_date(START, float(second))
        _, r, _ = satellite.record.sgp4(float(jd), float(fraction))
        theta = float(gmst_rad(jd, fraction))
        x = math.cos(theta) * r[0] + math.sin(theta) * r[1] - site[0]
        y = -math.sin(theta) * r[0] + math.cos(theta) * r[1] - site[1]
        z = r[2] - site[2]
        elevation = math.degrees(
            math.asin((up[0] * x + up[1] * y + up[2] * z) / math.sqrt(x * x + y * y + z * z))
        )
        rises += int(elevation >= station.min_elevation_deg and not above)
        above = elevation >= station.min_elevation_deg
    return rises, time.perf_counter() - began


def main() -> None:
    """Run both and print the figures recorded in benchmarks/README.md."""
    count, seconds = vectorised_week()
    pairs = len(SATELLITES) * len(STATIONS)
    print(f"space: {pairs} satellite-station pairs, 7 days, {count} passes in {seconds:.2f} s")
    _, naive_s = naive_loop(SATELLITES[0], STATIONS[0], BASELINE_S)
    extrapolated_s = naive_s * (WEEK_S / BASELINE_S) * pairs
    print(
        f"baseline: per-second scalar loop, 1 pair, {BASELINE_S / 3600:.0f} h in {naive_s:.2f} s "
        f"-> {extrapolated_s:.0f} s extrapolated to the full problem"
    )
    print(f"speed-up: {extrapolated_s / seconds:.0f}x")


if __name__ == "__main__":
    main()
