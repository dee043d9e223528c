"""Finite-key security of decoy-state BB84: the concise bounds of Lim, Curty, Walenta, Xu, Zbinden (2014).

Lim et al., "Concise security bounds for practical decoy-state quantum key distribution", PRA 89, 022307
(2014), arXiv 1311.7129. Three intensities ``mu1 > mu2 + mu3``, ``mu2 > mu3 >= 0``, all used for key; the
X basis (chosen with probability ``q_x`` by both ends) makes key, the Z basis estimates the phase error.

:func:`lim2014_key_length` is the bound itself, a function of what the two ends *observe* (counts per
intensity and basis), so the link engine applies it to sampled data. :func:`finite_key_rate` feeds it with
the counts the device model expects for a block of ``n_X`` key-basis detections and optimises the free
parameters, which is how the paper's Fig. 1 is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.detection import expected_detection
from openqci.physics.devices import QkdSystem
from openqci.physics.entropy import binary_entropy
from openqci.physics.optimise import maximise

__all__ = ["DecoyCounts", "FiniteKeyBound", "FiniteKeyRate", "finite_key_rate", "lim2014_key_length"]

# Small blocks far out are short of Z-basis statistics more than of key: there the best key-basis probability
# falls well below one half (about 0.05 near the n_X = 1e4 reach), so the search goes down to 1 %.
_MIN_BASIS_PROB_X = 0.01
# Fixed-point steps of epsilon_sec = kappa * l; the fifth changes l by far less than a bit.
_KAPPA_ITERATIONS = 5


@dataclass(frozen=True)
class DecoyCounts:
    """Observed counts per intensity (first axis, strongest first), any trailing shape.

    ``n_x`` and ``n_z`` count the sifted detections in each basis, ``m_z`` the errors found in the Z basis.
    """

    intensities: NDArray[np.float64]
    probabilities: NDArray[np.float64]
    n_x: NDArray[np.float64]
    n_z: NDArray[np.float64]
    m_z: NDArray[np.float64]


@dataclass(frozen=True)
class FiniteKeyBound:
    """The terms of Lim et al.'s Eq. 1; ``key_length_bits`` is unfloored and may be negative."""

    vacuum_bits: NDArray[np.float64]
    single_photon_bits: NDArray[np.float64]
    phase_error: NDArray[np.float64]
    key_length_bits: NDArray[np.float64]


@dataclass(frozen=True)
class FiniteKeyRate:
    """Optimised finite-key rate per sent pulse, with the parameters that achieve it."""

    rate_per_pulse: NDArray[np.float64]
    mu: NDArray[np.float64]
    decoy_mu: NDArray[np.float64]
    basis_prob_x: NDArray[np.float64]
    signal_gain: NDArray[np.float64]
    qber: NDArray[np.float64]
    pulses_per_block: NDArray[np.float64]


def lim2014_key_length(
    counts: DecoyCounts,
    *,
    leaked_ec_bits: ArrayLike,
    epsilon_sec: float | NDArray[np.float64],
    epsilon_cor: float,
) -> FiniteKeyBound:
    """Secret key length from observed decoy statistics (Lim et al. 2014, Eqs. 1-5).

    Parameters
    ----------
    counts
        Observed sifted counts per intensity. ``intensities`` and ``probabilities`` have shape ``(3,)``, or
        the shape of the counts when every column has its own (as inside the optimiser).
    leaked_ec_bits
        Bits disclosed by error correction (lambda_EC), as actually counted or as modelled.
    epsilon_sec, epsilon_cor
        Secrecy and correctness parameters; the bound splits ``epsilon_sec`` into 21 equal parts.

    Returns
    -------
    FiniteKeyBound
        ``key_length_bits`` is ``-inf`` where the decoy bounds are inconsistent (no single photons
        provable), and may be negative: either way no key can be made.
    """
    mu = np.asarray(counts.intensities, dtype=np.float64)
    p = np.asarray(counts.probabilities, dtype=np.float64)
    if mu.ndim == 1:
        mu = mu.reshape((3,) + (1,) * (counts.n_x.ndim - 1))
        p = p.reshape(mu.shape)
    log_term = np.log(21.0 / epsilon_sec)
    tau0, tau1 = _tau(mu, p, 0), _tau(mu, p, 1)
    s_x0, s_x1 = _vacuum_and_single(counts.n_x, mu, p, tau0, tau1, log_term)
    _, s_z1 = _vacuum_and_single(counts.n_z, mu, p, tau0, tau1, log_term)
    m_minus, m_plus = _hoeffding(counts.m_z, mu, p, log_term)
    with np.errstate(divide="ignore", invalid="ignore"):
        v_z1 = tau1 * (m_plus[1] - m_minus[2]) / (mu[1] - mu[2])
    return key_length_from_estimates(s_x0, s_x1, s_z1, v_z1, leaked_ec_bits, epsilon_sec, epsilon_cor, 21.0)


def key_length_from_estimates(
    s_x0: NDArray[np.float64],
    s_x1: NDArray[np.float64],
    s_z1: NDArray[np.float64],
    v_z1: NDArray[np.float64],
    leaked_ec_bits: ArrayLike,
    epsilon_sec: float | NDArray[np.float64],
    epsilon_cor: float,
    parts: float,
) -> FiniteKeyBound:
    """Lim's Eq. (5) phase error and Eq. (1) key length from the decoy estimates, ``epsilon_sec`` split into
    ``parts`` (21 in Lim et al.; the Chernoff and one-decoy bounds of :mod:`openqci.physics.finite_key_tight`
    feed their own estimates and splits through here).

    Lim's gamma is written for 21 parts; for another split its ``epsilon`` argument is rescaled so that the
    logarithm inside it reads ``parts^2 / epsilon_sec^2``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(v_z1 / s_z1, 0.0, 0.5)
        phase = ratio + _gamma(epsilon_sec * 21.0 / parts, ratio, s_z1, s_x1)
    valid = (s_x1 > 0) & (s_z1 > 0) & np.isfinite(phase)
    phase = np.where(valid, np.clip(phase, 0.0, 0.5), 0.5)
    key = (
        np.maximum(s_x0, 0.0)
        + np.where(valid, s_x1, 0.0) * (1.0 - binary_entropy(phase))
        - np.asarray(leaked_ec_bits, dtype=np.float64)
        - 6.0 * np.log2(parts / epsilon_sec)
        - np.log2(2.0 / epsilon_cor)
    )
    return FiniteKeyBound(
        vacuum_bits=np.asarray(s_x0, dtype=np.float64),
        single_photon_bits=np.asarray(s_x1, dtype=np.float64),
        phase_error=np.asarray(phase, dtype=np.float64),
        key_length_bits=np.asarray(np.where(valid, key, -np.inf), dtype=np.float64),
    )


def finite_key_rate(
    system: QkdSystem,
    channel_transmittance: ArrayLike,
    *,
    block_size: float,
    epsilon_sec: float,
    epsilon_cor: float = 1e-15,
    mu: float | None = None,
    secrecy_per_bit: float | None = None,
) -> FiniteKeyRate:
    """Optimised key per sent pulse for blocks of ``block_size`` key-basis (X) detections.

    The free parameters are ``q_x``, the probabilities of ``mu1`` and ``mu2``, ``mu1`` (unless ``mu`` is
    given) and ``mu2``; ``mu3`` is the system's weakest intensity (2e-4 in Lim et al.). The
    error-correction leakage is modelled as ``f h(E_X) n_X`` with the system's ``f``.

    ``secrecy_per_bit`` (kappa) selects the paper's own convention for its figures, ``epsilon_sec = kappa
    * l`` with ``l`` the key length, in place of a fixed ``epsilon_sec``; comparing with Lim et al.'s
    Fig. 1 needs it.
    """
    eta = np.atleast_1d(np.asarray(channel_transmittance, dtype=np.float64))
    mu3 = system.source.intensities[-1]
    mu_low = max(mu3 * 2.0 + 1e-3, 0.02)

    def evaluate(
        params: NDArray[np.float64], eta: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], dict[str, NDArray[np.float64]]]:
        px, p1, p2, mu1, mu2 = params
        p3 = 1.0 - p1 - p2
        intensities = np.stack([mu1, mu2, np.full_like(mu1, mu3)])
        probabilities = np.stack([p1, p2, p3])
        stats = expected_detection(system, eta, intensities)
        gain_x = px**2 * np.sum(probabilities * stats.gain, axis=0)
        pulses = block_size / gain_x
        n_x = pulses * probabilities * px**2 * stats.gain
        n_z = pulses * probabilities * (1.0 - px) ** 2 * stats.gain
        m_z = pulses * probabilities * (1.0 - px) ** 2 * stats.error
        qber = np.sum(probabilities * stats.error, axis=0) / np.sum(probabilities * stats.gain, axis=0)
        leaked = system.ec_efficiency * binary_entropy(qber) * block_size
        counts = DecoyCounts(intensities, probabilities, n_x, n_z, m_z)
        bound = _key_length(counts, leaked, epsilon_sec, epsilon_cor, secrecy_per_bit, block_size)
        feasible = (mu1 > mu2 + mu3) & (mu2 > mu3) & (p3 > 0) & (p1 > 0) & (p2 > 0)
        rate = np.where(feasible, bound / pulses, -np.inf)
        return rate, {"gain": stats.gain[0], "qber": qber, "pulses": pulses}

    lower = np.array([_MIN_BASIS_PROB_X, 0.02, 0.02, mu if mu is not None else mu_low, mu3 + 1e-3])
    upper = np.array([0.999, 0.96, 0.9, mu if mu is not None else 1.2, 0.6])
    start = _best_start(lambda params, eta_columns: evaluate(params, eta_columns)[0], eta, mu)
    best, rate = maximise(lambda params: evaluate(params, eta)[0], start, lower, upper, iterations=80)
    _, extra = evaluate(best, eta)
    return FiniteKeyRate(
        rate_per_pulse=np.maximum(np.nan_to_num(rate, neginf=0.0), 0.0),
        mu=best[3],
        decoy_mu=best[4],
        basis_prob_x=best[0],
        signal_gain=extra["gain"],
        qber=extra["qber"],
        pulses_per_block=extra["pulses"],
    )


def _key_length(
    counts: DecoyCounts,
    leaked: NDArray[np.float64],
    epsilon_sec: float,
    epsilon_cor: float,
    secrecy_per_bit: float | None,
    block_size: float,
) -> NDArray[np.float64]:
    """The Lim bound under a fixed ``epsilon_sec``, or under ``epsilon_sec = kappa * l`` solved for ``l``.

    The length grows only with the logarithm of ``epsilon_sec``, so iterating ``l -> bound(kappa * l)``
    from the largest possible ``l`` (the block) falls onto the fixed point in a few steps, from above: the
    length returned was computed with ``epsilon_sec`` a hair above ``kappa * l``.
    """
    if secrecy_per_bit is None:
        return lim2014_key_length(
            counts, leaked_ec_bits=leaked, epsilon_sec=epsilon_sec, epsilon_cor=epsilon_cor
        ).key_length_bits
    length = np.full(np.shape(counts.n_x)[1:], block_size)
    for _ in range(_KAPPA_ITERATIONS):
        epsilon = np.minimum(secrecy_per_bit * np.maximum(length, 1.0), 0.5)
        length = lim2014_key_length(
            counts, leaked_ec_bits=leaked, epsilon_sec=epsilon, epsilon_cor=epsilon_cor
        ).key_length_bits
    return length


def _tau(mu: NDArray[np.float64], p: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """Probability that Alice sends ``n`` photons, summed over intensities."""
    factorial = 1.0 if n < 2 else float(np.prod(np.arange(1, n + 1)))
    return np.asarray(np.sum(p * np.exp(-mu) * mu**n / factorial, axis=0), dtype=np.float64)


def _hoeffding(
    counts: NDArray[np.float64],
    mu: NDArray[np.float64],
    p: NDArray[np.float64],
    log_term: float | NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lim's ``n^-`` and ``n^+``: counts rescaled by ``e^k / p_k`` and widened by Hoeffding's delta."""
    total = np.sum(counts, axis=0)
    delta = np.sqrt(total / 2.0 * log_term)
    scale = np.exp(mu) / p
    return scale * (counts - delta), scale * (counts + delta)


def _vacuum_and_single(
    counts: NDArray[np.float64],
    mu: NDArray[np.float64],
    p: NDArray[np.float64],
    tau0: NDArray[np.float64],
    tau1: NDArray[np.float64],
    log_term: float | NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower bounds on vacuum (Eq. 2) and single-photon (Eq. 3) events in one basis."""
    minus, plus = _hoeffding(counts, mu, p, log_term)
    mu1, mu2, mu3 = mu[0], mu[1], mu[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        s0 = tau0 * (mu2 * minus[2] - mu3 * plus[1]) / (mu2 - mu3)
        s0_for_s1 = np.maximum(s0, 0.0)
        numerator = minus[1] - plus[2] - (mu2**2 - mu3**2) / mu1**2 * (plus[0] - s0_for_s1 / tau0)
        s1 = tau1 * mu1 * numerator / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
    return np.asarray(s0, dtype=np.float64), np.asarray(s1, dtype=np.float64)


def _gamma(
    epsilon: float | NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    d: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Lim's gamma(a, b, c, d): the statistical margin between Z-basis and X-basis phase errors."""
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = (c + d) * (1.0 - b) * b / (c * d * np.log(2.0))
        log_part = np.log2((c + d) / (c * d * (1.0 - b) * b) * 21.0**2 / epsilon**2)
        return np.asarray(np.sqrt(np.maximum(spread * log_part, 0.0)), dtype=np.float64)


def _best_start(
    objective: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]],
    eta: NDArray[np.float64],
    mu: float | None,
) -> NDArray[np.float64]:
    """Pick, per column, the best of a coarse grid of starting points.

    Small blocks need a balanced basis choice and large ones a biased one; a single start leaves the
    search stranded where every neighbour is infeasible, so a grid is scored first in one call.
    """
    mu_values = [mu] if mu is not None else [0.3, 0.5, 0.8]
    grid = np.array(
        [
            (px, p1, p2, m1, m2)
            for px in (0.05, 0.2, 0.4, 0.55, 0.75, 0.9, 0.97)
            for p1, p2 in ((0.4, 0.4), (0.6, 0.3), (0.8, 0.15))
            for m1 in mu_values
            for m2 in (0.05, 0.15, 0.3)
        ]
    ).T
    candidates, columns = grid.shape[1], eta.size
    values = objective(np.repeat(grid, columns, axis=1), np.tile(eta, candidates))
    choice = np.argmax(values.reshape(candidates, columns), axis=0)
    return np.asarray(grid[:, choice], dtype=np.float64)
