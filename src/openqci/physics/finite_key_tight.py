"""Tighter finite-key decoy BB84: Lim et al.'s bound with multiplicative Chernoff decoy estimates.

Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014) (:mod:`openqci.physics.finite_key`) bound the
expected count of each intensity ``k`` from the observed one with Hoeffding's inequality, a deviation
``sqrt(n_X / 2 ln(21 / epsilon_sec))`` that scales with the *whole* basis count ``n_X`` even for the rare
decoys. Conditioned on the photon numbers of the detected pulses, the count of intensity ``k`` is a sum of
independent (not identical) Bernoulli variables, so the multiplicative Chernoff bound applies instead, and
its deviation, about ``sqrt(2 n_k ln(1 / epsilon))``, scales with that intensity's own count. This is the
replacement made by Zhang, Zhao, Razavi, Ma, PRA 95, 012333 (2017) (who solve the Chernoff equations
numerically), taken here in the closed form of Yin, Zhou, Gu, Xie, Lu, Chen, Sci. Rep. 10, 14312 (2020),
arXiv 2002.06530 ("Tight security bounds for decoy-state QKD"), for an expected value given an observed one.

What is implemented, equation by equation:

* :func:`chernoff_interval`: with ``beta = ln(1 / epsilon)`` and an observed count ``x``, the expected
  count lies in ``[x + beta/2 - sqrt(2 beta x + beta^2/4), x + beta + sqrt(2 beta x + beta^2)]`` except with
  probability ``epsilon`` on each side. The paper's text was not at hand to check its equation numbers, so
  both ends are re-derived in the docstring from the two standard multiplicative Chernoff tails.
* :func:`tight_key_length`: Lim's Eqs. (2) (vacuum), (3) (single photons), (4) (single-photon errors in Z)
  fed with the Chernoff ``n^-_k``, ``n^+_k``, ``m^-_k``, ``m^+_k`` in place of their Hoeffding ones; Lim's
  Eq. (5) phase-error margin gamma (unchanged); Lim's Eq. (1) key length (unchanged). Each one-sided
  Chernoff bound replaces one one-sided Hoeffding bound of the same quantity with the same failure
  probability ``epsilon_sec / 21``, so Lim's composable accounting, and its ``6 log2(21 / epsilon_sec)``
  term, carry over as they are.
* :func:`one_decoy_key_length`: the one-decoy protocol of Rusca, Boaron, Grünenfelder, Martin, Zbinden, APL
  112, 171104 (2018): signal ``mu1`` and decoy ``mu2`` only, the vacuum contribution *upper*-bounded through
  the decoy's error count (vacuum events are wrong half the time), ``epsilon_sec`` split into 19 parts. Its
  bounds are written out in that function's docstring by content, re-derived here from the yield
  expansions; the equation numbers of the letter were not verified. Its Hoeffding terms are replaced by
  Chernoff bounds as above, including the coin-flip term of the vacuum upper bound (our adaptation).

:func:`tight_finite_key_rate` feeds either bound with the counts the device model expects and optimises
the free parameters over the same space as :func:`openqci.physics.finite_key.finite_key_rate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.detection import expected_detection
from openqci.physics.devices import QkdSystem
from openqci.physics.entropy import binary_entropy
from openqci.physics.finite_key import (
    _MIN_BASIS_PROB_X,
    DecoyCounts,
    FiniteKeyBound,
    FiniteKeyRate,
    _tau,
    key_length_from_estimates,
)
from openqci.physics.optimise import maximise

__all__ = [
    "DecoyCounts",
    "chernoff_interval",
    "one_decoy_key_length",
    "tight_finite_key_rate",
    "tight_key_length",
]

# Lim et al. 2014 split epsilon_sec into 21 equal parts (two-decoy), Rusca et al. 2018 into 19 (one decoy).
_PARTS_TWO_DECOY = 21.0
_PARTS_ONE_DECOY = 19.0


def chernoff_interval(
    observed: ArrayLike, failure: float | NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lower and upper bounds on the expected value of a sum of independent Bernoulli variables.

    Given the observed sum ``x`` and ``beta = ln(1 / failure)``, returns ``(phi_low, phi_high)`` with
    ``phi_low = x + beta/2 - sqrt(2 beta x + beta^2 / 4)`` and ``phi_high = x + beta + sqrt(2 beta x +
    beta^2)`` (Yin et al., Sci. Rep. 10, 14312 (2020)). Each one fails with probability at most ``failure``.

    Why these: if the true mean ``phi`` were below ``phi_low(x)``, the observation would exceed ``(1 + d)
    phi`` with ``(x - phi)^2 = beta (x + phi)``, which the upper Chernoff tail ``exp(-d^2 phi / (2 + d)) =
    exp(-(x - phi)^2 / (x + phi))`` makes as unlikely as ``exp(-beta)``; likewise a mean above ``phi_high``
    would need ``x <= (1 - d) phi`` with ``(phi - x)^2 = 2 beta phi``, bounded by the lower tail
    ``exp(-d^2 phi / 2)``. Unlike Hoeffding's, the width grows with ``sqrt(x)`` of this count alone.
    """
    x = np.maximum(np.asarray(observed, dtype=np.float64), 0.0)
    beta = np.log(1.0 / np.asarray(failure, dtype=np.float64))
    low = x + beta / 2.0 - np.sqrt(2.0 * beta * x + beta**2 / 4.0)
    high = x + beta + np.sqrt(2.0 * beta * x + beta**2)
    return np.maximum(low, 0.0), high


def _scaled_interval(
    counts: NDArray[np.float64],
    mu: NDArray[np.float64],
    p: NDArray[np.float64],
    failure: float | NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lim's ``n^-_k`` and ``n^+_k`` from Chernoff bounds: the expected count's interval times ``e^k / p_k``.

    The count of intensity ``k`` is Chernoff-bounded about its own mean (Lim's ``n*_k``), then rescaled as in
    Lim's Eqs. (2)-(4).
    """
    low, high = chernoff_interval(counts, failure)
    scale = np.exp(mu) / p
    return scale * low, scale * high


def _broadcast_settings(counts: DecoyCounts, size: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Intensities and probabilities shaped like the counts (first axis: intensity, strongest first)."""
    mu = np.asarray(counts.intensities, dtype=np.float64)
    p = np.asarray(counts.probabilities, dtype=np.float64)
    if mu.ndim == 1:
        if mu.size != size:
            raise ValueError(f"expected {size} intensities, got {mu.size}")
        mu = mu.reshape((size,) + (1,) * (np.ndim(counts.n_x) - 1))
        p = p.reshape(mu.shape)
    return mu, p


def tight_key_length(
    counts: DecoyCounts,
    *,
    leaked_ec_bits: ArrayLike,
    epsilon_sec: float | NDArray[np.float64],
    epsilon_cor: float,
) -> FiniteKeyBound:
    """Secret key length of two-decoy BB84 from observed counts, Lim's Eqs. (1)-(5) with Chernoff bounds.

    The same inputs and output as :func:`openqci.physics.finite_key.lim2014_key_length` (three
    intensities ``mu1 > mu2 + mu3``, ``mu2 > mu3 >= 0``, key from the X basis, phase error from the Z
    basis), so the link engine can apply either to sampled data. Only the decoy estimates differ: each
    ``n^-_k``, ``n^+_k`` (and ``m^-_k``, ``m^+_k``) comes from :func:`chernoff_interval` at failure
    probability ``epsilon_sec / 21``.

    Returns
    -------
    FiniteKeyBound
        ``key_length_bits`` is ``-inf`` where no single photons are provable, and may be negative.
    """
    mu, p = _broadcast_settings(counts, 3)
    failure = np.asarray(epsilon_sec, dtype=np.float64) / _PARTS_TWO_DECOY
    tau0, tau1 = _tau(mu, p, 0), _tau(mu, p, 1)
    s_x0, s_x1 = _two_decoy_vacuum_and_single(counts.n_x, mu, p, tau0, tau1, failure)
    _, s_z1 = _two_decoy_vacuum_and_single(counts.n_z, mu, p, tau0, tau1, failure)
    m_minus, m_plus = _scaled_interval(np.asarray(counts.m_z, dtype=np.float64), mu, p, failure)
    with np.errstate(divide="ignore", invalid="ignore"):
        # Lim's Eq. (4): single-photon errors in Z from the two weakest intensities.
        v_z1 = tau1 * (m_plus[1] - m_minus[2]) / (mu[1] - mu[2])
    return key_length_from_estimates(
        s_x0, s_x1, s_z1, v_z1, leaked_ec_bits, epsilon_sec, epsilon_cor, _PARTS_TWO_DECOY
    )


def _two_decoy_vacuum_and_single(
    counts: NDArray[np.float64],
    mu: NDArray[np.float64],
    p: NDArray[np.float64],
    tau0: NDArray[np.float64],
    tau1: NDArray[np.float64],
    failure: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Lim's Eq. (2) (vacuum) and Eq. (3) (single photons) lower bounds in one basis, Chernoff-fed."""
    minus, plus = _scaled_interval(np.asarray(counts, dtype=np.float64), mu, p, failure)
    mu1, mu2, mu3 = mu[0], mu[1], mu[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        s0 = tau0 * (mu2 * minus[2] - mu3 * plus[1]) / (mu2 - mu3)
        s0_for_s1 = np.maximum(s0, 0.0)
        numerator = minus[1] - plus[2] - (mu2**2 - mu3**2) / mu1**2 * (plus[0] - s0_for_s1 / tau0)
        s1 = tau1 * mu1 * numerator / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
    return np.asarray(s0, dtype=np.float64), np.asarray(s1, dtype=np.float64)


def one_decoy_key_length(
    counts: DecoyCounts,
    *,
    m_x: ArrayLike,
    leaked_ec_bits: ArrayLike,
    epsilon_sec: float | NDArray[np.float64],
    epsilon_cor: float,
) -> FiniteKeyBound:
    """Secret key length of one-decoy BB84 (Rusca et al. 2018) from observed counts, Chernoff-fed.

    ``counts`` holds two intensities ``mu1 > mu2 > 0`` (signal, decoy); ``m_x`` are the key-basis errors per
    intensity (known once error correction has been verified), needed because the vacuum contribution is
    bounded from above through errors. The bounds of Rusca et al., with X the key basis (each follows from
    ``e^k n*_k / p_k = sum_n k^n s_n / (n! tau_n)`` by dropping terms of known sign):

    * vacuum, lower (Lim's Eq. 2 with the pair ``mu1``, ``mu2``):
      ``s0^l = tau0 (mu1 n^-_2 - mu2 n^+_1) / (mu1 - mu2)``;
    * vacuum, upper: vacuum errors are fair coins, so ``v_0 <= tau0 e^mu2 m^+_2 / p_2`` and ``s0^u`` is
      twice the Chernoff upper bound on the mean of a count observed at that ``v_0`` (Rusca et al. add a
      Hoeffding term over the whole basis instead);
    * single photons: ``s1^l = tau1 mu1 / (mu2 (mu1 - mu2)) [n^-_2 - mu2^2 / mu1^2 n^+_1 - (mu1^2 - mu2^2)
      / mu1^2 s0^u / tau0]``;
    * single-photon errors in Z: ``v1^u = tau1 (m^+_1 - m^-_2) / (mu1 - mu2)``;
    * phase error and key length as in Lim's Eqs. (5) and (1), with ``epsilon_sec / 19`` per estimate.
    """
    mu, p = _broadcast_settings(counts, 2)
    failure = np.asarray(epsilon_sec, dtype=np.float64) / _PARTS_ONE_DECOY
    tau0, tau1 = _tau(mu, p, 0), _tau(mu, p, 1)
    s_x0, s_x1 = _one_decoy_vacuum_and_single(counts.n_x, np.asarray(m_x), mu, p, tau0, tau1, failure)
    _, s_z1 = _one_decoy_vacuum_and_single(counts.n_z, counts.m_z, mu, p, tau0, tau1, failure)
    m_minus, m_plus = _scaled_interval(np.asarray(counts.m_z, dtype=np.float64), mu, p, failure)
    with np.errstate(divide="ignore", invalid="ignore"):
        v_z1 = tau1 * (m_plus[0] - m_minus[1]) / (mu[0] - mu[1])
    return key_length_from_estimates(
        s_x0, s_x1, s_z1, v_z1, leaked_ec_bits, epsilon_sec, epsilon_cor, _PARTS_ONE_DECOY
    )


def _one_decoy_vacuum_and_single(
    counts: NDArray[np.float64],
    errors: NDArray[np.float64],
    mu: NDArray[np.float64],
    p: NDArray[np.float64],
    tau0: NDArray[np.float64],
    tau1: NDArray[np.float64],
    failure: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Rusca's vacuum lower bound and single-photon lower bound (through the vacuum upper bound)."""
    minus, plus = _scaled_interval(np.asarray(counts, dtype=np.float64), mu, p, failure)
    _, errors_plus = _scaled_interval(np.asarray(errors, dtype=np.float64), mu, p, failure)
    mu1, mu2 = mu[0], mu[1]
    vacuum_errors = tau0 * errors_plus[1]
    _, half_vacuum = chernoff_interval(vacuum_errors, failure)
    s0_upper = 2.0 * half_vacuum
    with np.errstate(divide="ignore", invalid="ignore"):
        s0 = tau0 * (mu1 * minus[1] - mu2 * plus[0]) / (mu1 - mu2)
        numerator = minus[1] - mu2**2 / mu1**2 * plus[0] - (mu1**2 - mu2**2) / mu1**2 * s0_upper / tau0
        s1 = tau1 * mu1 * numerator / (mu2 * (mu1 - mu2))
    return np.asarray(s0, dtype=np.float64), np.asarray(s1, dtype=np.float64)


@dataclass(frozen=True)
class _Model:
    """Expected observations of one parameter point, for every column at once."""

    counts: DecoyCounts
    m_x: NDArray[np.float64]
    leaked: NDArray[np.float64]
    pulses: NDArray[np.float64]
    gain: NDArray[np.float64]
    qber: NDArray[np.float64]


def _expected(
    system: QkdSystem,
    eta: NDArray[np.float64],
    px: NDArray[np.float64],
    intensities: NDArray[np.float64],
    probabilities: NDArray[np.float64],
    block_size: float,
) -> _Model:
    """Counts the device model expects in a block of ``block_size`` key-basis detections."""
    stats = expected_detection(system, eta, intensities)
    pulses = block_size / (px**2 * np.sum(probabilities * stats.gain, axis=0))
    n_x = pulses * probabilities * px**2 * stats.gain
    n_z = pulses * probabilities * (1.0 - px) ** 2 * stats.gain
    m_z = pulses * probabilities * (1.0 - px) ** 2 * stats.error
    m_x = pulses * probabilities * px**2 * stats.error
    qber = np.sum(probabilities * stats.error, axis=0) / np.sum(probabilities * stats.gain, axis=0)
    leaked = system.ec_efficiency * binary_entropy(qber) * block_size
    return _Model(
        counts=DecoyCounts(intensities, probabilities, n_x, n_z, m_z),
        m_x=m_x,
        leaked=np.asarray(leaked, dtype=np.float64),
        pulses=pulses,
        gain=stats.gain[0],
        qber=qber,
    )


def tight_finite_key_rate(
    system: QkdSystem,
    channel_transmittance: ArrayLike,
    *,
    block_size: float,
    epsilon_sec: float,
    epsilon_cor: float = 1e-15,
    mu: float | None = None,
    decoys: Literal[1, 2] = 2,
) -> FiniteKeyRate:
    """Optimised key per sent pulse for blocks of ``block_size`` key-basis (X) detections, Chernoff bounds.

    The counterpart of :func:`openqci.physics.finite_key.finite_key_rate` over the same parameter space, so
    the two compare like for like: ``q_x`` (0.01 to 0.999), the intensity probabilities, ``mu1`` (unless
    given) and ``mu2``. With ``decoys=2`` the weakest intensity is the system's own (vacuum for most
    presets) and the bound is :func:`tight_key_length`; with ``decoys=1`` only signal and one decoy are
    sent (Rusca et al. 2018) and the bound is :func:`one_decoy_key_length`. Error correction leaks ``f
    h(E_X) n_X`` with the system's ``f``.
    """
    eta = np.atleast_1d(np.asarray(channel_transmittance, dtype=np.float64))
    mu3 = system.source.intensities[-1]

    def evaluate(params: NDArray[np.float64], eta: NDArray[np.float64]) -> tuple[NDArray[np.float64], _Model]:
        px, p1, p2, mu1, mu2 = params
        if decoys == 2:
            p3 = 1.0 - p1 - p2
            intensities = np.stack([mu1, mu2, np.full_like(mu1, mu3)])
            probabilities = np.stack([p1, p2, p3])
            feasible = (mu1 > mu2 + mu3) & (mu2 > mu3) & (p3 > 0) & (p1 > 0) & (p2 > 0)
        else:
            # One decoy: p2 is implied (1 - p1), so the third parameter is unused and kept fixed.
            intensities = np.stack([mu1, mu2])
            probabilities = np.stack([p1, 1.0 - p1])
            feasible = (mu1 > mu2) & (mu2 > 0) & (p1 > 0) & (p1 < 1)
        model = _expected(system, eta, px, intensities, probabilities, block_size)
        if decoys == 2:
            bound = tight_key_length(
                model.counts, leaked_ec_bits=model.leaked, epsilon_sec=epsilon_sec, epsilon_cor=epsilon_cor
            )
        else:
            bound = one_decoy_key_length(
                model.counts,
                m_x=model.m_x,
                leaked_ec_bits=model.leaked,
                epsilon_sec=epsilon_sec,
                epsilon_cor=epsilon_cor,
            )
        rate = np.where(feasible, bound.key_length_bits / model.pulses, -np.inf)
        return np.nan_to_num(rate, nan=-np.inf), model

    mu_low = max(mu3 * 2.0 + 1e-3, 0.02) if decoys == 2 else 0.02
    mu2_low = mu3 + 1e-3 if decoys == 2 else 1e-3
    p2_high = 0.9 if decoys == 2 else 0.02
    lower = np.array([_MIN_BASIS_PROB_X, 0.02, 0.02, mu if mu is not None else mu_low, mu2_low])
    upper = np.array([0.999, 0.96, p2_high, mu if mu is not None else 1.2, 0.6])
    start = _start(lambda params, columns: evaluate(params, columns)[0], eta, mu, decoys)
    best, rate = maximise(lambda params: evaluate(params, eta)[0], start, lower, upper, iterations=80)
    # A second search from the first one's end, with fresh steps: far from the Hoeffding regime the best
    # point sits in a narrow ridge (q_x and p_mu1 both near one) where the first search's halved steps stall.
    best, rate = maximise(lambda params: evaluate(params, eta)[0], best, lower, upper, iterations=80)
    _, model = evaluate(best, eta)
    return FiniteKeyRate(
        rate_per_pulse=np.maximum(np.nan_to_num(rate, neginf=0.0), 0.0),
        mu=best[3],
        decoy_mu=best[4],
        basis_prob_x=best[0],
        signal_gain=model.gain,
        qber=model.qber,
        pulses_per_block=model.pulses,
    )


def _start(
    objective: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]],
    eta: NDArray[np.float64],
    mu: float | None,
    decoys: int,
) -> NDArray[np.float64]:
    """Pick, per column, the best of a coarse grid of starting points (all scored in one call).

    Wider than Lim's grid at the efficient end: Chernoff bounds let large blocks put almost every pulse in
    the key basis and at the signal intensity, which Lim's grid (q_x <= 0.97, p_mu1 <= 0.8) never starts
    from. One decoy has no third intensity, so its ``p2`` is pinned at the lower bound and ignored.
    """
    mu_values = [mu] if mu is not None else [0.3, 0.5, 0.8]
    if decoys == 2:
        splits = ((0.4, 0.4), (0.6, 0.3), (0.8, 0.15), (0.9, 0.05), (0.95, 0.03))
    else:
        splits = ((0.4, 0.02), (0.6, 0.02), (0.8, 0.02), (0.9, 0.02), (0.95, 0.02))
    grid = np.array(
        [
            (px, p1, p2, m1, m2)
            for px in (0.05, 0.2, 0.4, 0.55, 0.75, 0.9, 0.97, 0.99, 0.997)
            for p1, p2 in splits
            for m1 in mu_values
            for m2 in (0.02, 0.05, 0.15, 0.3)
        ]
    ).T
    candidates, columns = grid.shape[1], eta.size
    values = objective(np.repeat(grid, columns, axis=1), np.tile(eta, candidates))
    choice = np.argmax(values.reshape(candidates, columns), axis=0)
    return np.asarray(grid[:, choice], dtype=np.float64)
