"""Satellite orbits: two-line element sets or mean orbital elements, propagated with SGP4.

SGP4 (Vallado et al., AIAA 2006-6753) is the propagator TLEs are made for; positions come out in TEME and
:mod:`openqci.space.frames` turns them into look angles. A :class:`Satellite` is built with
:meth:`Satellite.from_tle` (text of a TLE) or :meth:`Satellite.from_elements` (a circular or elliptical orbit
given by its elements, for a satellite not yet launched), and propagates whole arrays of instants at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sgp4.api import WGS72, Satrec

from openqci.space.errors import InvalidTleError, PropagationError
from openqci.space.frames import teme_to_ecef_km
from openqci.space.timescale import gmst_rad, julian_date, to_utc

__all__ = ["EARTH_MU_KM3_S2", "Satellite", "parse_tle_text"]

EARTH_MU_KM3_S2 = 398_600.8
"""Earth's gravitational parameter in the WGS-72 constants that SGP4 uses (Vallado et al. 2006, Table 1)."""
_SGP4_EPOCH_JD = 2_433_281.5  # 1949 December 31 00:00 UT, the origin of sgp4init's epoch
_SGP4_ERRORS = {
    1: "mean eccentricity out of range",
    2: "mean motion below zero",
    3: "perturbed eccentricity out of range",
    4: "semi-latus rectum below zero",
    6: "the orbit has decayed",
}


@dataclass(frozen=True)
class Satellite:
    """A satellite whose orbit SGP4 propagates.

    Attributes
    ----------
    name
        The satellite's name (line 0 of a three-line TLE, or given).
    record
        The initialised SGP4 record; it is not compared or shown.
    """

    name: str
    record: Satrec = field(compare=False, repr=False)

    @classmethod
    def from_tle(cls, line1: str, line2: str, name: str = "") -> Satellite:
        """A satellite from the two lines of a TLE, after checking their format and checksums.

        Raises
        ------
        InvalidTleError
            If a line has the wrong length, number or checksum, or SGP4 refuses the elements.
        """
        for number, line in ((1, line1), (2, line2)):
            _check_tle_line(number, line.rstrip())
        try:
            record = Satrec.twoline2rv(line1.rstrip(), line2.rstrip())
        except (ValueError, IndexError) as error:
            raise InvalidTleError(f"SGP4 cannot read the TLE: {error}") from None
        if record.error:
            raise InvalidTleError(f"SGP4 refuses the TLE: {_SGP4_ERRORS.get(record.error, record.error)}")
        return cls(name=name.strip() or f"NORAD {record.satnum}", record=record)

    @classmethod
    def from_elements(
        cls,
        name: str,
        *,
        epoch: datetime,
        altitude_km: float,
        inclination_deg: float,
        raan_deg: float,
        eccentricity: float = 0.0,
        argument_of_perigee_deg: float = 0.0,
        mean_anomaly_deg: float = 0.0,
        bstar: float = 0.0,
    ) -> Satellite:
        """A satellite on an orbit of given mean elements (``altitude_km``: semi-major axis - 6378.135 km)."""
        semi_major_km = 6378.135 + altitude_km
        mean_motion_rad_min = math.sqrt(EARTH_MU_KM3_S2 / semi_major_km**3) * 60.0
        jd, fraction = julian_date(epoch, 0.0)
        record = Satrec()
        record.sgp4init(
            WGS72,
            "i",
            99_999,
            float(jd + fraction) - _SGP4_EPOCH_JD,
            bstar,
            0.0,
            0.0,
            eccentricity,
            math.radians(argument_of_perigee_deg),
            math.radians(inclination_deg),
            math.radians(mean_anomaly_deg),
            mean_motion_rad_min,
            math.radians(raan_deg),
        )
        if record.error:
            raise PropagationError(
                f"SGP4 refuses the elements: {_SGP4_ERRORS.get(record.error, record.error)}"
            )
        return cls(name=name, record=record)

    @property
    def epoch(self) -> datetime:
        """The epoch of the elements (UTC)."""
        unix_s = (self.record.jdsatepoch - 2_440_587.5 + self.record.jdsatepochF) * 86_400.0
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=round(unix_s, 6))

    @property
    def period_s(self) -> float:
        """Orbital period from the mean motion (s)."""
        return 2.0 * math.pi / float(self.record.no_kozai) * 60.0

    def position_ecef_km(self, start: datetime, offset_s: ArrayLike) -> NDArray[np.float64]:
        """Earth-fixed positions (km, shape ``(n, 3)``) at ``start + offset_s`` for a 1-D array of offsets.

        Raises
        ------
        PropagationError
            If SGP4 reports an error at any of the instants (for instance a decayed orbit).
        """
        jd, fraction = julian_date(to_utc(start), np.atleast_1d(np.asarray(offset_s, dtype=np.float64)))
        error, position, _ = self.record.sgp4_array(jd, fraction)
        if np.any(error):
            code = int(error[np.flatnonzero(error)[0]])
            raise PropagationError(f"{self.name}: SGP4 failed ({_SGP4_ERRORS.get(code, code)})")
        return teme_to_ecef_km(position, gmst_rad(jd, fraction))


def parse_tle_text(text: str) -> list[Satellite]:
    """Read every satellite from the text of a TLE file (two-line or three-line sets, blank lines ignored).

    Raises
    ------
    InvalidTleError
        If the text holds no TLE, or a set is incomplete or corrupt.
    """
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    satellites: list[Satellite] = []
    index = 0
    while index < len(lines):
        name = ""
        if not lines[index].startswith("1 "):
            name, index = lines[index].removeprefix("0 "), index + 1
        if index + 1 >= len(lines):
            raise InvalidTleError(f"incomplete TLE set near line {index + 1}: expected lines 1 and 2")
        satellites.append(Satellite.from_tle(lines[index], lines[index + 1], name=name))
        index += 2
    if not satellites:
        raise InvalidTleError("no TLE found: expected lines starting with '1 ' and '2 '")
    return satellites


def _check_tle_line(number: int, line: str) -> None:
    """Refuse a TLE line with the wrong number, length or modulo-10 checksum (Space-Track TLE format)."""
    if len(line) != 69 or not line.startswith(f"{number} "):
        raise InvalidTleError(
            f"TLE line {number} must be 69 characters starting with '{number} ': {line[:30]!r}..."
        )
    digits = sum(int(c) for c in line[:68] if c.isdigit()) + line[:68].count("-")
    if not line[68].isdigit() or digits % 10 != int(line[68]):
        raise InvalidTleError(
            f"TLE line {number} fails its checksum (expected {digits % 10}, found {line[68]!r})"
        )
