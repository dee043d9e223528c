"""A derivative-free maximiser that runs one independent search per distance, all at once.

Sweeping a key rate over a thousand distances with a scalar optimiser per point costs a thousand Python
loops; here every candidate step is evaluated for all points in one vectorised call, and each point keeps
its own step size. It is a compass (pattern) search: try ``x +/- step`` along each parameter, keep what
improves, halve the step of a parameter that failed. Constraints are expressed by the objective returning
``-inf``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["maximise"]

Objective = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def maximise(
    objective: Objective,
    start: ArrayLike,
    lower: ArrayLike,
    upper: ArrayLike,
    *,
    iterations: int = 60,
    tolerance: float = 1e-6,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Maximise ``objective`` independently for each column of ``start``.

    Parameters
    ----------
    objective
        Maps parameters of shape ``(P, N)`` to values of shape ``(N,)``; ``-inf`` marks infeasible points.
    start
        Starting parameters, shape ``(P, N)`` (or ``(P,)``, broadcast to one column).
    lower, upper
        Bounds per parameter, shape ``(P,)``.
    iterations
        Maximum number of sweeps over all parameters.
    tolerance
        Stop when every step is below this fraction of its parameter's range.

    Returns
    -------
    best, value
        The best parameters found, shape ``(P, N)``, and the objective there, shape ``(N,)``.
    """
    low = np.asarray(lower, dtype=np.float64)[:, None]
    high = np.asarray(upper, dtype=np.float64)[:, None]
    x = np.array(start, dtype=np.float64, ndmin=2)
    if x.shape[0] != low.shape[0]:
        x = x.T
    x = np.clip(x, low, high)
    value = objective(x)
    step = np.broadcast_to((high - low) / 8.0, x.shape).copy()
    for _ in range(iterations):
        for p in range(x.shape[0]):
            improved = np.zeros(x.shape[1], dtype=bool)
            for sign in (1.0, -1.0):
                trial = x.copy()
                trial[p] = np.clip(x[p] + sign * step[p], low[p], high[p])
                trial_value = objective(trial)
                better = trial_value > value
                x[:, better] = trial[:, better]
                value = np.where(better, trial_value, value)
                improved |= better
            step[p] = np.where(improved, step[p], step[p] * 0.5)
        if np.all(step <= tolerance * (high - low)):
            break
    return x, value
