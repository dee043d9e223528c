"""Exact waiting time and fidelity of a quantum-repeater chain with nested entanglement swapping.

The method follows Brand, Coopmans and Elkouss, "Efficient computation of the waiting time and fidelity in
quantum repeater chains", IEEE JSAC 38, 619 (2020), arXiv 1904.10679: a link of ``n`` segments is made by
making its two halves independently, waiting until both exist, and swapping them; a failed swap, or a stored
half older than the cutoff, discards both halves and the whole subtree starts again. Time runs in units of
one elementary attempt. Each level's waiting time is a sum of a geometric number of failed rounds and one
successful round, so its distribution is ``s / (1 - f)`` in the generating-function domain, with ``s`` and
``f`` the round's success and failure distributions; the distributions are carried on grids long enough
that the mass left off is below ``1e-14`` of the whole, and the generating functions are evaluated by FFT.

Alongside each probability ``P(T = t)`` the method carries ``E[w; T = t]``, the Werner parameter of the
pair weighted by that probability: a swap multiplies the Werner parameters of its two inputs, and the half
that waited for the other decays by ``exp(-delay / coherence)`` while it waits. The mean Werner parameter is
the ratio of the two sums, and the mean fidelity ``(1 + 3 w) / 4``.

Chains whose number of segments is not a power of two split into halves of ``ceil(n/2)`` and
``floor(n/2)`` segments; each distinct size is solved once, so ``n`` segments cost ``O(log n)`` levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache

import numpy as np
from numpy.typing import NDArray
from scipy.signal import fftconvolve

from openqci.qin.errors import QinParameterError

__all__ = ["ChainParameters", "ChainResult", "WaitingTime", "solve_chain"]

# Each grid reaches this many standard deviations past the mean: the distributions here have exponential
# tails no heavier than a geometric law of the same mean, which leaves far less than 1e-14 of the mass out.
_TAIL_SIGMAS = 38.0
# Longer grids than this would not fit in memory comfortably; a chain that needs one is refused, with the
# mean waiting time (which the moments give exactly) in the message.
MAX_GRID_POINTS = 1 << 24


@dataclass(frozen=True)
class ChainParameters:
    """A repeater chain of equal segments.

    ``cutoff_attempts`` bounds how long one half may wait in memory for the other (``None``: no cutoff);
    ``coherence_attempts`` is the memories' 1/e decay time of the Werner parameter, in attempts
    (``math.inf``: perfect memories). ``attempt_duration_s`` converts attempts to seconds.
    """

    segments: int
    p_gen: float
    p_swap: float = 1.0
    cutoff_attempts: int | None = None
    werner_elementary: float = 1.0
    coherence_attempts: float = math.inf
    attempt_duration_s: float = 1.0

    def __post_init__(self) -> None:
        if self.segments < 1:
            raise QinParameterError(f"segments must be at least 1, got {self.segments}")
        if not 0.0 < self.p_gen <= 1.0:
            raise QinParameterError(f"p_gen must be in (0, 1], got {self.p_gen}")
        if not 0.0 < self.p_swap <= 1.0:
            raise QinParameterError(f"p_swap must be in (0, 1], got {self.p_swap}")
        if self.cutoff_attempts is not None and self.cutoff_attempts < 0:
            raise QinParameterError(f"cutoff must be >= 0 attempts, got {self.cutoff_attempts}")
        if not 0.0 <= self.werner_elementary <= 1.0:
            raise QinParameterError(f"the Werner parameter must be in [0, 1], got {self.werner_elementary}")
        if not self.coherence_attempts > 0.0:
            raise QinParameterError(f"coherence time must be > 0, got {self.coherence_attempts}")
        if not self.attempt_duration_s > 0.0:
            raise QinParameterError(f"attempt duration must be > 0 s, got {self.attempt_duration_s}")


@dataclass(frozen=True)
class WaitingTime:
    """``pmf[t] = P(T = t)`` and ``werner[t] = E[w; T = t]`` for ``t`` attempts, with exact moments.

    ``mean`` and ``variance`` come from the rounds' moments, not from the truncated grid, so they hold
    however long the tail; ``left_off`` is the probability beyond the grid.
    """

    pmf: NDArray[np.float64]
    werner: NDArray[np.float64]
    mean: float
    variance: float
    left_off: float = field(default=0.0)

    @property
    def mean_werner(self) -> float:
        """Werner parameter of the pair delivered, averaged over the waiting time."""
        return float(self.werner.sum() / self.pmf.sum())


@dataclass(frozen=True)
class ChainResult:
    """What a chain delivers: its waiting-time law and the quality of its end-to-end pairs."""

    parameters: ChainParameters
    waiting_time: WaitingTime

    @property
    def mean_waiting_time_attempts(self) -> float:
        return self.waiting_time.mean

    @property
    def mean_waiting_time_s(self) -> float:
        return self.waiting_time.mean * self.parameters.attempt_duration_s

    @property
    def mean_werner(self) -> float:
        return self.waiting_time.mean_werner

    @property
    def mean_fidelity(self) -> float:
        return (1.0 + 3.0 * self.mean_werner) / 4.0

    @property
    def pair_rate_hz(self) -> float:
        """End-to-end pairs per second when the chain restarts as soon as it delivers."""
        return 1.0 / self.mean_waiting_time_s

    def cdf(self) -> NDArray[np.float64]:
        """``P(T <= t)`` on the grid."""
        return np.cumsum(self.waiting_time.pmf)

    def records(self) -> dict[str, object]:
        """The JSON document of ``openqci qin chain``."""
        p = self.parameters
        return {
            "segments": p.segments,
            "p_gen": p.p_gen,
            "p_swap": p.p_swap,
            "cutoff_attempts": p.cutoff_attempts,
            "coherence_attempts": None if math.isinf(p.coherence_attempts) else p.coherence_attempts,
            "werner_elementary": p.werner_elementary,
            "attempt_duration_s": p.attempt_duration_s,
            "mean_waiting_time_attempts": self.mean_waiting_time_attempts,
            "mean_waiting_time_s": self.mean_waiting_time_s,
            "std_waiting_time_attempts": math.sqrt(self.waiting_time.variance),
            "pair_rate_hz": self.pair_rate_hz,
            "mean_werner": self.mean_werner,
            "mean_fidelity": self.mean_fidelity,
            "grid_attempts": int(self.waiting_time.pmf.size),
            "probability_beyond_grid": self.waiting_time.left_off,
        }


def solve_chain(parameters: ChainParameters) -> ChainResult:
    """Waiting-time distribution and mean fidelity of the chain, exactly up to the grid's tail.

    Raises
    ------
    QinParameterError
        When the waiting time is so long and spread that its distribution does not fit in memory.
    """
    solver = _Solver(parameters)
    return ChainResult(parameters, solver.solve(parameters.segments))


class _Solver:
    """Solves each distinct sub-chain length once."""

    def __init__(self, parameters: ChainParameters) -> None:
        self.parameters = parameters
        self.solve = cache(self._solve)

    def _solve(self, segments: int) -> WaitingTime:
        if segments == 1:
            return _elementary(self.parameters.p_gen, self.parameters.werner_elementary)
        left = self.solve((segments + 1) // 2)
        right = self.solve(segments // 2)
        return _swap(left, right, self.parameters)


def _elementary(p_gen: float, werner: float) -> WaitingTime:
    """Geometric waiting time of one segment: attempt ``t`` succeeds first with ``p (1 - p)^(t - 1)``."""
    mean = 1.0 / p_gen
    variance = (1.0 - p_gen) / p_gen**2
    size = _grid_size(mean, variance)
    t = np.arange(size, dtype=np.float64)
    pmf = np.where(t >= 1, p_gen * np.power(1.0 - p_gen, np.maximum(t - 1.0, 0.0)), 0.0)
    left_off = float((1.0 - p_gen) ** (size - 1))
    return WaitingTime(pmf, werner * pmf, mean, variance, left_off)


def _swap(left: WaitingTime, right: WaitingTime, parameters: ChainParameters) -> WaitingTime:
    """One level up: rounds of "make both halves, swap", repeated until a round succeeds."""
    size = max(left.pmf.size, right.pmf.size)
    a, b = _padded(left.pmf, size), _padded(right.pmf, size)
    wa, wb = _padded(left.werner, size), _padded(right.werner, size)
    cutoff = size if parameters.cutoff_attempts is None else min(parameters.cutoff_attempts, size)
    # Both halves present by t, the later one arriving at t, the earlier at most `cutoff` before.
    both = a * _window_sum(b, cutoff, include_now=True) + b * _window_sum(a, cutoff, include_now=False)
    werner = wa * _decayed_window_sum(wb, cutoff, parameters.coherence_attempts, include_now=True)
    werner = werner + wb * _decayed_window_sum(wa, cutoff, parameters.coherence_attempts, include_now=False)
    success = parameters.p_swap * both
    success_werner = parameters.p_swap * werner
    failure = (1.0 - parameters.p_swap) * both
    if parameters.cutoff_attempts is not None:
        late = _cutoff_failures(a, b, parameters.cutoff_attempts)
        failure = _padded(failure, late.size) + late
    return _repeat_until_success(success, success_werner, failure)


def _cutoff_failures(a: NDArray[np.float64], b: NDArray[np.float64], cutoff: int) -> NDArray[np.float64]:
    """Rounds ended at ``t + cutoff`` because the half ready at ``t`` waited in vain for the other."""
    size = a.size
    out = np.zeros(size + cutoff)
    # 1 - cdf, not the grid's mass: the tail beyond the grid has not arrived either.
    out[cutoff:] = a * (1.0 - _cdf_at(b, cutoff)) + b * (1.0 - _cdf_at(a, cutoff))
    return out


def _cdf_at(pmf: NDArray[np.float64], shift: int) -> NDArray[np.float64]:
    """``P(T <= t + shift)`` for every ``t`` of the grid."""
    cdf = np.cumsum(pmf)
    index = np.minimum(np.arange(pmf.size) + shift, pmf.size - 1)
    return np.asarray(np.minimum(cdf[index], 1.0), dtype=np.float64)


def _window_sum(x: NDArray[np.float64], width: int, *, include_now: bool) -> NDArray[np.float64]:
    """``sum x[s]`` for ``t - width <= s <= t`` (or ``< t``), exactly, by cumulative sums."""
    cumulative = np.concatenate(([0.0], np.cumsum(x)))
    t = np.arange(x.size)
    upper = t + 1 if include_now else t
    lower = np.maximum(t - width, 0)
    return np.asarray(np.maximum(cumulative[upper] - cumulative[lower], 0.0), dtype=np.float64)


def _decayed_window_sum(
    x: NDArray[np.float64], width: int, coherence: float, *, include_now: bool
) -> NDArray[np.float64]:
    """``sum x[t - d] exp(-d / coherence)`` over ``0 (or 1) <= d <= width``: the earlier half decays."""
    if math.isinf(coherence):
        return _window_sum(x, width, include_now=include_now)
    kernel = np.exp(-np.arange(min(width, x.size - 1) + 1) / coherence)
    if not include_now:
        kernel[0] = 0.0
    return np.asarray(np.maximum(fftconvolve(x, kernel)[: x.size], 0.0), dtype=np.float64)


def _repeat_until_success(
    success: NDArray[np.float64], success_werner: NDArray[np.float64], failure: NDArray[np.float64]
) -> WaitingTime:
    """The law of ``F_1 + ... + F_k + S``: failed rounds then a successful one, ``s / (1 - f)``."""
    p_success, p_failure = float(success.sum()), float(failure.sum())
    if p_success <= 0.0:
        raise QinParameterError("no round of this chain can succeed (the cutoff leaves no time to swap)")
    t_s, t_f = np.arange(success.size), np.arange(failure.size)
    mean_s = float(t_s @ success) / p_success
    var_s = float(t_s**2 @ success) / p_success - mean_s**2
    mean_f = float(t_f @ failure) / p_failure if p_failure > 0 else 0.0
    var_f = float(t_f**2 @ failure) / p_failure - mean_f**2 if p_failure > 0 else 0.0
    failures_mean = p_failure / p_success
    failures_var = p_failure / p_success**2
    mean = failures_mean * mean_f + mean_s
    variance = failures_mean * var_f + failures_var * mean_f**2 + max(var_s, 0.0)
    size = max(_grid_size(mean, variance), success.size)
    if size > MAX_GRID_POINTS:
        raise QinParameterError(
            f"the waiting time (mean {mean:.4g} attempts, standard deviation "
            f"{math.sqrt(variance):.4g}) needs a grid of {size} points, more than {MAX_GRID_POINTS}: "
            "use fewer segments or larger probabilities"
        )
    length = 1 << math.ceil(math.log2(2 * size))
    s_hat = np.fft.rfft(success, length)
    w_hat = np.fft.rfft(success_werner, length)
    denominator = 1.0 - np.fft.rfft(failure[:length], length)
    pmf = np.maximum(np.fft.irfft(s_hat / denominator, length)[:size], 0.0)
    werner = np.maximum(np.fft.irfft(w_hat / denominator, length)[:size], 0.0)
    left_off = max(1.0 - float(pmf.sum()), 0.0)
    return WaitingTime(pmf, werner, mean, variance, left_off)


def _grid_size(mean: float, variance: float) -> int:
    return math.ceil(mean + _TAIL_SIGMAS * math.sqrt(max(variance, 0.0))) + 2


def _padded(x: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    if x.size >= size:
        return x
    return np.concatenate((x, np.zeros(size - x.size)))
