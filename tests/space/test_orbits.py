"""Orbits: TLE reading, checksum refusal, and propagation against Kepler's third law."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from openqci.space.errors import InvalidTleError
from openqci.space.orbits import Satellite, parse_tle_text

DATA = Path(__file__).parent / "data"


def test_reads_three_line_sets() -> None:
    satellites = parse_tle_text((DATA / "three_satellites.tle").read_text())
    assert [s.name for s in satellites] == ["MICIUS-LIKE", "JINAN1-LIKE", "EUROQCI-LIKE"]
    assert satellites[0].epoch == datetime(2017, 1, 1, tzinfo=UTC)


def test_period_of_500_km_orbit() -> None:
    # Kepler's third law, recomputed by tests/space/reference_tables.py: a 500 km circular orbit has a period
    # of 94.5 min (R = 6371 km); ours is measured from the WGS-72 radius 6378 km, so it is ~0.15 % longer.
    satellite = Satellite.from_elements(
        "x", epoch=datetime(2026, 1, 1), altitude_km=500.0, inclination_deg=97.4, raan_deg=0
    )
    assert satellite.period_s / 60.0 == pytest.approx(94.5, rel=0.005)


def test_circular_orbit_keeps_its_radius() -> None:
    satellite = Satellite.from_elements(
        "x", epoch=datetime(2026, 1, 1), altitude_km=500.0, inclination_deg=97.4, raan_deg=0
    )
    radius = np.linalg.norm(
        satellite.position_ecef_km(datetime(2026, 1, 1), np.arange(0, 6000, 60.0)), axis=-1
    )
    # J2 short-period terms move a circular SGP4 orbit by ~10 km around its mean radius.
    assert np.all(np.abs(radius - 6878.135) < 25.0)


def test_bad_checksum_is_refused() -> None:
    lines = (DATA / "micius_like.tle").read_text().splitlines()
    broken = lines[1][:68] + str((int(lines[1][68]) + 1) % 10)
    with pytest.raises(InvalidTleError, match="checksum"):
        Satellite.from_tle(broken, lines[2])


@pytest.mark.parametrize("text", ["", "hello\nworld", "NAME\n1 123"])
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(InvalidTleError):
        parse_tle_text(text)


def test_epoch_is_where_propagation_starts() -> None:
    satellite = parse_tle_text((DATA / "micius_like.tle").read_text())[0]
    position = satellite.position_ecef_km(satellite.epoch, [0.0])[0]
    assert math.isclose(float(np.linalg.norm(position)), 6878.0, rel_tol=0.005)
