"""Aircraft performance for the track simulator: the ISA atmosphere and a kinematic model per aircraft type.

The figures per type are the most likely values ("opt") of the WRAP kinematic model: J. Sun, J. Ellerbroek
and J. M. Hoekstra, *WRAP: An open-source kinematic aircraft performance model*, Transportation Research
Part C 98 (2019) 118-138, as the OpenAP project ships them (``openap/data/wrap/*.txt``, commit
``d9eb824``). WRAP fits them to ADS-B flights of European airlines, phase by phase: speeds in m/s (CAS, or
Mach), vertical rates in m/s, altitudes in km. A flight here climbs and descends through WRAP's phases:

* initial climb from lift-off to 1,500 ft above the runway (``ic_*``);
* climb below the constant-CAS altitude (``cl_vs_avg_pre_cas``), at constant CAS up to the crossover
  altitude (``cl_v_cas_const``, ``cl_vs_avg_cas_const``), then at constant Mach (``cl_v_mach_const``,
  ``cl_vs_avg_mach_const``) to the cruise level;
* cruise, level;
* descent at constant Mach (``de_v_mach_const``, ``de_vs_avg_mach_const``) down to the crossover altitude,
  at constant CAS down to ``de_h_cas_const`` (``de_v_cas_const``, ``de_vs_avg_cas_const``), then
  slowing (``de_vs_avg_after_cas``) to the final approach at 3,000 ft above the runway;
* final approach (``fa_va_avg``, ``fa_vs_avg``) down to the threshold at the touchdown speed
  (``ld_v_app``).

Speeds are turned into true airspeeds with the International Standard Atmosphere (ICAO Doc 7488); with no
wind, the ground speed is the true airspeed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "AIRCRAFT",
    "FEET",
    "KNOT",
    "AircraftType",
    "cas_to_tas",
    "isa_pressure",
    "isa_temperature",
    "mach_to_tas",
    "speed_of_sound",
]

FEET = 0.3048
"""Metres in a foot."""

KNOT = 1852.0 / 3600.0
"""Metres per second in a knot."""

_T0 = 288.15  # K, sea level
_P0 = 101_325.0  # Pa, sea level
_LAPSE = 0.0065  # K/m, troposphere
_H_TROPOPAUSE = 11_000.0  # m
_T_TROPOPAUSE = _T0 - _LAPSE * _H_TROPOPAUSE  # 216.65 K
_R_AIR = 287.05287  # J/(kg K)
_G0 = 9.80665  # m/s^2
_GAMMA = 1.4
_A0 = float(np.sqrt(_GAMMA * _R_AIR * _T0))  # 340.294 m/s
_P_TROPOPAUSE = _P0 * (_T_TROPOPAUSE / _T0) ** (_G0 / (_R_AIR * _LAPSE))


def isa_temperature(altitude_m: ArrayLike) -> NDArray[np.float64]:
    """ISA temperature (K) at a pressure altitude (m), troposphere and lower stratosphere."""
    h = np.asarray(altitude_m, dtype=np.float64)
    return np.where(h < _H_TROPOPAUSE, _T0 - _LAPSE * h, _T_TROPOPAUSE)


def isa_pressure(altitude_m: ArrayLike) -> NDArray[np.float64]:
    """ISA static pressure (Pa) at a pressure altitude (m)."""
    h = np.asarray(altitude_m, dtype=np.float64)
    low = _P0 * (np.maximum(_T0 - _LAPSE * np.minimum(h, _H_TROPOPAUSE), 1.0) / _T0) ** (
        _G0 / (_R_AIR * _LAPSE)
    )
    high = _P_TROPOPAUSE * np.exp(-_G0 / (_R_AIR * _T_TROPOPAUSE) * (h - _H_TROPOPAUSE))
    return np.where(h < _H_TROPOPAUSE, low, high)


def speed_of_sound(altitude_m: ArrayLike) -> NDArray[np.float64]:
    """ISA speed of sound (m/s) at a pressure altitude (m)."""
    return np.sqrt(_GAMMA * _R_AIR * isa_temperature(altitude_m))


def mach_to_tas(mach: ArrayLike, altitude_m: ArrayLike) -> NDArray[np.float64]:
    """True airspeed (m/s) of a Mach number at a pressure altitude (m)."""
    return np.asarray(mach, dtype=np.float64) * speed_of_sound(altitude_m)


def cas_to_tas(cas: ArrayLike, altitude_m: ArrayLike) -> NDArray[np.float64]:
    """True airspeed (m/s) of a calibrated airspeed (m/s) at a pressure altitude (m), compressible flow."""
    c = np.asarray(cas, dtype=np.float64)
    impact = _P0 * ((1.0 + 0.2 * (c / _A0) ** 2) ** 3.5 - 1.0)
    mach = np.sqrt(5.0 * ((impact / isa_pressure(altitude_m) + 1.0) ** (2.0 / 7.0) - 1.0))
    return mach * speed_of_sound(altitude_m)


@dataclass(frozen=True)
class AircraftType:
    """WRAP's most likely values for one type (speeds m/s, vertical rates m/s positive, altitudes km)."""

    designator: str
    share: float  # of the simulated fleet (this module's choice)
    v_lof: float  # lift-off speed
    ic_va: float  # initial climb, mean airspeed
    ic_vs: float  # initial climb, mean vertical rate
    cl_v_cas: float  # climb, constant CAS
    cl_v_mach: float  # climb, constant Mach
    cl_h_cas: float  # climb, start of constant CAS
    cl_h_mach: float  # climb, crossover to constant Mach
    cl_vs_pre_cas: float  # climb rate below the constant-CAS altitude
    cl_vs_cas: float  # climb rate at constant CAS
    cl_vs_mach: float  # climb rate at constant Mach
    cr_h_mean: float  # mean cruise altitude
    cr_h_low: float  # its range in WRAP (lower bound)
    cr_h_high: float  # its range in WRAP (upper bound)
    de_v_mach: float  # descent, constant Mach
    de_v_cas: float  # descent, constant CAS
    de_h_mach: float  # descent, crossover from Mach to CAS
    de_h_cas: float  # descent, end of constant CAS
    de_vs_mach: float  # descent rate at constant Mach
    de_vs_cas: float  # descent rate at constant CAS
    de_vs_after_cas: float  # descent rate below the constant-CAS phase
    fa_va: float  # final approach, mean airspeed
    fa_vs: float  # final approach, mean descent rate
    ld_v_app: float  # touchdown speed


AIRCRAFT: tuple[AircraftType, ...] = (
    # designator share  v_lof ic_va ic_vs  cl_cas mach h_cas h_mach vs_pre vs_cas vs_mach
    #   cr_h(mean, low, high)  de_mach de_cas h_mach h_cas vs_mach vs_cas vs_after fa_va fa_vs ld_v_app
    AircraftType(
        "A320",
        0.35,
        85.3,
        83.0,
        12.59,
        151.0,
        0.78,
        3.7,
        8.8,
        10.25,
        8.43,
        5.28,
        10.92,
        10.00,
        11.84,
        0.77,
        144.0,
        9.6,
        5.7,
        5.76,
        10.03,
        6.08,
        72.0,
        3.55,
        69.4,
    ),
    AircraftType(
        "A319",
        0.15,
        82.7,
        80.0,
        12.27,
        149.0,
        0.77,
        3.2,
        8.9,
        11.10,
        10.15,
        6.07,
        11.54,
        10.21,
        11.97,
        0.76,
        145.0,
        9.2,
        5.3,
        5.87,
        9.84,
        5.88,
        67.0,
        3.42,
        66.2,
    ),
    AircraftType(
        "A321",
        0.20,
        90.8,
        86.0,
        13.21,
        155.0,
        0.77,
        3.7,
        8.4,
        9.38,
        8.17,
        5.19,
        10.41,
        9.36,
        11.46,
        0.77,
        150.0,
        9.0,
        6.2,
        5.52,
        9.41,
        6.01,
        75.0,
        3.69,
        72.9,
    ),
    AircraftType(
        "B738",
        0.20,
        86.5,
        87.0,
        12.27,
        151.0,
        0.77,
        3.6,
        8.9,
        10.61,
        10.24,
        6.20,
        11.23,
        10.35,
        12.12,
        0.77,
        145.0,
        9.7,
        5.9,
        5.80,
        9.95,
        6.23,
        77.0,
        3.84,
        75.4,
    ),
    AircraftType(
        "E190",
        0.10,
        88.1,
        78.0,
        11.19,
        140.0,
        0.75,
        3.0,
        9.2,
        10.44,
        8.93,
        4.82,
        11.05,
        10.05,
        12.05,
        0.77,
        148.0,
        9.3,
        5.4,
        5.25,
        9.08,
        5.90,
        70.0,
        3.57,
        66.9,
    ),
)


def type_table() -> dict[str, NDArray[np.float64]]:
    """Each numeric field of :data:`AIRCRAFT` as an array over the types (for gathering per flight)."""
    return {
        f.name: np.array([getattr(a, f.name) for a in AIRCRAFT], dtype=np.float64)
        for f in fields(AircraftType)
        if f.name != "designator"
    }
