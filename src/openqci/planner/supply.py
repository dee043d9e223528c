"""Key supply of every planner link: fibre rates from physics, satellite key pass by pass, weather.

A fibre span makes key steadily at the asymptotic secret key rate of its preset and length (the same figure
as the launched network's rate model), evaluated in one vectorised call per preset. A satellite leg makes
key only during passes: each pass over the station is found by the space segment, sampled every
:data:`PASS_SAMPLE_S` seconds, and turned into a finite-key block by :func:`openqci.space.pass_key`; the key
becomes usable when the pass ends. A pass in a month with cloud fraction ``p`` is clouded out (no key)
with probability ``p``, drawn with the run's seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from openqci.physics.catalogue import CATALOGUE, catalogue_rate
from openqci.physics.keyrate import secret_key_rate
from openqci.physics.presets import get_preset
from openqci.physics.protocols import Protocol
from openqci.planner.errors import PlanError
from openqci.planner.topology import LinkKind, PlanNetwork, planning_of
from openqci.scenario import Satellite as ScenarioSatellite

if TYPE_CHECKING:
    from openqci.space import Satellite

__all__ = [
    "PASS_SAMPLE_S",
    "PassSupply",
    "cloud_probabilities",
    "fibre_rates_bps",
    "orbit_of",
    "satellite_passes",
]

PASS_SAMPLE_S = 5.0
"""Sampling of a pass for its key: within 0.01 % of one-second sampling, five times faster."""


@dataclass(frozen=True)
class PassSupply:
    """One pass of a satellite over a station and the key it yields when the sky is clear."""

    link: int
    """Index of the satellite leg in the network's links."""
    start_s: float
    """Seconds after the planning start."""
    end_s: float
    max_elevation_deg: float
    key_bits: float


def fibre_rates_bps(network: PlanNetwork) -> NDArray[np.float64]:
    """Secret key rate of each link (0 for satellite legs), one physics call per preset and protocol."""
    rates = np.zeros(len(network.links))
    groups: dict[tuple[str, str], list[int]] = {}
    for index, link in enumerate(network.links):
        if link.kind is LinkKind.FIBRE:
            groups.setdefault((link.preset, link.protocol), []).append(index)
    for (preset, protocol), indices in groups.items():
        lengths = np.array([network.links[i].length_km for i in indices])
        if protocol in CATALOGUE:
            result = catalogue_rate(protocol, preset, lengths)
        else:
            result = secret_key_rate(get_preset(preset), lengths, protocol=Protocol(protocol))
        rates[indices] = np.nan_to_num(np.asarray(result.secret_key_rate_bps, dtype=float), nan=0.0)
    return np.maximum(rates, 0.0)


def satellite_passes(network: PlanNetwork, duration_s: float) -> list[PassSupply]:
    """Every pass of every satellite leg in ``duration_s`` from the planning start, with its key."""
    from openqci.space import GroundStation, find_passes, get_mission, pass_key, pass_track
    from openqci.space.errors import SpaceError

    scenario = network.scenario
    start = planning_of(scenario).start
    sites = scenario.sites_by_name
    satellites = {sat.name: sat for sat in scenario.satellites}
    result: list[PassSupply] = []
    for index, link in enumerate(network.links):
        if link.kind is not LinkKind.SATELLITE:
            continue
        try:
            mission = get_mission(link.preset)
        except SpaceError:
            raise PlanError(
                f"satellite {link.site_a}: preset {link.preset!r} has no space mission model "
                "(use micius2017 or jinan1)"
            ) from None
        orbit = orbit_of(satellites[link.site_a])
        site = sites[link.site_b]
        station = GroundStation(
            site.name,
            site.latitude_deg,
            site.longitude_deg,
            site.altitude_m,
            min_elevation_deg=mission.min_elevation_deg,
            aperture_m=mission.ground_aperture_m,
        )
        for window in find_passes(orbit, station, start, duration_s):
            track = pass_track(orbit, station, window, step_s=PASS_SAMPLE_S)
            key = pass_key(mission, station, [track])
            result.append(
                PassSupply(
                    link=index,
                    start_s=(window.start - start).total_seconds(),
                    end_s=(window.end - start).total_seconds(),
                    max_elevation_deg=window.max_elevation_deg,
                    key_bits=float(key.secret_key_bits),
                )
            )
    return result


def cloud_probabilities(network: PlanNetwork, passes: list[PassSupply]) -> NDArray[np.float64]:
    """For each pass, the chance that clouds hide it: its station's cloud fraction in the pass's month."""
    planning = planning_of(network.scenario)
    climate = {entry.station: entry.monthly_cloud_fraction for entry in planning.climate}
    result = np.zeros(len(passes))
    for position, supply in enumerate(passes):
        fractions = climate.get(network.links[supply.link].site_b)
        if fractions is not None:
            month = (planning.start + timedelta(seconds=supply.start_s)).month
            result[position] = fractions[month - 1]
    return result


def orbit_of(satellite: ScenarioSatellite) -> Satellite:
    """The space segment's orbit of a scenario satellite (TLE or mean elements)."""
    from openqci.space import Satellite

    if satellite.tle is not None:
        return Satellite.from_tle(satellite.tle.line1, satellite.tle.line2, name=satellite.name)
    elements = satellite.elements
    assert elements is not None
    return Satellite.from_elements(
        satellite.name,
        epoch=elements.epoch,
        altitude_km=elements.altitude_km,
        inclination_deg=elements.inclination_deg,
        raan_deg=elements.raan_deg,
        eccentricity=elements.eccentricity,
        argument_of_perigee_deg=elements.argument_of_perigee_deg,
        mean_anomaly_deg=elements.mean_anomaly_deg,
        bstar=elements.bstar,
    )
