"""Exact waiting time and fidelity of a quantum-repeater chain with nested entanglement swapping.

The method follows Brand, Coopmans and Elkouss (BCE), "Efficient computation of the waiting time and
fidelity in quantum repeater chains", IEEE JSAC 38, 619 (2020), arXiv 1912.07688: a link of ``n`` segments
is made by making its two halves independently, waiting until both exist, and swapping them; a failed swap,
or a stored half older than the cutoff, discards both halves and the whole subtree starts again. Time runs
in units of one elementary attempt. Each level's waiting time is a sum of a geometric number of failed
rounds and one successful round, so its distribution is ``s / (1 - f)`` in the generating-function domain,
with ``s`` and ``f`` the round's success and failure distributions; the distributions are carried on grids
long enough that the mass left off is below ``1e-14`` of the whole, and the generating functions are
evaluated by FFT.

Alongside each probability ``P(T = t)`` the method carries ``E[w; T = t]``, the Werner parameter of the
pair weighted by that probability: a swap multiplies the Werner parameters of its two inputs, and the half
that waited for the other decays by ``exp(-delay / coherence)`` while it waits. The mean Werner parameter is
the ratio of the two sums, and the mean fidelity ``(1 + 3 w) / 4``.

Chains whose number of segments is not a power of two split into halves of ``ceil(n/2)`` and
``floor(n/2)`` segments; each distinct size is solved once, so ``n`` segments cost ``O(log n)`` levels.
Segments may differ (``segment_p_gen``, ``segment_werner``, and ``node_p_swap`` for the swaps): each half
is then solved with its own segments, and the swap joining two halves uses its node's success. Every
segment still attempts once per time step, as in BCE's model: on a real route, the slowest segment's
attempt sets the step.

Distillation (``distil_levels``): at a chosen nesting level a link is made twice, independently, and the
two copies are distilled with the recurrence protocol of Deutsch et al. (DEJMPS), PRL 77, 2818 (1996); a
failure discards both and the round starts again, as BCE's protocol does (their Sec. II and their
published Monte Carlo, github.com/sebastiaanbrand/waiting-time-quantum-repeater-chains). A round is
"wait for the later of two independent copies, then a probabilistic operation", exactly the shape of a
swap round, so the same ``s / (1 - f)`` treatment applies; only the success probability now depends on the
two pairs' states, hence on their arrival times.

DEJMPS does not map Werner states to Werner states, so the pair is carried as a Bell-diagonal state by its
three Pauli correlations ``(x, y, z) = (<ZZ>, <XX>, -<YY>)`` (``(w, w, w)`` for a Werner state, fidelity
``(1 + x + y + z) / 4``). In these coordinates every step is (multi)linear in the inputs, which is what
keeps the expectation-weighted sums exact: a swap multiplies the correlations component by component (the
Pauli errors of the two halves compose), memory depolarisation multiplies all three by ``exp(-d / T)``,
and DEJMPS of pairs ``1`` and ``2`` succeeds with ``N = (1 + z1 z2) / 2`` and leaves
``N (x, y, z) = ((z1 + z2) / 2, (x1 x2 + y1 y2) / 2, (x1 y2 + y1 x2) / 2)`` (the Bell-coefficient map of
DEJMPS's Eq. (2)-(3), rewritten in correlations; ``tests/qin/test_distillation.py`` checks it against the
circuit on density matrices). Products of the two independent copies' weighted sums are therefore exact.
With ``distil_twirl`` the distilled pair is twirled back to a Werner state of the same fidelity, which is
BCE's model (their code's ``wern_after_distillation``); without it the state is tracked exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.signal import fftconvolve

from openqci.qin.errors import QinParameterError

__all__ = ["ChainParameters", "ChainResult", "WaitingTime", "dejmps", "solve_chain"]

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

    ``distil_levels`` lists the nesting levels whose links are distilled with DEJMPS before use, a level
    once per round (``(0, 0)``: two nested rounds on the elementary links, four copies per distilled link).
    A link of ``s`` segments is at level ``ceil(log2 s)``: 0 for an elementary link, ``nesting_levels`` for
    the end-to-end pair. BCE's protocol with ``n_dist = 1`` distils every link before it is swapped,
    ``tuple(range(nesting_levels))``. ``distil_twirl`` makes each distilled pair a Werner state of the same
    fidelity (BCE's model); by default the Bell-diagonal state DEJMPS leaves is carried exactly. Both
    default to no distillation, which leaves every result as it was.
    """

    segments: int
    p_gen: float
    p_swap: float = 1.0
    cutoff_attempts: int | None = None
    werner_elementary: float = 1.0
    coherence_attempts: float = math.inf
    attempt_duration_s: float = 1.0
    distil_levels: tuple[int, ...] = ()
    distil_twirl: bool = False
    segment_p_gen: tuple[float, ...] = ()
    """Success per attempt of each segment, in order, where they differ (empty: ``p_gen`` for all)."""
    segment_werner: tuple[float, ...] = ()
    """Werner parameter of each segment's fresh pairs, in order (empty: ``werner_elementary`` for all)."""
    node_p_swap: tuple[float, ...] = ()
    """Swap success at each of the ``segments - 1`` inner nodes, in order (empty: ``p_swap`` for all)."""

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
        top = self.nesting_levels
        for level in self.distil_levels:
            if isinstance(level, bool) or not isinstance(level, int | np.integer) or not 0 <= level <= top:
                raise QinParameterError(
                    f"distil levels must be integers from 0 to {top} for {self.segments} segments, "
                    f"got {level!r}"
                )
        if self.distil_twirl and not self.distil_levels:
            raise QinParameterError("distil_twirl applies only with distil_levels")
        self._check_per_position()

    def _check_per_position(self) -> None:
        expected = {
            "segment_p_gen": self.segments,
            "segment_werner": self.segments,
            "node_p_swap": self.segments - 1,
        }
        for name, count in expected.items():
            values = getattr(self, name)
            if values and len(values) != count:
                raise QinParameterError(
                    f"{name} needs {count} values for {self.segments} segments, got {len(values)}"
                )
        if any(not 0.0 < p <= 1.0 for p in (*self.segment_p_gen, *self.node_p_swap)):
            raise QinParameterError("every segment's p_gen and every node's p_swap must be in (0, 1]")
        if any(not 0.0 <= w <= 1.0 for w in self.segment_werner):
            raise QinParameterError("every segment's Werner parameter must be in [0, 1]")

    @property
    def uniform(self) -> bool:
        """Whether every segment and every swap is the same (then sub-chains of one length are alike)."""
        return not (self.segment_p_gen or self.segment_werner or self.node_p_swap)

    def p_gen_of(self, segment: int) -> float:
        """Success per attempt of segment ``segment`` (from 0)."""
        return self.segment_p_gen[segment] if self.segment_p_gen else self.p_gen

    def werner_of(self, segment: int) -> float:
        """Werner parameter of segment ``segment``'s fresh pairs."""
        return self.segment_werner[segment] if self.segment_werner else self.werner_elementary

    def p_swap_at(self, node: int) -> float:
        """Swap success at inner node ``node``, the one between segments ``node - 1`` and ``node``."""
        return self.node_p_swap[node - 1] if self.node_p_swap else self.p_swap

    def sub_chain(self, lo: int, hi: int) -> tuple[object, ...] | int:
        """What makes segments ``lo`` to ``hi - 1`` the chain they are: equal keys, equal sub-chains."""
        if self.uniform:
            return hi - lo
        return (
            tuple(self.p_gen_of(k) for k in range(lo, hi)),
            tuple(self.werner_of(k) for k in range(lo, hi)),
            tuple(self.p_swap_at(k) for k in range(lo + 1, hi)),
        )

    @property
    def nesting_levels(self) -> int:
        """Level of the end-to-end pair, ``ceil(log2 segments)``: the number of swaps a pair goes through."""
        return _level(self.segments)


@dataclass(frozen=True)
class WaitingTime:
    """``pmf[t] = P(T = t)`` and ``werner[t] = E[w; T = t]`` for ``t`` attempts, with exact moments.

    ``mean`` and ``variance`` come from the rounds' moments, not from the truncated grid, so they hold
    however long the tail; ``left_off`` is the probability beyond the grid. ``correlations[k, t]`` is
    ``E[c_k; T = t]`` for the Pauli correlations ``(<ZZ>, <XX>, -<YY>)`` of a pair that DEJMPS has left
    Bell-diagonal but not Werner (``None`` for a Werner pair: all three are ``werner``); ``werner`` is then
    their mean, the Werner parameter of the twirled pair, which has the same fidelity.
    """

    pmf: NDArray[np.float64]
    werner: NDArray[np.float64]
    mean: float
    variance: float
    left_off: float = field(default=0.0)
    correlations: NDArray[np.float64] | None = field(default=None)

    @property
    def mean_werner(self) -> float:
        """Werner parameter of the pair delivered, averaged over the waiting time."""
        return float(self.werner.sum() / self.pmf.sum())

    @property
    def mean_correlations(self) -> NDArray[np.float64]:
        """``(<ZZ>, <XX>, -<YY>)`` of the pair delivered, averaged over the waiting time."""
        total = float(self.pmf.sum())
        if self.correlations is None:
            return np.full(3, self.mean_werner)
        return np.asarray(self.correlations.sum(axis=1) / total, dtype=np.float64)


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
    def mean_bell_coefficients(self) -> NDArray[np.float64]:
        """Weights of ``Phi+, Psi-, Psi+, Phi-`` in the delivered pair (DEJMPS's ``A, B, C, D``)."""
        return _bell_coefficients(self.waiting_time.mean_correlations)

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
            "distil_levels": list(p.distil_levels),
            "distil_twirl": p.distil_twirl,
            **({"segment_p_gen": list(p.segment_p_gen)} if p.segment_p_gen else {}),
            **({"segment_werner": list(p.segment_werner)} if p.segment_werner else {}),
            **({"node_p_swap": list(p.node_p_swap)} if p.node_p_swap else {}),
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
    return ChainResult(parameters, solver.solve(0, parameters.segments))


class _Solver:
    """Solves each distinct sub-chain, and each number of distillation rounds on it, once.

    Segments ``lo`` to ``hi - 1`` make a link by swapping, at node ``mid``, the link of the first
    ``ceil((hi - lo) / 2)`` with that of the rest. Sub-chains are cached by what they are made of
    (:meth:`ChainParameters.sub_chain`): with equal segments only the length counts, so ``n`` segments
    cost ``O(log n)`` solves; with unequal ones, up to ``2 n - 1``.
    """

    def __init__(self, parameters: ChainParameters) -> None:
        self.parameters = parameters
        self._cache: dict[tuple[object, int], WaitingTime] = {}

    def solve(self, lo: int, hi: int) -> WaitingTime:
        """The link of segments ``lo`` to ``hi - 1`` as it is used: after its level's distillation rounds."""
        return self._link(lo, hi, self.parameters.distil_levels.count(_level(hi - lo)))

    def _link(self, lo: int, hi: int, rounds: int) -> WaitingTime:
        key = (self.parameters.sub_chain(lo, hi), rounds)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._make(lo, hi, rounds)
        return found

    def _make(self, lo: int, hi: int, rounds: int) -> WaitingTime:
        p = self.parameters
        if rounds > 0:
            # Nested rounds: each copy is itself the outcome of one round fewer, made independently.
            copy = self._link(lo, hi, rounds - 1)
            return _distil(copy, copy, p)
        if hi - lo == 1:
            return _elementary(p.p_gen_of(lo), p.werner_of(lo))
        mid = lo + (hi - lo + 1) // 2
        return _swap(self.solve(lo, mid), self.solve(mid, hi), p, p.p_swap_at(mid))


def dejmps(
    first: NDArray[np.float64], second: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One DEJMPS round on two Bell-diagonal pairs: success probability, and the correlations after success.

    ``first`` and ``second`` hold the correlations ``(<ZZ>, <XX>, -<YY>)`` on their last axis (``(w, w, w)``
    for a Werner pair). Deutsch et al. (PRL 77, 2818 (1996)) give the map on the Bell coefficients
    ``A, B, C, D`` of ``Phi+, Psi-, Psi+, Phi-``: ``N = (A1 + B1)(A2 + B2) + (C1 + D1)(C2 + D2)``,
    ``N A' = A1 A2 + B1 B2``, ``N B' = C1 D2 + D1 C2``, ``N C' = C1 C2 + D1 D2``, ``N D' = A1 B2 + B1 A2``;
    in correlations it reads ``N = (1 + z1 z2) / 2`` and
    ``N (x, y, z)' = ((z1 + z2) / 2, (x1 x2 + y1 y2) / 2, (x1 y2 + y1 x2) / 2)``. For two Werner pairs this is
    ``N = (1 + w1 w2) / 2`` and ``F' = (1 + w1 + w2 + 5 w1 w2) / (8 N)``, the BBPSSW figures.
    """
    x1, y1, z1 = np.moveaxis(np.asarray(first, dtype=np.float64), -1, 0)
    x2, y2, z2 = np.moveaxis(np.asarray(second, dtype=np.float64), -1, 0)
    success = (1.0 + z1 * z2) / 2.0
    after = np.stack([(z1 + z2) / 2.0, (x1 * x2 + y1 * y2) / 2.0, (x1 * y2 + y1 * x2) / 2.0], axis=-1)
    return np.asarray(success, dtype=np.float64), np.asarray(after / success[..., None], dtype=np.float64)


def _level(segments: int) -> int:
    """``ceil(log2 segments)``: how many swaps separate a link of ``segments`` from elementary ones."""
    return (segments - 1).bit_length()


def _bell_coefficients(correlations: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(A, B, C, D)`` of ``Phi+, Psi-, Psi+, Phi-`` from the correlations ``(x, y, z)``."""
    x, y, z = correlations
    return np.array([1 + x + y + z, 1 - x - y + z, 1 - x + y - z, 1 + x - y - z]) / 4.0


def _elementary(p_gen: float, werner: float) -> WaitingTime:
    """Geometric waiting time of one segment: attempt ``t`` succeeds first with ``p (1 - p)^(t - 1)``."""
    mean = 1.0 / p_gen
    variance = (1.0 - p_gen) / p_gen**2
    size = _grid_size(mean, variance)
    t = np.arange(size, dtype=np.float64)
    pmf = np.where(t >= 1, p_gen * np.power(1.0 - p_gen, np.maximum(t - 1.0, 0.0)), 0.0)
    left_off = float((1.0 - p_gen) ** (size - 1))
    return WaitingTime(pmf, werner * pmf, mean, variance, left_off)


class _Pair:
    """Sums over the arrival times of two independent links that meet within the cutoff.

    Row 0 of ``left`` and ``right`` is the probability ``P(T = t)``, rows 1 to 3 (or only row 1, for a
    Werner pair) the correlations weighted by it. ``moment(i, j)[t]`` is the sum over the two arrival
    times whose later one is ``t``, the earlier at most ``cutoff`` before, of ``left_i * right_j``, the
    earlier link's correlation row (not its probability) decayed by ``exp(-delay / coherence)``: the
    expectation of any product of the two pairs' correlations, weighted, is one such moment, because the
    two pairs are independent.
    """

    def __init__(self, left: WaitingTime, right: WaitingTime, parameters: ChainParameters) -> None:
        self.size = max(left.pmf.size, right.pmf.size)
        self.left = [_padded(row, self.size) for row in _rows(left)]
        self.right = [_padded(row, self.size) for row in _rows(right)]
        self.cutoff = (
            self.size if parameters.cutoff_attempts is None else min(parameters.cutoff_attempts, self.size)
        )
        self.coherence = parameters.coherence_attempts
        self._windows: dict[tuple[str, int], NDArray[np.float64]] = {}

    def moment(self, i: int, j: int) -> NDArray[np.float64]:
        # The left link arriving at t with the right one at most `cutoff` earlier (or together), then the
        # right one arriving at t with the left one strictly earlier.
        return self.left[i] * self._window("right", j) + self.right[j] * self._window("left", i)

    def _window(self, side: str, row: int) -> NDArray[np.float64]:
        key = (side, row)
        if key not in self._windows:
            x, include_now = (self.right[row], True) if side == "right" else (self.left[row], False)
            if row == 0:
                self._windows[key] = _window_sum(x, self.cutoff, include_now=include_now)
            else:
                self._windows[key] = _decayed_window_sum(
                    x, self.cutoff, self.coherence, include_now=include_now
                )
        return self._windows[key]


def _rows(link: WaitingTime) -> list[NDArray[np.float64]]:
    """Probability, then the correlation rows: one for a Werner pair, three for a Bell-diagonal one."""
    if link.correlations is None:
        return [link.pmf, link.werner]
    return [link.pmf, *link.correlations]


def _as_bell_diagonal(link: WaitingTime) -> WaitingTime:
    """A Werner pair written with its three equal correlations."""
    if link.correlations is not None:
        return link
    return WaitingTime(
        link.pmf, link.werner, link.mean, link.variance, link.left_off, np.tile(link.werner, (3, 1))
    )


def _swap(left: WaitingTime, right: WaitingTime, parameters: ChainParameters, p_swap: float) -> WaitingTime:
    """One level up: rounds of "make both halves, swap" (success ``p_swap``), repeated until one succeeds."""
    if (left.correlations is None) != (right.correlations is None):
        left, right = _as_bell_diagonal(left), _as_bell_diagonal(right)
    pair = _Pair(left, right, parameters)
    # Both halves present by t, the later one arriving at t, the earlier at most `cutoff` before.
    both = pair.moment(0, 0)
    # A swap multiplies the two halves' correlations, component by component.
    components = np.array([pair.moment(k, k) for k in range(1, len(pair.left))])
    success = p_swap * both
    success_components = p_swap * components
    failure = (1.0 - p_swap) * both
    failure = _with_cutoff_failures(failure, pair, parameters)
    return _repeat_until_success(success, success_components, failure)


def _distil(first: WaitingTime, second: WaitingTime, parameters: ChainParameters) -> WaitingTime:
    """Rounds of "make two copies, distil them with DEJMPS", repeated until a round succeeds.

    With correlations ``(x, y, z)`` DEJMPS succeeds with ``N = (1 + z1 z2) / 2`` and leaves
    ``N (x, y, z) = ((z1 + z2) / 2, (x1 x2 + y1 y2) / 2, (x1 y2 + y1 x2) / 2)`` (Deutsch et al. 1996,
    Eq. (2)-(3) for Bell coefficients ``A, B, C, D``, in correlations): every term is one of the pair
    moments, so the success and failure laws of a round, and the weighted correlations, are exact.
    """
    pair = _Pair(_as_bell_diagonal(first), _as_bell_diagonal(second), parameters)
    both, zz = pair.moment(0, 0), pair.moment(3, 3)
    success = 0.5 * (both + zz)
    components = 0.5 * np.array(
        [
            pair.moment(3, 0) + pair.moment(0, 3),
            pair.moment(1, 1) + pair.moment(2, 2),
            pair.moment(1, 2) + pair.moment(2, 1),
        ]
    )
    if parameters.distil_twirl:
        # Twirling keeps the fidelity, (1 + x + y + z) / 4, and makes the three correlations equal.
        components = components.mean(axis=0, keepdims=True)
    failure = _with_cutoff_failures(np.maximum(0.5 * (both - zz), 0.0), pair, parameters)
    return _repeat_until_success(success, components, failure)


def _with_cutoff_failures(
    failure: NDArray[np.float64], pair: _Pair, parameters: ChainParameters
) -> NDArray[np.float64]:
    if parameters.cutoff_attempts is None:
        return failure
    late = _cutoff_failures(pair.left[0], pair.right[0], parameters.cutoff_attempts)
    return _padded(failure, late.size) + late


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
    success: NDArray[np.float64], success_components: NDArray[np.float64], failure: NDArray[np.float64]
) -> WaitingTime:
    """The law of ``F_1 + ... + F_k + S``: failed rounds then a successful one, ``s / (1 - f)``.

    ``success_components`` holds one row of weighted correlations (a Werner pair) or three.
    """
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
    denominator = 1.0 - np.fft.rfft(failure[:length], length)
    pmf = np.maximum(np.fft.irfft(s_hat / denominator, length)[:size], 0.0)
    left_off = max(1.0 - float(pmf.sum()), 0.0)
    rows = [np.fft.irfft(np.fft.rfft(row, length) / denominator, length)[:size] for row in success_components]
    if len(rows) == 1:
        # A Werner parameter is >= 0 here (products and decays of parameters in [0, 1]).
        return WaitingTime(pmf, np.maximum(rows[0], 0.0), mean, variance, left_off)
    # Correlations of a Bell-diagonal pair may be negative; only round-off is clipped, to [-P, P].
    correlations = np.clip(np.array(rows), -pmf, pmf)
    return WaitingTime(pmf, correlations.mean(axis=0), mean, variance, left_off, correlations)


def _grid_size(mean: float, variance: float) -> int:
    return math.ceil(mean + _TAIL_SIGMAS * math.sqrt(max(variance, 0.0))) + 2


def _padded(x: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    if x.size >= size:
        return x
    return np.concatenate((x, np.zeros(size - x.size)))
