"""The repeater-chain protocol of :mod:`openqci.qin.chain`, sampled run by run.

An independent check of the exact solver: the same protocol (halves of ``ceil(n/2)`` and ``floor(n/2)``
segments made independently, a cutoff on the wait, a swap that succeeds with ``p_swap``, both halves
discarded and remade after any failure) written as a direct simulation, vectorised over runs: every
pending run of a level draws fresh halves, the ones that succeed are settled, the others add the round's
duration and go round again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openqci.qin.chain import ChainParameters

__all__ = ["ChainSamples", "sample_chain"]


@dataclass(frozen=True)
class ChainSamples:
    """Waiting times (attempts) and Werner parameters of independent runs of the chain."""

    waiting_time_attempts: NDArray[np.float64]
    werner: NDArray[np.float64]

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
    times, werner = _sample(parameters, parameters.segments, runs, rng)
    return ChainSamples(times, werner)


def _sample(
    parameters: ChainParameters, segments: int, runs: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if segments == 1:
        times = rng.geometric(parameters.p_gen, size=runs).astype(np.float64)
        return times, np.full(runs, parameters.werner_elementary)
    elapsed = np.zeros(runs)
    done_time = np.zeros(runs)
    done_werner = np.zeros(runs)
    pending = np.arange(runs)
    cutoff = math.inf if parameters.cutoff_attempts is None else float(parameters.cutoff_attempts)
    while pending.size:
        left_t, left_w = _sample(parameters, (segments + 1) // 2, pending.size, rng)
        right_t, right_w = _sample(parameters, segments // 2, pending.size, rng)
        delay = np.abs(left_t - right_t)
        in_time = delay <= cutoff
        swapped = in_time & (rng.random(pending.size) < parameters.p_swap)
        later = np.maximum(left_t, right_t)
        decay = np.exp(-delay / parameters.coherence_attempts)
        settled = pending[swapped]
        done_time[settled] = elapsed[settled] + later[swapped]
        done_werner[settled] = left_w[swapped] * right_w[swapped] * decay[swapped]
        # A failed swap costs the round up to the later half; a cutoff, up to the earlier half's expiry.
        round_time = np.where(in_time, later, np.minimum(left_t, right_t) + cutoff)
        elapsed[pending[~swapped]] += round_time[~swapped]
        pending = pending[~swapped]
    return done_time, done_werner
