"""Simulated flights over France: routes, vertical profiles and their state at any instant, for many at once.

A flight flies the great circle from one airport's reference point to another's. Its vertical profile
follows WRAP's phases for its aircraft type (:mod:`.performance`): climb from the departure runway, level
cruise at a flight level of the semicircular rule (odd thousands of feet on true courses 000-179, even ones
on 180-359), descent and final approach to the arrival airport, where it ends at the reference point and
the airport's elevation. The cruise level is the highest of that parity at or below a level drawn around
WRAP's mean cruise altitude for which climb and descent still leave a tenth of the route level.

Each profile is ten knots (lift-off, top of initial climb, start of constant CAS, crossover, top of climb,
top of descent, crossover, end of constant CAS, start of final approach, threshold); between two knots the
altitude changes at a constant rate and the speed at a constant acceleration, so the along-track distance
at any time has a closed form and the state of thousands of flights is a few array operations.

The traffic is drawn from five kinds of route: departures from Toulouse-Blagnac, arrivals there, domestic
flights between other French airports, international flights to or from France, and overflights between
two foreign airports whose route crosses the coverage. A flight is tracked while it is inside the coverage
(:data:`.airports.COVERAGE`): from lift-off or entry to landing or exit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from openqci.services.atc.airports import AIRPORTS, COVERAGE, HOME, Coverage, airport_index
from openqci.services.atc.geo import EARTH_RADIUS_M, east_north, from_unit, great_circle, to_unit
from openqci.services.atc.performance import AIRCRAFT, FEET, cas_to_tas, mach_to_tas, type_table

__all__ = [
    "KNOTS",
    "OPERATORS",
    "FlightStates",
    "Flights",
    "RouteMix",
    "generate_flights",
]

KNOTS = 10
"""Knots of a vertical profile (nine segments: four of climb, cruise, four of descent)."""

MIN_ROUTE_M = 150_000.0
"""The shortest route drawn (no pair of airports closer than this flies)."""

MIN_COVERED_M = 150_000.0
"""An overflight's route crosses at least this much of the coverage."""

_CRUISE_LEVELS = np.arange(60, 420, 10)  # candidate flight levels, FL060-FL410

_SPECIAL_CODES = (0o0000, 0o1000, 0o1200, 0o2000, 0o7000, 0o7500, 0o7600, 0o7700, 0o7777)

OPERATORS: tuple[tuple[str, float], ...] = (
    ("AFR", 0.22),  # Air France
    ("EZY", 0.07),  # easyJet UK
    ("EJU", 0.07),  # easyJet Europe
    ("RYR", 0.12),  # Ryanair
    ("TVF", 0.06),  # Transavia France
    ("VLG", 0.06),  # Vueling
    ("VOE", 0.04),  # Volotea
    ("DLH", 0.05),  # Lufthansa
    ("BAW", 0.05),  # British Airways
    ("KLM", 0.04),  # KLM
    ("IBE", 0.03),  # Iberia
    ("SWR", 0.03),  # Swiss
    ("TAP", 0.02),  # TAP Air Portugal
    ("BEL", 0.02),  # Brussels Airlines
    ("ITY", 0.02),  # ITA Airways
    ("AEA", 0.02),  # Air Europa
    ("WZZ", 0.03),  # Wizz Air
    ("RAM", 0.02),  # Royal Air Maroc
    ("DAH", 0.02),  # Air Algérie
)
"""ICAO designators of the simulated operators and their share of the callsigns (this module's choice)."""


@dataclass(frozen=True)
class RouteMix:
    """Shares of the kinds of route in the simulated traffic (normalised when drawn)."""

    departures: float = 0.02  # from Toulouse-Blagnac
    arrivals: float = 0.02  # to Toulouse-Blagnac
    domestic: float = 0.22  # between two other French airports
    international: float = 0.49  # between a French airport (not Toulouse) and a foreign one
    overflights: float = 0.25  # between two foreign airports, across the coverage

    def shares(self) -> NDArray[np.float64]:
        """The five shares, normalised, in the order of the fields."""
        s = np.array([self.departures, self.arrivals, self.domestic, self.international, self.overflights])
        if np.any(s < 0) or s.sum() <= 0:
            raise ValueError("route mix: shares must be non-negative and not all zero")
        normalised: NDArray[np.float64] = s / s.sum()
        return normalised


@dataclass(frozen=True)
class FlightStates:
    """The state of some flights at some instants (one row per flight and instant)."""

    index: NDArray[np.intp]  # which flight
    time: NDArray[np.float64]  # s, the simulation's clock (seconds of the day, UTC)
    latitude: NDArray[np.float64]  # degrees
    longitude: NDArray[np.float64]  # degrees
    altitude: NDArray[np.float64]  # m, pressure altitude (ISA, no wind)
    ground_speed: NDArray[np.float64]  # m/s
    vertical_rate: NDArray[np.float64]  # m/s, positive climbing
    v_east: NDArray[np.float64]  # m/s
    v_north: NDArray[np.float64]  # m/s
    distance: NDArray[np.float64]  # m flown along the route
    airborne: NDArray[np.bool_]  # between lift-off and touchdown

    @property
    def flight_level(self) -> NDArray[np.float64]:
        """Pressure altitude in hundreds of feet."""
        return self.altitude / (100.0 * FEET)

    def __len__(self) -> int:
        return int(self.index.size)


@dataclass(frozen=True)
class Flights:
    """A set of simulated flights, one entry per flight in each array (a structure of arrays).

    Times are seconds of the simulation's clock (seconds since 00:00 UTC of the simulated day; they may
    run below zero or past 86,400 for flights that cross midnight). Build one with
    :func:`generate_flights`.
    """

    callsign: NDArray[np.str_]
    mode3a: NDArray[np.uint16]  # the Mode 3/A code as a number (0o0000-0o7777)
    track_number: NDArray[np.uint16]
    aircraft: NDArray[np.str_]  # ICAO type designator
    origin: NDArray[np.str_]  # ICAO code
    destination: NDArray[np.str_]
    departure: NDArray[np.float64]  # lift-off time
    cruise_level: NDArray[np.int64]  # FL
    knot_time: NDArray[np.float64]  # (n, KNOTS) s after lift-off
    knot_distance: NDArray[np.float64]  # (n, KNOTS) m along the route
    knot_altitude: NDArray[np.float64]  # (n, KNOTS) m
    knot_speed: NDArray[np.float64]  # (n, KNOTS) m/s
    start_point: NDArray[np.float64]  # (n, 3) unit vector of the origin
    tangent: NDArray[np.float64]  # (n, 3) unit tangent of the great circle at the origin
    route_length: NDArray[np.float64]  # m
    tracked_from: NDArray[np.float64]  # lift-off, or entry into the coverage
    tracked_until: NDArray[np.float64]  # touchdown, or exit from the coverage
    update_phase: NDArray[np.float64]  # in [0, 1): when in each update period the track is updated

    def __len__(self) -> int:
        return int(self.departure.size)

    @property
    def arrival(self) -> NDArray[np.float64]:
        """Touchdown times."""
        return self.departure + self.knot_time[:, -1]

    def tracked(
        self, t: float | NDArray[np.float64], index: NDArray[np.intp] | None = None
    ) -> NDArray[np.bool_]:
        """Whether each flight (or those in ``index``) is tracked at ``t``."""
        sel = slice(None) if index is None else index
        return (self.tracked_from[sel] <= t) & (t <= self.tracked_until[sel])

    def state(self, t: float | NDArray[np.float64], index: NDArray[np.intp] | None = None) -> FlightStates:
        """The state of the flights in ``index`` (all by default) at ``t`` (one instant, or one per flight).

        Before lift-off a flight is at the origin's runway, after touchdown at the destination's
        (``airborne`` tells which).
        """
        idx = np.arange(len(self), dtype=np.intp) if index is None else np.asarray(index, dtype=np.intp)
        times = np.broadcast_to(np.asarray(t, dtype=np.float64), idx.shape).astype(np.float64)
        rel = times - self.departure[idx]
        knots_t = self.knot_time[idx]
        end = knots_t[:, -1]
        airborne = (rel >= 0.0) & (rel <= end)
        rel = np.clip(rel, 0.0, end)
        seg = np.count_nonzero(knots_t[:, 1:-1] <= rel[:, None], axis=1)
        rows = np.arange(idx.size)
        t0, t1 = knots_t[rows, seg], knots_t[rows, seg + 1]
        s0 = self.knot_distance[idx, seg]
        h0, h1 = self.knot_altitude[idx, seg], self.knot_altitude[idx, seg + 1]
        v0, v1 = self.knot_speed[idx, seg], self.knot_speed[idx, seg + 1]
        dt = t1 - t0
        moving = dt > 0.0
        safe = np.where(moving, dt, 1.0)
        accel = np.where(moving, (v1 - v0) / safe, 0.0)
        climb = np.where(moving, (h1 - h0) / safe, 0.0)
        tau = rel - t0
        distance = s0 + v0 * tau + 0.5 * accel * tau * tau
        speed = v0 + accel * tau
        altitude = h0 + climb * tau
        angle = distance / EARTH_RADIUS_M
        p1, u = self.start_point[idx], self.tangent[idx]
        cos_a, sin_a = np.cos(angle)[:, None], np.sin(angle)[:, None]
        point = cos_a * p1 + sin_a * u
        heading = -sin_a * p1 + cos_a * u
        east, north = east_north(point)
        latitude, longitude = from_unit(point)
        on_ground = ~airborne
        speed = np.where(on_ground, 0.0, speed)
        climb = np.where(on_ground, 0.0, climb)
        return FlightStates(
            index=idx,
            time=times,
            latitude=latitude,
            longitude=longitude,
            altitude=altitude,
            ground_speed=speed,
            vertical_rate=climb,
            v_east=speed * np.sum(heading * east, axis=1),
            v_north=speed * np.sum(heading * north, axis=1),
            distance=distance,
            airborne=airborne,
        )


# --- profiles -------------------------------------------------------------------------------------------


def _legs(
    heights: NDArray[np.float64], speeds: NDArray[np.float64], rates: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Knot times and distances (from the first knot) of a climb or descent through ``heights``."""
    dt = np.abs(np.diff(heights, axis=-1)) / rates
    ds = 0.5 * (speeds[..., 1:] + speeds[..., :-1]) * dt
    zero = np.zeros((*heights.shape[:-1], 1))
    return np.concatenate([zero, np.cumsum(dt, axis=-1)], axis=-1), np.concatenate(
        [zero, np.cumsum(ds, axis=-1)], axis=-1
    )


@dataclass(frozen=True)
class _Profiles:
    climb_h: NDArray[np.float64]
    climb_v: NDArray[np.float64]
    climb_t: NDArray[np.float64]
    climb_s: NDArray[np.float64]
    descent_h: NDArray[np.float64]
    descent_v: NDArray[np.float64]
    descent_t: NDArray[np.float64]
    descent_s: NDArray[np.float64]


def _profiles(
    par: dict[str, NDArray[np.float64]],
    climb_scale: NDArray[np.float64],
    descent_scale: NDArray[np.float64],
    elevation_from: NDArray[np.float64],
    elevation_to: NDArray[np.float64],
    cruise: NDArray[np.float64],
) -> _Profiles:
    """Climb and descent knots for cruise altitudes ``cruise`` (m); every input broadcasts together."""
    shape = np.broadcast_shapes(cruise.shape, elevation_from.shape, climb_scale.shape)
    hc = np.broadcast_to(cruise, shape)

    def b(name: str) -> NDArray[np.float64]:
        return np.broadcast_to(par[name], shape)

    def schedule(
        cas: NDArray[np.float64], mach: NDArray[np.float64], h: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        return np.minimum(cas_to_tas(cas, h), mach_to_tas(mach, h))

    eo = np.broadcast_to(elevation_from, shape)
    climb_h = np.stack([eo, eo + 1500.0 * FEET, b("cl_h_cas") * 1000.0, b("cl_h_mach") * 1000.0, hc], axis=-1)
    climb_h = np.maximum.accumulate(np.minimum(climb_h, hc[..., None]), axis=-1)
    climb_v = np.stack(
        [
            cas_to_tas(b("v_lof"), climb_h[..., 0]),
            cas_to_tas(np.maximum(b("ic_va"), b("v_lof")), climb_h[..., 1]),
            schedule(b("cl_v_cas"), b("cl_v_mach"), climb_h[..., 2]),
            schedule(b("cl_v_cas"), b("cl_v_mach"), climb_h[..., 3]),
            schedule(b("cl_v_cas"), b("cl_v_mach"), climb_h[..., 4]),
        ],
        axis=-1,
    )
    climb_rates = np.stack([b("ic_vs"), b("cl_vs_pre_cas"), b("cl_vs_cas"), b("cl_vs_mach")], axis=-1)
    climb_t, climb_s = _legs(climb_h, climb_v, climb_rates * np.broadcast_to(climb_scale, shape)[..., None])

    ed = np.broadcast_to(elevation_to, shape)
    descent_h = np.stack(
        [hc, b("de_h_mach") * 1000.0, b("de_h_cas") * 1000.0, ed + 3000.0 * FEET, ed], axis=-1
    )
    descent_h = np.minimum.accumulate(np.minimum(descent_h, hc[..., None]), axis=-1)
    descent_v = np.stack(
        [
            schedule(b("de_v_cas"), b("de_v_mach"), descent_h[..., 0]),
            schedule(b("de_v_cas"), b("de_v_mach"), descent_h[..., 1]),
            schedule(b("de_v_cas"), b("de_v_mach"), descent_h[..., 2]),
            cas_to_tas(b("fa_va"), descent_h[..., 3]),
            cas_to_tas(b("ld_v_app"), descent_h[..., 4]),
        ],
        axis=-1,
    )
    descent_rates = (
        np.stack([b("de_vs_mach"), b("de_vs_cas"), b("de_vs_after_cas"), b("fa_vs")], axis=-1)
        * np.broadcast_to(descent_scale, shape)[..., None]
    )
    descent_t, descent_s = _legs(descent_h, descent_v, descent_rates)
    return _Profiles(climb_h, climb_v, climb_t, climb_s, descent_h, descent_v, descent_t, descent_s)


def _time_at_distance(
    knot_t: NDArray[np.float64],
    knot_s: NDArray[np.float64],
    knot_v: NDArray[np.float64],
    s: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Time (from lift-off) at which each flight has flown ``s`` metres along its route."""
    seg = np.count_nonzero(knot_s[:, 1:-1] <= s[:, None], axis=1)
    rows = np.arange(s.size)
    t0, t1 = knot_t[rows, seg], knot_t[rows, seg + 1]
    v0, v1 = knot_v[rows, seg], knot_v[rows, seg + 1]
    dt = t1 - t0
    accel = np.where(dt > 0.0, (v1 - v0) / np.where(dt > 0.0, dt, 1.0), 0.0)
    ds = np.maximum(s - knot_s[rows, seg], 0.0)
    root = np.sqrt(np.maximum(v0 * v0 + 2.0 * accel * ds, 0.0))
    when: NDArray[np.float64] = t0 + np.where(ds > 0.0, 2.0 * ds / (v0 + root), 0.0)
    return when


# --- drawing the traffic --------------------------------------------------------------------------------


def _points(icao_index: NDArray[np.intp]) -> NDArray[np.float64]:
    lat = np.array([a.latitude for a in AIRPORTS])[icao_index]
    lon = np.array([a.longitude for a in AIRPORTS])[icao_index]
    return to_unit(lat, lon)


def _covered_length(
    start: NDArray[np.float64], tangent: NDArray[np.float64], length: NDArray[np.float64], coverage: Coverage
) -> NDArray[np.float64]:
    """Approximate length (m) of each route inside the coverage, from 128 samples."""
    fraction = np.linspace(0.0, 1.0, 129)
    angle = length[:, None] * fraction[None, :] / EARTH_RADIUS_M
    points = np.cos(angle)[..., None] * start[:, None, :] + np.sin(angle)[..., None] * tangent[:, None, :]
    lat, lon = from_unit(points)
    inside = coverage.contains(lat, lon)
    covered: NDArray[np.float64] = inside.mean(axis=1) * length
    return covered


@dataclass(frozen=True)
class _Routes:
    """The airport pairs of one kind of route, with the probability of drawing each."""

    origin: NDArray[np.intp]
    destination: NDArray[np.intp]
    weight: NDArray[np.float64]


_KINDS = ("departures", "arrivals", "domestic", "international", "overflights")


def _route_tables(coverage: Coverage) -> dict[str, _Routes]:
    """Candidate airport pairs for each kind of route, with their weights."""
    n = len(AIRPORTS)
    weight = np.array([a.weight for a in AIRPORTS])
    french = np.array([a.french for a in AIRPORTS])
    home = airport_index(HOME)
    grid_o, grid_d = np.meshgrid(np.arange(n, dtype=np.intp), np.arange(n, dtype=np.intp), indexing="ij")
    o, d = grid_o.ravel(), grid_d.ravel()
    start, end = _points(o), _points(d)
    tangent, angle = great_circle(start, end)
    length = angle * EARTH_RADIUS_M
    ok = (o != d) & (length >= MIN_ROUTE_M)
    covered = np.zeros_like(length)
    covered[ok] = _covered_length(start[ok], tangent[ok], length[ok], coverage)
    not_home_o, not_home_d = o != home, d != home
    kinds = {
        "departures": ok & (o == home),
        "arrivals": ok & (d == home),
        "domestic": ok & french[o] & french[d] & not_home_o & not_home_d,
        "international": ok & (french[o] ^ french[d]) & not_home_o & not_home_d,
        "overflights": ok & ~french[o] & ~french[d] & (covered >= MIN_COVERED_M),
    }
    tables = {}
    for kind, mask in kinds.items():
        w = weight[o[mask]] * weight[d[mask]]
        tables[kind] = _Routes(o[mask], d[mask], w / w.sum())
    return tables


def _draw_callsigns(rng: np.random.Generator, n: int) -> NDArray[np.str_]:
    designators = [op for op, _ in OPERATORS]
    shares = np.array([s for _, s in OPERATORS])
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O, as airlines avoid them
    chosen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        m = n - len(out)
        ops = rng.choice(len(designators), size=m, p=shares / shares.sum())
        numeric = rng.random(m) < 0.6
        numbers = rng.integers(1, 10_000, size=m)
        short = rng.integers(1, 100, size=m)
        suffix = rng.integers(0, len(letters), size=(m, 2))
        one_letter = rng.random(m) < 0.3
        for i in range(m):
            if numeric[i]:
                sign = f"{designators[ops[i]]}{numbers[i]}"
            else:
                tail = letters[suffix[i, 0]] + ("" if one_letter[i] else letters[suffix[i, 1]])
                sign = f"{designators[ops[i]]}{short[i]}{tail}"
            if sign not in chosen:
                chosen.add(sign)
                out.append(sign)
    return np.array(out, dtype="<U8")


def _draw_codes(rng: np.random.Generator, n: int) -> NDArray[np.uint16]:
    """Discrete Mode 3/A codes, none of the special ones, all different while there are enough."""
    pool = np.setdiff1d(np.arange(0o10000), np.array(_SPECIAL_CODES))
    rounds = -(-n // pool.size)
    return np.concatenate([rng.permutation(pool) for _ in range(max(rounds, 1))])[:n].astype(np.uint16)


def generate_flights(
    seed: int,
    count: int = 3000,
    *,
    start: float = 7 * 3600.0,
    duration: float = 3600.0,
    mix: RouteMix | None = None,
    coverage: Coverage = COVERAGE,
) -> Flights:
    """Draw the traffic of a busy period: on average ``count`` tracked flights at any instant of it.

    The period runs from ``start`` (seconds of the day, UTC; 07:00 by default) for ``duration`` seconds.
    Each flight's entry into the coverage (its lift-off for domestic flights) falls uniformly between its
    time in the coverage before ``start`` and the end of the period, so the number tracked stays level
    through the period; with ``duration=0`` exactly ``count`` flights are tracked at ``start``. The same
    seed gives the same flights.
    """
    if count < 0:
        raise ValueError("count must be non-negative")
    if count > 65_535:
        raise ValueError("at most 65,535 flights: track numbers are 16 bits")
    if duration < 0:
        raise ValueError("duration must be non-negative")
    rng = np.random.default_rng(seed)
    shares = (mix or RouteMix()).shares()
    tables = _route_tables(coverage)
    par_all = type_table()
    elevation = np.array([a.elevation_ft for a in AIRPORTS]) * FEET

    batches: list[_Batch] = []
    expected = 0.0
    while expected < count:
        batch = _draw_batch(
            rng, max(2 * count - int(expected), 64), shares, tables, par_all, elevation, coverage
        )
        covered = batch.exit_time - batch.entry_time
        weight = covered / (covered + duration) if duration > 0 else np.ones(covered.size)
        total = np.cumsum(weight) + expected
        take = int(np.searchsorted(total, count - 1e-9)) + 1 if total[-1] >= count else total.size
        batches.append(batch.take(slice(0, take)))
        expected = float(total[take - 1])
    if not batches:
        return _empty_flights()
    b = _Batch.concatenate(batches)
    n = b.route_length.size
    if n > 65_535:
        raise ValueError("the period needs more than 65,535 flights: shorten it or lower count")

    covered = b.exit_time - b.entry_time
    entry = start - covered + rng.random(n) * (covered + duration)
    departure = entry - b.entry_time
    callsign = _draw_callsigns(rng, n)
    codes = _draw_codes(rng, n)
    track_number = (rng.choice(65_535, size=n, replace=False) + 1).astype(np.uint16)
    phase = rng.random(n)
    order = np.argsort(departure, kind="stable")
    b = b.take(order)
    departure = departure[order]
    icao = np.array([a.icao for a in AIRPORTS])
    designators = np.array([a.designator for a in AIRCRAFT])
    return Flights(
        callsign=callsign,
        mode3a=codes,
        track_number=track_number,
        aircraft=designators[b.aircraft],
        origin=icao[b.origin],
        destination=icao[b.destination],
        departure=departure,
        cruise_level=b.cruise_level,
        knot_time=b.knot_time,
        knot_distance=b.knot_distance,
        knot_altitude=b.knot_altitude,
        knot_speed=b.knot_speed,
        start_point=b.start_point,
        tangent=b.tangent,
        route_length=b.route_length,
        tracked_from=departure + b.entry_time,
        tracked_until=departure + b.exit_time,
        update_phase=phase,
    )


def _empty_flights() -> Flights:
    f = np.zeros(0)
    k = np.zeros((0, KNOTS))
    v = np.zeros((0, 3))
    return Flights(
        callsign=np.zeros(0, dtype="<U8"),
        mode3a=np.zeros(0, dtype=np.uint16),
        track_number=np.zeros(0, dtype=np.uint16),
        aircraft=np.zeros(0, dtype="<U4"),
        origin=np.zeros(0, dtype="<U4"),
        destination=np.zeros(0, dtype="<U4"),
        departure=f,
        cruise_level=np.zeros(0, dtype=np.int64),
        knot_time=k,
        knot_distance=k,
        knot_altitude=k,
        knot_speed=k,
        start_point=v,
        tangent=v,
        route_length=f,
        tracked_from=f,
        tracked_until=f,
        update_phase=f,
    )


@dataclass(frozen=True)
class _Batch:
    """Candidate flights before their times and identities are drawn."""

    origin: NDArray[np.intp]
    destination: NDArray[np.intp]
    aircraft: NDArray[np.intp]
    cruise_level: NDArray[np.int64]
    knot_time: NDArray[np.float64]
    knot_distance: NDArray[np.float64]
    knot_altitude: NDArray[np.float64]
    knot_speed: NDArray[np.float64]
    start_point: NDArray[np.float64]
    tangent: NDArray[np.float64]
    route_length: NDArray[np.float64]
    entry_time: NDArray[np.float64]  # s after lift-off
    exit_time: NDArray[np.float64]

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_] | slice) -> _Batch:
        return _Batch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concatenate(parts: list[_Batch]) -> _Batch:
        return _Batch(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Batch)})


def _draw_batch(
    rng: np.random.Generator,
    m: int,
    shares: NDArray[np.float64],
    tables: dict[str, _Routes],
    par_all: dict[str, NDArray[np.float64]],
    elevation: NDArray[np.float64],
    coverage: Coverage,
) -> _Batch:
    """``m`` candidate flights with routes, types and profiles, and their time in the coverage."""
    kind = rng.choice(len(_KINDS), size=m, p=shares)
    origin = np.zeros(m, dtype=np.intp)
    destination = np.zeros(m, dtype=np.intp)
    for k, name in enumerate(_KINDS):
        sel = np.flatnonzero(kind == k)
        if sel.size == 0:
            continue
        routes = tables[name]
        pair = rng.choice(routes.weight.size, size=sel.size, p=routes.weight)
        origin[sel] = routes.origin[pair]
        destination[sel] = routes.destination[pair]
    type_share = np.array([a.share for a in AIRCRAFT])
    aircraft = rng.choice(len(AIRCRAFT), size=m, p=type_share / type_share.sum()).astype(np.intp)
    par = {k: v[aircraft] for k, v in par_all.items()}
    climb_scale = np.clip(rng.normal(1.0, 0.08, m), 0.8, 1.2)
    descent_scale = np.clip(rng.normal(1.0, 0.08, m), 0.8, 1.2)
    spread = (par["cr_h_high"] - par["cr_h_low"]) / 4.0
    preferred = np.clip(rng.normal(par["cr_h_mean"], spread), par["cr_h_low"], par["cr_h_high"])
    preferred_fl = preferred * 1000.0 / (100.0 * FEET)

    start, end = _points(origin), _points(destination)
    tangent, angle = great_circle(start, end)
    length = angle * EARTH_RADIUS_M
    middle = np.cos(angle / 2)[:, None] * start + np.sin(angle / 2)[:, None] * tangent
    heading_mid = -np.sin(angle / 2)[:, None] * start + np.cos(angle / 2)[:, None] * tangent
    e_mid, n_mid = east_north(middle)
    course = np.mod(
        np.degrees(np.arctan2(np.sum(heading_mid * e_mid, axis=1), np.sum(heading_mid * n_mid, axis=1))),
        360.0,
    )
    eastbound = course < 180.0

    eo, ed = elevation[origin], elevation[destination]
    # every candidate level for every flight at once: (m, levels)
    levels = _CRUISE_LEVELS[None, :]
    trial = _profiles(
        {k: v[:, None] for k, v in par.items()},
        climb_scale[:, None],
        descent_scale[:, None],
        eo[:, None],
        ed[:, None],
        levels * 100.0 * FEET * np.ones((m, 1)),
    )
    cruise_room = length[:, None] - trial.climb_s[..., -1] - trial.descent_s[..., -1]
    feasible = cruise_room >= 0.1 * length[:, None]
    parity = ((levels // 10) % 2 == 1) == eastbound[:, None]
    wanted = feasible & parity & (levels <= preferred_fl[:, None])
    fallback = feasible & parity
    best = np.where(wanted.any(axis=1), np.where(wanted, levels, -1).max(axis=1), -1)
    lowest = np.where(fallback, levels, 10_000).min(axis=1)
    best = np.where(best > 0, best, np.where(lowest < 10_000, lowest, _CRUISE_LEVELS[0]))
    cruise = best * 100.0 * FEET

    prof = _profiles(par, climb_scale, descent_scale, eo, ed, cruise)
    climb_d, descent_d = prof.climb_s[:, -1], prof.descent_s[:, -1]
    cruise_d = np.maximum(length - climb_d - descent_d, 0.0)
    cruise_t = 2.0 * cruise_d / (prof.climb_v[:, -1] + prof.descent_v[:, 0])
    top_of_descent = prof.climb_t[:, -1] + cruise_t
    knot_time = np.concatenate([prof.climb_t, top_of_descent[:, None] + prof.descent_t], axis=1)
    knot_distance = np.concatenate([prof.climb_s, (climb_d + cruise_d)[:, None] + prof.descent_s], axis=1)
    knot_altitude = np.concatenate([prof.climb_h, prof.descent_h], axis=1)
    knot_speed = np.concatenate([prof.climb_v, prof.descent_v], axis=1)

    entry_s, exit_s, seen = _coverage_interval(start, tangent, knot_distance[:, -1], coverage)
    entry_t = _time_at_distance(knot_time, knot_distance, knot_speed, entry_s)
    exit_t = _time_at_distance(knot_time, knot_distance, knot_speed, exit_s)
    keep = seen & (exit_t > entry_t)
    batch = _Batch(
        origin=origin,
        destination=destination,
        aircraft=aircraft,
        cruise_level=best.astype(np.int64),
        knot_time=knot_time,
        knot_distance=knot_distance,
        knot_altitude=knot_altitude,
        knot_speed=knot_speed,
        start_point=start,
        tangent=tangent,
        route_length=length,
        entry_time=entry_t,
        exit_time=exit_t,
    )
    return batch.take(keep)


def _coverage_interval(
    start: NDArray[np.float64], tangent: NDArray[np.float64], length: NDArray[np.float64], coverage: Coverage
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Distances along each route of its first and last points inside the coverage (to about a metre)."""
    samples = 129
    fraction = np.linspace(0.0, 1.0, samples)

    def inside(s: NDArray[np.float64]) -> NDArray[np.bool_]:
        angle = s / EARTH_RADIUS_M
        shape = (-1,) + (1,) * (s.ndim - 1) + (3,)
        p1, u = start.reshape(shape), tangent.reshape(shape)
        lat, lon = from_unit(np.cos(angle)[..., None] * p1 + np.sin(angle)[..., None] * u)
        return coverage.contains(lat, lon)

    s = length[:, None] * fraction[None, :]
    mask = inside(s)
    seen = mask.any(axis=1)
    first = np.argmax(mask, axis=1)
    last = samples - 1 - np.argmax(mask[:, ::-1], axis=1)
    rows = np.arange(length.size)
    entry_in = s[rows, first]
    entry_out = np.where(first > 0, s[rows, np.maximum(first - 1, 0)], entry_in)
    exit_in = s[rows, last]
    exit_out = np.where(last < samples - 1, s[rows, np.minimum(last + 1, samples - 1)], exit_in)
    for _ in range(24):
        mid = 0.5 * (entry_in + entry_out)
        now_in = inside(mid)
        entry_in, entry_out = np.where(now_in, mid, entry_in), np.where(now_in, entry_out, mid)
        mid = 0.5 * (exit_in + exit_out)
        now_in = inside(mid)
        exit_in, exit_out = np.where(now_in, mid, exit_in), np.where(now_in, exit_out, mid)
    return entry_in, exit_in, np.asarray(seen, dtype=np.bool_)
