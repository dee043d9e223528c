"""Range checks shared by the models, so every entry point refuses bad input with the same words."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.errors import InvalidParameterError

__all__ = ["require_non_negative", "require_open_unit_interval", "require_positive", "require_probability"]


def require_non_negative(name: str, value: ArrayLike) -> NDArray[np.float64]:
    """Return ``value`` as a float array, refusing negative or non-finite entries."""
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise InvalidParameterError(f"{name} must be a finite number >= 0, got {_show(array)}")
    return array


def require_positive(name: str, value: ArrayLike) -> NDArray[np.float64]:
    """Return ``value`` as a float array, refusing zero, negative or non-finite entries."""
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise InvalidParameterError(f"{name} must be a finite number > 0, got {_show(array)}")
    return array


def require_probability(name: str, value: float) -> float:
    """Refuse a probability outside [0, 1]."""
    if not (np.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidParameterError(f"{name} must lie in [0, 1], got {value!r}")
    return float(value)


def require_open_unit_interval(name: str, value: float) -> float:
    """Refuse a value outside (0, 1), the range of a security parameter such as epsilon."""
    if not (np.isfinite(value) and 0.0 < value < 1.0):
        raise InvalidParameterError(f"{name} must lie strictly between 0 and 1, got {value!r}")
    return float(value)


def _show(array: NDArray[np.float64]) -> str:
    bad = array[~np.isfinite(array) | (array <= 0)] if array.ndim else array
    return repr(float(bad.flat[0])) if bad.size else repr(array.tolist())
