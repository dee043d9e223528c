"""Binary entropy, the information-theoretic price of an error rate."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["binary_entropy"]


def binary_entropy(p: ArrayLike) -> NDArray[np.float64]:
    """``h(p) = -p log2 p - (1 - p) log2 (1 - p)``, with ``h(0) = h(1) = 0``; inputs are clipped to [0, 1].

    Examples
    --------
    >>> float(binary_entropy(0.5))
    1.0
    """
    q = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -q * np.log2(q) - (1.0 - q) * np.log2(1.0 - q)
    return np.asarray(np.nan_to_num(h, nan=0.0), dtype=np.float64)
