"""The analytic Sun against known instants: solstice declination, equinox noon, midnight in China."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from openqci.space.stations import GroundStation
from openqci.space.sun import sun_direction_ecef, sun_elevation_deg


def test_june_solstice_declination() -> None:
    # June solstice 2024-06-20 20:51 UTC (US Naval Observatory): declination +23.44 deg.
    direction = sun_direction_ecef(datetime(2024, 6, 20, 20, 51, tzinfo=UTC), 0.0)[0]
    assert np.degrees(np.arcsin(direction[2])) == pytest.approx(23.44, abs=0.02)


def test_equinox_noon_on_the_equator() -> None:
    # March equinox 2024-03-20 03:06 UTC (USNO). At local apparent noon on the equator the Sun is near zenith;
    # Greenwich apparent noon that day is ~12:07:30 UTC (equation of time -7.5 min).
    station = GroundStation("Gulf of Guinea", 0.0, 0.0)
    elevation = sun_elevation_deg(station, datetime(2024, 3, 20, 12, 7, 30, tzinfo=UTC), 0.0)[0]
    assert elevation == pytest.approx(89.7, abs=0.3)


def test_midnight_at_xinglong_is_dark() -> None:
    station = GroundStation("Xinglong", 40.3956, 117.575, 900.0)
    midnight = datetime(2017, 1, 1, 16, 10, tzinfo=UTC)  # 00:10 local solar time
    noon = datetime(2017, 1, 1, 4, 10, tzinfo=UTC)
    assert sun_elevation_deg(station, midnight, 0.0)[0] < -60.0
    # Winter noon at 40.4 N: 90 - 40.4 - 23.0 = 26.6 deg.
    assert sun_elevation_deg(station, noon, 0.0)[0] == pytest.approx(26.6, abs=0.5)
