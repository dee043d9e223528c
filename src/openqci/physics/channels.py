"""Quantum channels: the fibre model and the interface a free-space channel implements.

A channel is anything that tells the fraction of photons reaching the receiver's input: the fibre's
transmittance is fixed by its length, a satellite's changes with time through the pass geometry. Above this
module nobody needs to know which kind it is, so the link sampler and the key-rate models take a
:class:`Channel` and ask for its transmittance at the instants they care about.

Fibre loss is ``alpha * L + extra`` in dB (connectors, splices, a patch panel counted in ``extra_loss_db``).
Standard single-mode fibre at 1550 nm is about 0.2 dB/km (ITU-T G.652); the GYS experiment quoted 0.21 dB/km.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.validation import require_non_negative

__all__ = [
    "Channel",
    "FibreChannel",
    "db_to_transmittance",
    "fibre_loss_db",
    "fibre_transmittance",
    "transmittance_to_db",
]


@runtime_checkable
class Channel(Protocol):
    """What the layers above need from a quantum channel."""

    def transmittance(self, time_s: ArrayLike) -> NDArray[np.float64]:
        """Fraction of photons that reach the receiver at each instant ``time_s`` (seconds into the link)."""
        ...

    def loss_db(self, time_s: ArrayLike) -> NDArray[np.float64]:
        """The same, as a loss in dB."""
        ...


def db_to_transmittance(loss_db: ArrayLike) -> NDArray[np.float64]:
    """Convert a loss in dB to a transmittance, ``10 ** (-loss_db / 10)``, element-wise."""
    return np.asarray(10.0 ** (-np.asarray(loss_db, dtype=np.float64) / 10.0), dtype=np.float64)


def transmittance_to_db(transmittance: ArrayLike) -> NDArray[np.float64]:
    """Convert a transmittance in (0, 1] to a loss in dB; a transmittance of zero gives ``inf``."""
    eta = np.asarray(transmittance, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.asarray(-10.0 * np.log10(eta), dtype=np.float64)


def fibre_loss_db(
    distance_km: ArrayLike, attenuation_db_per_km: float = 0.2, extra_loss_db: float = 0.0
) -> NDArray[np.float64]:
    """Total loss of a fibre span in dB, vectorised over ``distance_km``.

    Raises
    ------
    InvalidParameterError
        If a distance, the attenuation or the extra loss is negative.
    """
    distance = require_non_negative("distance_km", distance_km)
    require_non_negative("attenuation_db_per_km", attenuation_db_per_km)
    require_non_negative("extra_loss_db", extra_loss_db)
    return np.asarray(distance * attenuation_db_per_km + extra_loss_db, dtype=np.float64)


def fibre_transmittance(
    distance_km: ArrayLike, attenuation_db_per_km: float = 0.2, extra_loss_db: float = 0.0
) -> NDArray[np.float64]:
    """Transmittance of a fibre span, vectorised over ``distance_km``.

    Examples
    --------
    >>> float(fibre_transmittance(50.0, 0.2))
    0.1
    """
    return db_to_transmittance(fibre_loss_db(distance_km, attenuation_db_per_km, extra_loss_db))


@dataclass(frozen=True)
class FibreChannel:
    """A fibre span: its transmittance does not change with time."""

    length_km: float
    attenuation_db_per_km: float = 0.2
    extra_loss_db: float = 0.0

    def __post_init__(self) -> None:
        fibre_loss_db(self.length_km, self.attenuation_db_per_km, self.extra_loss_db)

    @property
    def total_loss_db(self) -> float:
        """Loss of the whole span in dB."""
        return float(fibre_loss_db(self.length_km, self.attenuation_db_per_km, self.extra_loss_db))

    def loss_db(self, time_s: ArrayLike) -> NDArray[np.float64]:
        """The span's loss, broadcast to the shape of ``time_s``."""
        return np.full(np.shape(time_s), self.total_loss_db, dtype=np.float64)

    def transmittance(self, time_s: ArrayLike) -> NDArray[np.float64]:
        """The span's transmittance, broadcast to the shape of ``time_s``."""
        return db_to_transmittance(self.loss_db(time_s))
