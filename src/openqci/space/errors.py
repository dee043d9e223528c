"""Exceptions of the space segment.

The tree::

    OpenQciError
    └── SpaceError (also a ValueError)
        ├── InvalidTleError        a two-line element set that does not parse or fails its checksum
        ├── InvalidStationError    a ground station with impossible coordinates (latitude beyond +-90, ...)
        ├── InvalidLinkError       a link-budget parameter outside its physical range (negative loss, M^2 < 1)
        ├── InvalidWindowError     a search window or time step that is negative, empty or not finite
        ├── UnknownMissionError    a mission preset name that is not in the registry; lists the valid ones
        ├── PropagationError       the orbit propagator refused a time (decayed orbit, epoch far away)
        └── RelayError             two passes that cannot relay a key (wrong order, no key on one of them)

Callers (the command line, the network model) catch ``SpaceError`` and show its message on one line.
"""

from __future__ import annotations

from openqci.errors import OpenQciError

__all__ = [
    "InvalidLinkError",
    "InvalidStationError",
    "InvalidTleError",
    "InvalidWindowError",
    "PropagationError",
    "RelayError",
    "SpaceError",
    "UnknownMissionError",
]


class SpaceError(OpenQciError, ValueError):
    """Base of every error raised by :mod:`openqci.space`."""


class InvalidTleError(SpaceError):
    """A two-line element set could not be read."""


class InvalidStationError(SpaceError):
    """A ground station was described with impossible coordinates or optics."""


class InvalidLinkError(SpaceError):
    """A free-space link or mission was described with impossible parameters."""


class InvalidWindowError(SpaceError):
    """A time window or sampling step cannot be searched."""


class UnknownMissionError(SpaceError):
    """A mission preset was asked for by a name the registry does not hold."""


class PropagationError(SpaceError):
    """SGP4 could not propagate the orbit to a requested instant."""


class RelayError(SpaceError):
    """A satellite relay was asked for with passes or keys that cannot make one."""
