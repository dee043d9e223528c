"""Time as the space segment counts it: a UTC start instant plus an array of seconds after it.

Every routine here takes the instants it works on; nothing reads the wall clock. UT1 is taken equal to UTC
(they differ by less than 0.9 s, which moves a LEO satellite's look angles by well under 0.1 degree and the
Sun by less than 0.004 degree), so no Earth-orientation tables are needed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.space.errors import InvalidWindowError

__all__ = ["SECONDS_PER_DAY", "gmst_rad", "julian_date", "to_utc", "utc_after"]

SECONDS_PER_DAY = 86_400.0
_J2000_JD = 2_451_545.0
_UNIX_EPOCH_JD = 2_440_587.5


def to_utc(instant: datetime) -> datetime:
    """Return ``instant`` as an aware UTC datetime; a naive one is read as UTC.

    Raises
    ------
    InvalidWindowError
        If ``instant`` is not a datetime.
    """
    if not isinstance(instant, datetime):
        raise InvalidWindowError(f"expected a datetime, got {instant!r}")
    if instant.tzinfo is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def utc_after(start: datetime, offset_s: float) -> datetime:
    """The UTC instant ``offset_s`` seconds after ``start``."""
    return to_utc(start) + timedelta(seconds=float(offset_s))


def julian_date(start: datetime, offset_s: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Julian date of ``start + offset_s`` split as SGP4 wants it: whole part (at midnight) and day fraction.

    The split keeps microsecond precision where one float64 Julian date would keep only about 20 us.
    """
    unix_s = to_utc(start).timestamp()
    whole_days, rest_s = divmod(unix_s, SECONDS_PER_DAY)
    fraction = (rest_s + np.asarray(offset_s, dtype=np.float64)) / SECONDS_PER_DAY
    carry = np.floor(fraction)
    jd = np.asarray(_UNIX_EPOCH_JD + whole_days + carry, dtype=np.float64)
    return jd, np.asarray(fraction - carry, dtype=np.float64)


def gmst_rad(jd: ArrayLike, fraction: ArrayLike) -> NDArray[np.float64]:
    """Greenwich mean sidereal time in radians (IAU 1982), the angle that turns TEME into the Earth frame.

    References
    ----------
    Vallado, Crawford, Hujsak, Kelso, "Revisiting Spacetrack Report #3", AIAA 2006-6753, Eq. in ``gstime``;
    Aoki et al., A&A 105, 359 (1982).
    """
    days = np.asarray(jd, dtype=np.float64) - _J2000_JD + np.asarray(fraction, dtype=np.float64)
    t = days / 36_525.0
    seconds = 67_310.54841 + (876_600.0 * 3600.0 + 8_640_184.812866) * t + 0.093104 * t**2 - 6.2e-6 * t**3
    return np.asarray(np.mod(np.deg2rad(seconds / 240.0), 2.0 * np.pi), dtype=np.float64)
