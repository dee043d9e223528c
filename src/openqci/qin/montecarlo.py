"""The repeater-chain protocol of :mod:`openqci.qin.chain`, sampled run by run.

An independent check of the exact solver: the same protocol (halves of ``ceil(n/2)`` and ``floor(n/2)``
segments made independently, a cutoff on the wait, a swap that succeeds with ``p_swap``, both halves
discarded and remade after any failure) written as a direct simulation, vectorised over runs: every
pending run of a level draws fresh halves, the ones that succeed are settled, the others add the round's
duration and go round again.

Distillation is simulated the same way, pair by pair rather than through the solver's weighted sums: two
copies of the link are drawn, the earlier one decays while it waits, and DEJMPS succeeds with the
probability its two states give, drawn per run; the state is carried as its Pauli correlations
``(<ZZ>, <XX>, -<YY>)``, one column for a Werner pair and three for a Bell-diagonal one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openqci.qin.chain import ChainParameters, dejmps

__all__ = ["ChainSamples", "sample_chain"]


@dataclass(frozen=True)
class ChainSamples:
    """Waiting times (attempts) and Werner parameters of independent runs of the chain.

    ``werner`` is the Werner parameter of the twirled pair, ``(4 F - 1) / 3``, when distillation has left
    it Bell-diagonal; ``correlations`` then holds its three Pauli correlations per run.
    """

    waiting_time_attempts: NDArray[np.float64]
    werner: NDArray[np.float64]
    correlations: NDArray[np.float64] | None = None

    @property
    def mean_waiting_time_attempts(self) -> float:
        return float(self.waiting_time_attempts.mean())

    @property
    def standard_error_attempts(self) -> float:
        """Standard error of the mean waiting time."""
        return float(self.waiting_time_attempts.std(ddof=1) / math.sqrt(self.waiting_time_attempts.size))

    @property
    def mean_fidelity(self) -> float:
        return float((1.0 + 3.0 * self.werner.mean()) / 4.0)

    @property
    def fidelity_standard_error(self) -> float:
        return float(0.75 * self.werner.std(ddof=1) / math.sqrt(self.werner.size))


def sample_chain(parameters: ChainParameters, runs: int, seed: int | None = None) -> ChainSamples:
    """``runs`` independent end-to-end pairs of the chain, from a seeded generator."""
    rng = np.random.default_rng(seed)
    times, state = _sample(parameters, 0, parameters.segments, runs, rng)
    return ChainSamples(times, state.mean(axis=1), state if state.shape[1] == 3 else None)


def _sample(
    parameters: ChainParameters, lo: int, hi: int, runs: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The link of segments ``lo`` to ``hi - 1`` as it is used, after its level's distillation rounds."""
    level = (hi - lo - 1).bit_length()
    return _sample_link(parameters, lo, hi, parameters.distil_levels.count(level), runs, rng)


def _sample_link(
    parameters: ChainParameters, lo: int, hi: int, rounds: int, runs: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if rounds > 0:
        return _distil(parameters, lo, hi, rounds, runs, rng)
    if hi - lo == 1:
        times = rng.geometric(parameters.p_gen_of(lo), size=runs).astype(np.float64)
        return times, np.full((runs, 1), parameters.werner_of(lo))
    elapsed = np.zeros(runs)
    done_time = np.zeros(runs)
    done_state: NDArray[np.float64] | None = None
    pending = np.arange(runs)
    cutoff = math.inf if parameters.cutoff_attempts is None else float(parameters.cutoff_attempts)
    mid = lo + (hi - lo + 1) // 2
    p_swap = parameters.p_swap_at(mid)
    while pending.size:
        left_t, left_w = _sample(parameters, lo, mid, pending.size, rng)
        right_t, right_w = _sample(parameters, mid, hi, pending.size, rng)
        delay = np.abs(left_t - right_t)
        in_time = delay <= cutoff
        swapped = in_time & (rng.random(pending.size) < p_swap)
        later = np.maximum(left_t, right_t)
        decay = np.exp(-delay / parameters.coherence_attempts)
        settled = pending[swapped]
        # A swap multiplies the correlations component by component; a Werner pair broadcasts.
        state = left_w[swapped] * right_w[swapped] * decay[swapped][:, None]
        if done_state is None:
            done_state = np.zeros((runs, state.shape[1]))
        done_time[settled] = elapsed[settled] + later[swapped]
        done_state[settled] = state
        # A failed swap costs the round up to the later half; a cutoff, up to the earlier half's expiry.
        round_time = np.where(in_time, later, np.minimum(left_t, right_t) + cutoff)
        elapsed[pending[~swapped]] += round_time[~swapped]
        pending = pending[~swapped]
    return done_time, np.zeros((runs, 1)) if done_state is None else done_state


def _distil(
    parameters: ChainParameters, lo: int, hi: int, rounds: int, runs: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Rounds of DEJMPS on two fresh copies (each of ``rounds - 1`` rounds) until one succeeds."""
    elapsed = np.zeros(runs)
    done_time = np.zeros(runs)
    done_state = np.zeros((runs, 1 if parameters.distil_twirl else 3))
    pending = np.arange(runs)
    cutoff = math.inf if parameters.cutoff_attempts is None else float(parameters.cutoff_attempts)
    while pending.size:
        first_t, first = _sample_link(parameters, lo, hi, rounds - 1, pending.size, rng)
        second_t, second = _sample_link(parameters, lo, hi, rounds - 1, pending.size, rng)
        decay = np.exp(-np.abs(first_t - second_t) / parameters.coherence_attempts)[:, None]
        # The copy that arrived first waited in memory; a Werner copy has three equal correlations.
        first = np.broadcast_to(
            np.where((first_t < second_t)[:, None], first * decay, first), (first_t.size, 3)
        )
        second = np.broadcast_to(
            np.where((second_t < first_t)[:, None], second * decay, second), (first_t.size, 3)
        )
        success_probability, state = dejmps(first, second)
        in_time = np.abs(first_t - second_t) <= cutoff
        distilled = in_time & (rng.random(pending.size) < success_probability)
        if parameters.distil_twirl:
            state = state.mean(axis=1, keepdims=True)
        later = np.maximum(first_t, second_t)
        settled = pending[distilled]
        done_time[settled] = elapsed[settled] + later[distilled]
        done_state[settled] = state[distilled]
        round_time = np.where(in_time, later, np.minimum(first_t, second_t) + cutoff)
        elapsed[pending[~distilled]] += round_time[~distilled]
        pending = pending[~distilled]
    return done_time, done_state
