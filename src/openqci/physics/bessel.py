"""The exponentially scaled modified Bessel function ``e^(-|x|) I0(x)``, without scipy.

Twin-field and MDI click probabilities average interference over a random relative phase, which brings
in ``I0``. Their arguments are products of intensities and transmittances, at most a few, where numpy's
``i0`` is exact; beyond :data:`_LARGE` the leading terms of the asymptotic series keep the result finite
where ``I0`` alone would overflow. The physics layer stays free of scipy, which the KMEs must not load.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["scaled_i0"]

_LARGE = 600.0


def scaled_i0(x: ArrayLike) -> NDArray[np.float64]:
    """``e^(-|x|) I0(x)``, element-wise.

    Examples
    --------
    >>> round(float(scaled_i0(1.0)), 10)
    0.4657596076
    """
    value = np.abs(np.asarray(x, dtype=np.float64))
    small = np.minimum(value, _LARGE)
    direct = np.exp(-small) * np.i0(small)
    with np.errstate(divide="ignore"):
        inverse = 1.0 / (8.0 * np.maximum(value, _LARGE))
        series = (1.0 + inverse + 9.0 * inverse**2 / 2.0) / np.sqrt(2.0 * np.pi * np.maximum(value, _LARGE))
    return np.asarray(np.where(value <= _LARGE, direct, series), dtype=np.float64)
