"""The CAT062 feed: simulated tracks go out as bytes and come back, through two decoders, as the tracks."""

from __future__ import annotations

import numpy as np
import pytest
from asterix4py import AsterixParser

from openqci.services.atc import (
    LSB,
    SYSTEM_REFERENCE,
    TrackFeed,
    TrackSource,
    decode_records,
    encode_cat062_libasterix,
    generate_flights,
    split_blocks,
)

START = 7 * 3600.0


@pytest.fixture(scope="module")
def feed() -> TrackFeed:
    return TrackFeed(seed=4, flights=600, source=TrackSource(sac=8, sic=12, service_id=2))


def test_every_tracked_flight_comes_back_from_the_bytes(feed: TrackFeed) -> None:
    t = START + 1234.5
    data = feed.records_at(t)
    got = decode_records(data)
    flights = feed.flights
    index = np.flatnonzero(flights.tracked(t))
    assert len(got) == index.size > 500
    # the records follow the flights' order: compare with the simulator's own state
    state = flights.state(t, index)
    np.testing.assert_array_equal(got.track_number, flights.track_number[index])
    np.testing.assert_array_equal(got.callsign, flights.callsign[index])
    np.testing.assert_array_equal(got.mode3a, flights.mode3a[index])
    x, y = SYSTEM_REFERENCE.project(state.latitude, state.longitude)
    vx, vy = SYSTEM_REFERENCE.velocity(state.latitude, state.longitude, state.v_east, state.v_north)
    truth = {
        "latitude": state.latitude,
        "longitude": state.longitude,
        "x": x,
        "y": y,
        "vx": vx,
        "vy": vy,
        "flight_level": state.flight_level,
        "time_of_day": np.full(index.size, t),
    }
    for name, values in truth.items():
        assert np.abs(getattr(got, name) - values).max() <= LSB[name] / 2 + 1e-9, name
    assert set(got.sac) == {8}
    assert set(got.sic) == {12}
    assert set(got.service_id) == {2}
    assert got.simulated.all()


# asterix4py loads its XML with importlib.resources.read_text (and so open_text), deprecated in Python 3.11
@pytest.mark.filterwarnings(r"ignore:\w+ is deprecated. Use files\(\) instead:DeprecationWarning")
def test_a_second_decoder_reads_the_same_tracks(feed: TrackFeed) -> None:
    t = START + 600.0
    data = feed.records_between(t, t + 1.0)
    ours = decode_records(data)
    other = AsterixParser(data).get_result()
    rows = [other[i + 1] for i in range(len(other))]
    assert len(rows) == len(ours) > 100
    assert [r["245"]["TId"].rstrip(" ") for r in rows] == ours.callsign.tolist()
    assert [r["040"]["TrkN"] for r in rows] == ours.track_number.tolist()
    assert [int(r["060"]["Mode3A"], 8) for r in rows] == ours.mode3a.tolist()
    np.testing.assert_allclose([r["105"]["Lat"] for r in rows], ours.latitude, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r["105"]["Lon"] for r in rows], ours.longitude, rtol=0, atol=1e-12)
    np.testing.assert_allclose([r["100"]["X"] for r in rows], ours.x, rtol=0, atol=1e-9)
    np.testing.assert_allclose([r["136"]["MFL"] / 100 for r in rows], ours.flight_level, rtol=0, atol=1e-9)
    np.testing.assert_allclose([r["070"]["ToT"] for r in rows], ours.time_of_day, rtol=0, atol=1e-9)


def test_the_feed_bytes_are_libasterix_bytes(feed: TrackFeed) -> None:
    tracks = feed.updates_between(START + 100.0, START + 101.0)
    assert feed.records_between(START + 100.0, START + 101.0) == encode_cat062_libasterix(tracks)


def test_staggered_updates_cover_every_track_once_a_period(feed: TrackFeed) -> None:
    t0 = START + 1800.0
    window = feed.updates_between(t0, t0 + feed.period)
    # every flight tracked through the whole period is updated exactly once in it
    flights = feed.flights
    through = np.flatnonzero(flights.tracked(t0) & flights.tracked(t0 + feed.period))
    numbers, counts = np.unique(window.track_number, return_counts=True)
    assert np.all(counts == 1)
    assert set(flights.track_number[through]) <= set(numbers)
    assert abs(len(window) - through.size) <= 5
    # a one-second read carries about a quarter of them, in time order, within the second
    second = feed.updates_between(t0, t0 + 1.0)
    assert 0.2 * len(window) < len(second) < 0.3 * len(window)
    assert np.all(np.diff(second.time_of_day) >= 0)
    assert second.time_of_day.min() >= t0 - LSB["time_of_day"]
    assert second.time_of_day.max() < t0 + 1.0
    # and the four seconds together are the period
    parts = [feed.updates_between(t0 + k, t0 + k + 1.0) for k in range(4)]
    assert sorted(np.concatenate([p.track_number for p in parts])) == sorted(window.track_number)


def test_a_track_begins_and_ends_once(feed: TrackFeed) -> None:
    flights = feed.flights
    # a domestic flight wholly inside the hour's simulation window
    inside = np.flatnonzero((flights.tracked_from > START) & (flights.tracked_until < START + 2 * 3600.0))
    i = int(inside[0])
    a, b = flights.tracked_from[i] - 10.0, flights.tracked_until[i] + 10.0
    seen = feed.updates_between(a, b)
    mine = seen.track_number == flights.track_number[i]
    assert mine.sum() == pytest.approx((b - a - 20.0) / feed.period, abs=1.5)
    assert seen.first[mine].sum() == 1
    assert seen.first[mine][0]
    assert seen.last[mine].sum() == 1
    assert seen.last[mine][-1]


def test_the_same_seed_gives_the_same_bytes() -> None:
    a = TrackFeed(seed=9, flights=200).records_at(START + 60.0)
    b = TrackFeed(seed=9, flights=200).records_at(START + 60.0)
    c = TrackFeed(seed=10, flights=200).records_at(START + 60.0)
    assert a == b != c


def test_a_busy_hour_picture_is_3000_tracks_in_blocks() -> None:
    feed = TrackFeed(seed=1, flights=3000)
    data = feed.records_at(START + 900.0)
    blocks = list(split_blocks(data))
    assert all(category == 62 and len(block) <= 1472 for category, block in blocks)
    records = sum((len(block) - 3) // 42 for _, block in blocks)
    assert 2700 < records < 3300
    assert 2700 / 4 < len(feed.updates_between(START + 900.0, START + 901.0)) < 3300 / 4


def test_time_of_day_wraps_at_midnight() -> None:
    flights = generate_flights(2, 100, start=86_400.0 - 30.0, duration=60.0)
    feed = TrackFeed(flights=flights)
    before, after = decode_records(feed.records_at(86_399.0)), decode_records(feed.records_at(86_401.0))
    assert np.all(before.time_of_day == 86_399.0)
    assert np.all(after.time_of_day == 1.0)


def test_given_flights_and_options_are_used() -> None:
    flights = generate_flights(3, 50, duration=0.0)
    feed = TrackFeed(flights=flights, simulated=False, max_block_bytes=3 + 42 * 5, period=5.0)
    data = feed.records_at(START)
    assert len(list(split_blocks(data))) == 10
    got = decode_records(data)
    assert not got.simulated.any()
    np.testing.assert_array_equal(got.first, flights.tracked_from > START - 5.0)  # new in the last period
    with pytest.raises(ValueError, match="period"):
        TrackFeed(flights=flights, period=0.0)
    with pytest.raises(ValueError, match="byte"):
        TrackSource(sac=300)
