"""The repeaterless bound: no point-to-point QKD link can beat it, whatever its devices.

Pirandola, Laurenza, Ottaviani, Banchi, "Fundamental limits of repeaterless quantum communications",
Nat. Commun. 8, 15043 (2017): the secret-key capacity of a pure-loss channel of transmittance ``eta`` is
``-log2(1 - eta)`` bits per channel use (about ``1.44 eta`` at high loss). It is computed as
``-log1p(-eta) / ln 2`` so that it stays accurate, rather than rounding to zero, beyond 800 km of fibre.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.errors import InvalidParameterError

__all__ = ["plob_bound"]


def plob_bound(transmittance: ArrayLike) -> NDArray[np.float64]:
    """Secret-key capacity of a pure-loss channel, in bits per channel use, vectorised.

    Examples
    --------
    >>> round(float(plob_bound(0.01)), 5)
    0.0145
    """
    eta = np.asarray(transmittance, dtype=np.float64)
    if np.any((eta < 0) | (eta > 1)) or not np.all(np.isfinite(eta)):
        raise InvalidParameterError("transmittance must lie in [0, 1]")
    with np.errstate(divide="ignore"):
        return np.asarray(-np.log1p(-eta) / np.log(2.0), dtype=np.float64)
