"""Pass prediction against the analytic zenith-pass geometry, and its invariants as properties."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.space.errors import InvalidWindowError
from openqci.space.orbits import Satellite
from openqci.space.passes import find_passes, look_at, pass_track
from openqci.space.stations import GroundStation
from tests.space.helpers import slant_range_km
from tests.space.reference_tables import geometry_table

EPOCH = datetime(2026, 3, 20, tzinfo=UTC)
SATELLITE = Satellite.from_elements(
    "SSO-500", epoch=EPOCH, altitude_km=500.0, inclination_deg=97.4, raan_deg=0.0
)


def _station_under_track(offset_s: float) -> GroundStation:
    """A station on the equator-near ground track, so the pass there is overhead."""
    position = SATELLITE.position_ecef_km(EPOCH, [offset_s])[0]
    latitude = float(np.degrees(np.arcsin(position[2] / np.linalg.norm(position))))
    longitude = float(np.degrees(np.arctan2(position[1], position[0])))
    return GroundStation("under", latitude, longitude, 0.0, min_elevation_deg=10.0)


def test_overhead_pass_lasts_about_seven_minutes() -> None:
    # Recomputed (tests/space/reference_tables.py, circular orbit over a spherical non-rotating Earth): an
    # overhead pass of a 500 km orbit stays 443 s above 10 deg. Earth rotation and the station's latitude
    # change this by a few seconds: tolerance 3 %.
    station = _station_under_track(3000.0)
    (found,) = find_passes(SATELLITE, station, EPOCH + timedelta(seconds=2400), 1200.0)
    assert found.max_elevation_deg > 89.0
    assert found.duration_s == pytest.approx(443.0, rel=0.03)


@pytest.mark.parametrize(
    ("elevation_deg", "table_km"), [(30.0, 909.0), (20.0, 1193.0), (15.0, 1407.0), (10.0, 1695.0)]
)
def test_slant_range_matches_the_recomputed_table(elevation_deg: float, table_km: float) -> None:
    # The 500 km row recomputed by tests/space/reference_tables.py; the table is checked against its closed
    # form first.
    assert slant_range_km(elevation_deg, 500.0) == pytest.approx(table_km, abs=1.0)
    station = _station_under_track(3000.0)
    (found,) = find_passes(SATELLITE, station, EPOCH + timedelta(seconds=2400), 1200.0)
    track = pass_track(SATELLITE, station, found)
    rising = track.time_s < (found.culmination - found.start).total_seconds()
    measured = np.interp(elevation_deg, track.elevation_deg[rising], track.slant_range_km[rising])
    assert measured == pytest.approx(table_km, rel=0.02)


def test_the_recomputed_table_is_what_the_reference_script_prints() -> None:
    row = geometry_table()[500.0]
    assert row["period_min"] == 94.5
    assert row["pass_s"] == [693, 443, 359, 296]
    assert row["slant_range_km"] == [500, 909, 1193, 1407, 1695]


def test_passes_are_ordered_and_above_the_mask() -> None:
    station = GroundStation("Xinglong", 40.3956, 117.575, 900.0, min_elevation_deg=10.0)
    found = find_passes(SATELLITE, station, EPOCH, 3 * 86_400.0)
    assert len(found) >= 6
    for earlier, later in itertools.pairwise(found):
        assert earlier.end < later.start
    for p in found:
        assert p.start <= p.culmination <= p.end
        assert p.max_elevation_deg >= 10.0 - 1e-6
        offsets = np.linspace(0.0, p.duration_s, 50) + (p.start - EPOCH).total_seconds()
        assert np.all(look_at(SATELLITE, station, EPOCH, offsets)[0] >= 10.0 - 1e-3)


def test_night_only_keeps_dark_passes() -> None:
    station = GroundStation("Xinglong", 40.3956, 117.575, 900.0, night_only=True)
    every = find_passes(SATELLITE, GroundStation("X", 40.3956, 117.575, 900.0), EPOCH, 2 * 86_400.0)
    dark = find_passes(SATELLITE, station, EPOCH, 2 * 86_400.0)
    assert 0 < len(dark) < len(every)


def test_negative_window_is_refused() -> None:
    with pytest.raises(InvalidWindowError):
        find_passes(SATELLITE, GroundStation("x", 0.0, 0.0), EPOCH, -3600.0)


@settings(max_examples=30, deadline=None)
@given(
    latitude=st.floats(-90, 90),
    longitude=st.floats(-180, 180),
    offset_s=st.floats(0, 7 * 86_400.0),
)
def test_elevation_is_an_angle(latitude: float, longitude: float, offset_s: float) -> None:
    elevation, azimuth, distance = look_at(
        SATELLITE, GroundStation("p", latitude, longitude), EPOCH, np.array([offset_s])
    )
    assert -90.0 <= elevation[0] <= 90.0
    assert 0.0 <= azimuth[0] < 360.0
    assert 490.0 < distance[0] < 2 * 6878.0 + 1.0
