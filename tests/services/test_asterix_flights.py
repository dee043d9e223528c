"""The track simulator: plausible climbs, cruises and descents over France, the same for the same seed."""

from __future__ import annotations

import numpy as np
import pytest

from openqci.services.atc import AIRCRAFT, COVERAGE, HOME, RouteMix, StereographicPlane, generate_flights
from openqci.services.atc.airports import AIRPORTS, airport
from openqci.services.atc.flights import Flights
from openqci.services.atc.geo import EARTH_RADIUS_M, to_unit
from openqci.services.atc.performance import FEET, KNOT, cas_to_tas, isa_pressure, mach_to_tas, speed_of_sound

START = 7 * 3600.0
FPM = FEET / 60.0  # m/s in a foot per minute


@pytest.fixture(scope="module")
def flights() -> Flights:
    return generate_flights(11, 1500)


def _sample(flights: Flights, step: float = 20.0) -> list[tuple[float, np.ndarray]]:
    """(t, tracked flights) every ``step`` seconds through the busy hour."""
    return [(t, np.flatnonzero(flights.tracked(t))) for t in np.arange(START, START + 3600.0, step)]


def test_the_same_seed_gives_the_same_flights() -> None:
    a, b, c = generate_flights(5, 200), generate_flights(5, 200), generate_flights(6, 200)
    for name in ("callsign", "mode3a", "track_number", "origin", "destination", "departure", "knot_time"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.callsign, c.callsign)


def test_a_snapshot_tracks_exactly_the_count() -> None:
    flights = generate_flights(3, 800, duration=0.0)
    assert len(flights) == 800
    assert int(flights.tracked(START).sum()) == 800


def test_the_number_tracked_stays_level_through_the_period(flights: Flights) -> None:
    counts = np.array([index.size for _, index in _sample(flights, 60.0)])
    assert abs(counts.mean() - 1500) < 0.05 * 1500
    assert counts.min() > 0.9 * 1500
    assert counts.max() < 1.1 * 1500


def test_identities_are_valid_and_distinct(flights: Flights) -> None:
    assert np.unique(flights.callsign).size == len(flights)
    assert np.unique(flights.track_number).size == len(flights)
    assert np.unique(flights.mode3a).size == len(flights)  # 1,500 < 4,087 discrete codes
    assert all(1 <= len(c) <= 8 and c.isalnum() and c.isupper() for c in flights.callsign)
    assert not np.isin(flights.mode3a, [0o1000, 0o1200, 0o2000, 0o7000, 0o7500, 0o7600, 0o7700]).any()
    assert int(flights.mode3a.max()) <= 0o7777
    assert set(flights.aircraft) <= {a.designator for a in AIRCRAFT}


def test_toulouse_traffic_and_every_kind_of_route_are_there(flights: Flights) -> None:
    french = {a.icao for a in AIRPORTS if a.french}
    o_fr = np.isin(flights.origin, list(french))
    d_fr = np.isin(flights.destination, list(french))
    assert (flights.origin == HOME).sum() > 10
    assert (flights.destination == HOME).sum() > 10
    assert (o_fr & d_fr).sum() > 100  # domestic
    assert (o_fr ^ d_fr).sum() > 100  # international
    assert (~o_fr & ~d_fr).sum() > 100  # overflights
    assert np.all(flights.origin != flights.destination)
    assert flights.route_length.min() >= 150_000.0


def test_profiles_climb_cruise_and_descend(flights: Flights) -> None:
    h = flights.knot_altitude
    assert np.all(np.diff(flights.knot_time, axis=1) >= 0.0)
    assert np.all(np.diff(h[:, :5], axis=1) >= 0.0)  # climb
    assert np.all(np.diff(h[:, 5:], axis=1) <= 0.0)  # descent
    cruise_fl = flights.cruise_level
    np.testing.assert_allclose(h[:, 4] / (100 * FEET), cruise_fl)
    np.testing.assert_allclose(h[:, 5] / (100 * FEET), cruise_fl)
    assert cruise_fl.min() >= 60
    assert cruise_fl.max() <= 410
    # most flights cruise in the upper airspace; short ones lower
    assert np.median(cruise_fl) >= 300
    long_haul = flights.route_length > 800_000.0
    assert np.all(cruise_fl[long_haul] >= 290)
    # lift-off at the origin's elevation, threshold at the destination's
    elevation = {a.icao: a.elevation_ft * FEET for a in AIRPORTS}
    np.testing.assert_allclose(h[:, 0], [elevation[o] for o in flights.origin])
    np.testing.assert_allclose(h[:, -1], [elevation[d] for d in flights.destination])


def test_cruise_levels_follow_the_semicircular_rule(flights: Flights) -> None:
    # the course at mid-route: odd thousands of feet eastbound (000-179), even westbound
    mid = flights.route_length / 2.0
    state = flights.state(flights.departure + _time_at(flights, mid))
    course = np.degrees(np.arctan2(state.v_east, state.v_north)) % 360.0
    odd = (flights.cruise_level // 10) % 2 == 1
    np.testing.assert_array_equal(odd, course < 180.0)


def _time_at(flights: Flights, distance: np.ndarray) -> np.ndarray:
    from openqci.services.atc.flights import _time_at_distance

    return _time_at_distance(flights.knot_time, flights.knot_distance, flights.knot_speed, distance)


def test_speeds_and_vertical_rates_are_plausible(flights: Flights) -> None:
    for t, index in _sample(flights):
        s = flights.state(t, index)
        assert s.airborne.all()
        fl = s.flight_level
        gs_kt = s.ground_speed / KNOT
        assert gs_kt.min() >= 120.0
        assert gs_kt.max() <= 500.0
        high = fl > 250.0
        assert np.all((gs_kt[high] >= 380.0) & (gs_kt[high] <= 500.0))  # Mach 0.75-0.78 up there
        assert np.all(s.vertical_rate <= 3500.0 * FPM)  # climbs up to ~3,100 ft/min (WRAP initial climb)
        assert np.all(s.vertical_rate >= -3000.0 * FPM)  # descents up to ~2,400 ft/min
        level = np.abs(s.vertical_rate) < 1e-9
        np.testing.assert_allclose(fl[level], flights.cruise_level[index][level], atol=1e-6)


def test_climbs_and_descents_in_wraps_ranges(flights: Flights) -> None:
    # every climbing segment between 700 and 3,500 ft/min, every descending one between 500 and 3,000
    dt = np.diff(flights.knot_time, axis=1)
    dh = np.diff(flights.knot_altitude, axis=1)
    moving = dt > 0
    rate = np.where(moving, dh / np.where(moving, dt, 1.0), 0.0)
    climb, descent = rate[:, :4][moving[:, :4]], -rate[:, 5:][moving[:, 5:]]
    assert climb.min() > 700.0 * FPM
    assert climb.max() < 3500.0 * FPM
    assert descent.min() > 500.0 * FPM
    assert descent.max() < 3000.0 * FPM
    # the climb to cruise takes 10-40 minutes, the flight a sensible average speed
    assert np.all(flights.knot_time[:, 4] < 40 * 60)
    assert np.median(flights.knot_time[:, 4]) > 15 * 60
    mean_speed = flights.route_length / flights.knot_time[:, -1]
    assert mean_speed.min() > 100.0
    assert mean_speed.max() < 240.0


def test_tracked_flights_stay_over_france(flights: Flights) -> None:
    for t, index in _sample(flights, 60.0):
        s = flights.state(t, index)
        assert COVERAGE.contains(s.latitude, s.longitude).all()
        # and the box is France's: 41.3-51.1 N, 5.5 W-9.7 E
        assert s.latitude.min() >= 41.3
        assert s.longitude.max() <= 9.7


def test_flights_start_and_end_at_their_airports(flights: Flights) -> None:
    end = flights.state(flights.arrival)
    start = flights.state(flights.departure)
    for state, places in ((start, flights.origin), (end, flights.destination)):
        lat = np.array([airport(p).latitude for p in places])
        lon = np.array([airport(p).longitude for p in places])
        elevation = np.array([airport(p).elevation_ft for p in places]) * FEET
        assert np.abs(state.latitude - lat).max() < 1e-6
        assert np.abs(state.longitude - lon).max() < 1e-6
        assert np.abs(state.altitude - elevation).max() < 1e-3
    # arrivals to Toulouse are tracked down to the runway; departures from it from lift-off
    home_arrival = flights.destination == HOME
    np.testing.assert_allclose(flights.tracked_until[home_arrival], flights.arrival[home_arrival])
    home_departure = flights.origin == HOME
    np.testing.assert_allclose(flights.tracked_from[home_departure], flights.departure[home_departure])
    # and the last 3,000 ft are flown at approach speeds, on a descent near three degrees
    final = flights.state(flights.arrival - 30.0)
    assert np.all(final.ground_speed / KNOT < 170.0)
    angle = np.degrees(np.arctan2(-final.vertical_rate, final.ground_speed))
    assert angle.min() > 2.0
    assert angle.max() < 4.0


def test_the_reported_velocity_is_the_motion(flights: Flights) -> None:
    index = np.flatnonzero(flights.tracked(START + 900.0))
    a, b, c = (flights.state(START + 900.0 + dt, index) for dt in (-0.5, 0.5, 0.0))
    moved = np.arccos(
        np.clip(np.sum(to_unit(a.latitude, a.longitude) * to_unit(b.latitude, b.longitude), axis=1), -1, 1)
    )
    np.testing.assert_allclose(moved * EARTH_RADIUS_M, c.ground_speed, atol=0.2)
    np.testing.assert_allclose(np.hypot(c.v_east, c.v_north), c.ground_speed, rtol=1e-9)
    np.testing.assert_allclose(b.distance - a.distance, c.ground_speed, atol=0.2)


def test_stereographic_plane() -> None:
    plane = StereographicPlane(46.5, 2.5)
    x, y = plane.project(np.array([46.5, 47.5, 46.5]), np.array([2.5, 2.5, 3.5]))
    assert abs(x[0]) < 1e-6
    assert abs(y[0]) < 1e-6
    assert abs(x[1]) < 1e-6
    assert 111_000 < y[1] < 111_400
    assert 76_000 < x[2] < 77_000
    assert y[2] > 0
    # its velocity is the derivative of the projection
    rng = np.random.default_rng(3)
    lat, lon = rng.uniform(41, 51, 200), rng.uniform(-5, 9, 200)
    ve, vn = rng.uniform(-250, 250, 200), rng.uniform(-250, 250, 200)
    vx, vy = plane.velocity(lat, lon, ve, vn)
    h = 1e-3
    dlat = np.degrees(vn * h / EARTH_RADIUS_M)
    dlon = np.degrees(ve * h / (EARTH_RADIUS_M * np.cos(np.radians(lat))))
    xa, ya = plane.project(lat - dlat, lon - dlon)
    xb, yb = plane.project(lat + dlat, lon + dlon)
    np.testing.assert_allclose(vx, (xb - xa) / (2 * h), atol=1e-4)
    np.testing.assert_allclose(vy, (yb - ya) / (2 * h), atol=1e-4)


def test_isa_atmosphere() -> None:
    assert abs(float(speed_of_sound(0.0)) - 340.294) < 1e-3
    assert abs(float(isa_pressure(11_000.0)) - 22_632.0) < 1.0
    assert abs(float(isa_pressure(5_000.0)) - 54_019.9) < 1.0
    assert abs(float(cas_to_tas(100.0, 0.0)) - 100.0) < 1e-9
    # 250 kt CAS at FL100 is about 290 kt TAS; 280 kt CAS at FL350 is Mach 0.82
    assert 288 < float(cas_to_tas(250 * KNOT, 3048.0)) / KNOT < 292
    tas = float(cas_to_tas(280 * KNOT, 35_000 * FEET))
    assert 0.81 < tas / float(speed_of_sound(35_000 * FEET)) < 0.83
    assert abs(float(mach_to_tas(0.78, 11_000.0)) - 0.78 * 295.07) < 0.1


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="shares"):
        generate_flights(1, 10, mix=RouteMix(0, 0, 0, 0, 0))
    with pytest.raises(ValueError, match="65,535"):
        generate_flights(1, 70_000)
    with pytest.raises(ValueError, match="duration"):
        generate_flights(1, 10, duration=-1.0)
    assert len(generate_flights(1, 0)) == 0


def test_only_toulouse_traffic_when_asked() -> None:
    flights = generate_flights(
        2, 100, mix=RouteMix(departures=1, arrivals=1, domestic=0, international=0, overflights=0)
    )
    assert np.all((flights.origin == HOME) ^ (flights.destination == HOME))
