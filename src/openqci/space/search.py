"""Finding when a condition holds: a boolean predicate sampled on a grid, its edges refined by bisection.

This follows Skyfield's ``searchlib.find_discrete``: the predicate is evaluated on a coarse grid of ``step_s``
(which must be shorter than the shortest window worth finding), then every edge between grid points is
narrowed by bisection, all edges at once, so each refinement round is one vectorised call.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from openqci.space.errors import InvalidWindowError

__all__ = ["Predicate", "find_windows", "maximise_in_windows"]

Predicate = Callable[[NDArray[np.float64]], NDArray[np.bool_]]
"""A function from an array of offsets (s) to whether the condition holds at each."""


def find_windows(
    predicate: Predicate, duration_s: float, *, step_s: float, tolerance_s: float = 0.01
) -> NDArray[np.float64]:
    """Windows ``[start_s, end_s]`` (shape ``(n, 2)``) within ``[0, duration_s]`` where ``predicate`` holds.

    A window open at either end of the search is cut there.

    Raises
    ------
    InvalidWindowError
        If ``duration_s`` is negative or ``step_s`` or ``tolerance_s`` is not positive.
    """
    _check_window(duration_s, step_s, tolerance_s)
    grid = np.linspace(0.0, duration_s, max(2, math.ceil(duration_s / step_s) + 1))
    inside = np.asarray(predicate(grid), dtype=bool)
    change = np.flatnonzero(inside[1:] != inside[:-1])
    edges = _bisect(predicate, grid[change], grid[change + 1], inside[change], tolerance_s)
    rising = ~inside[change]
    starts = np.concatenate([[0.0] if inside[0] else [], edges[rising]])
    ends = np.concatenate([edges[~rising], [duration_s] if inside[-1] else []])
    return np.stack([starts, ends], axis=-1).reshape(-1, 2)


def maximise_in_windows(
    function: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    windows: NDArray[np.float64],
    *,
    tolerance_s: float = 0.01,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Instant and value of the maximum of a unimodal ``function`` in each window (golden-section search)."""
    low, high = windows[:, 0].copy(), windows[:, 1].copy()
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    rounds = max(
        1,
        math.ceil(
            math.log(max(float(np.max(high - low, initial=0.0)), tolerance_s) / tolerance_s, 1 / ratio)
        ),
    )
    for _ in range(rounds):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        left_better = function(np.concatenate([a, b])).reshape(2, -1)
        keep_left = left_better[0] >= left_better[1]
        high, low = np.where(keep_left, b, high), np.where(keep_left, low, a)
    best = (low + high) / 2.0
    return best, function(best)


def _bisect(
    predicate: Predicate,
    low: NDArray[np.float64],
    high: NDArray[np.float64],
    low_value: NDArray[np.bool_],
    tolerance_s: float,
) -> NDArray[np.float64]:
    """Narrow every ``[low, high]`` bracket around a change of ``predicate`` to ``tolerance_s``."""
    if low.size == 0:
        return low
    rounds = max(1, math.ceil(math.log2(float(np.max(high - low)) / tolerance_s)))
    for _ in range(rounds):
        middle = (low + high) / 2.0
        same_as_low = np.asarray(predicate(middle), dtype=bool) == low_value
        low, high = np.where(same_as_low, middle, low), np.where(same_as_low, high, middle)
    return (low + high) / 2.0


def _check_window(duration_s: float, step_s: float, tolerance_s: float) -> None:
    if not (math.isfinite(duration_s) and duration_s >= 0):
        raise InvalidWindowError(
            f"the search duration must be a finite number of seconds >= 0, got {duration_s!r}"
        )
    for name, value in (("step_s", step_s), ("tolerance_s", tolerance_s)):
        if not (math.isfinite(value) and value > 0):
            raise InvalidWindowError(f"{name} must be a finite number of seconds > 0, got {value!r}")
