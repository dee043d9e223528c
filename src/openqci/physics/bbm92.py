"""Asymptotic secret-key rate of entanglement-based BBM92 with a parametric down-conversion source.

The source sits between the two ends and emits pairs with a thermal number distribution; multi-pair
emissions and dark counts cause errors. Model of Ma, Fung, Lo, "Quantum key distribution with entangled
photon sources", PRA 76, 012307 (2007), Eqs. 9-10 (lambda is half the mean pair number):

    Q = 1 - (1 - Y0A)/(1 + eA l)^2 - (1 - Y0B)/(1 + eB l)^2 + (1 - Y0A)(1 - Y0B)/(1 + eA l + eB l - eA eB l)^2
    E Q = e0 Q - 2 (e0 - ed) eA eB l (1 + l) / ((1 + eA l)(1 + eB l)(1 + eA l + eB l - eA eB l))

and the rate per pulse is ``R = q Q [1 - f h(E) - h(E)]`` with ``q = 1/2``: bit and phase errors are
symmetric, so the phase error equals the measured QBER.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.devices import QkdSystem
from openqci.physics.entropy import binary_entropy

__all__ = ["bbm92_rate", "bbm92_statistics"]


def bbm92_statistics(
    system: QkdSystem, transmittance_a: ArrayLike, transmittance_b: ArrayLike, mean_pairs: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Coincidence gain ``Q`` and QBER ``E`` for channel transmittances to each end and ``mean_pairs``."""
    lam = np.asarray(mean_pairs, dtype=np.float64) / 2.0
    eta_a = np.asarray(transmittance_a, dtype=np.float64) * system.receiver_efficiency
    eta_b = np.asarray(transmittance_b, dtype=np.float64) * system.receiver_efficiency
    y0 = system.detector.background_yield
    both = 1.0 + eta_a * lam + eta_b * lam - eta_a * eta_b * lam
    gain = 1.0 - (1.0 - y0) / (1.0 + eta_a * lam) ** 2 - (1.0 - y0) / (1.0 + eta_b * lam) ** 2
    gain = gain + (1.0 - y0) ** 2 / both**2
    e0, ed = 0.5, system.misalignment
    correlated = 2.0 * (e0 - ed) * eta_a * eta_b * lam * (1.0 + lam)
    correlated = correlated / ((1.0 + eta_a * lam) * (1.0 + eta_b * lam) * both)
    with np.errstate(divide="ignore", invalid="ignore"):
        qber = np.where(gain > 0, (e0 * gain - correlated) / gain, 0.5)
    return np.asarray(gain, dtype=np.float64), np.asarray(np.clip(qber, 0.0, 0.5), dtype=np.float64)


def bbm92_rate(
    system: QkdSystem, transmittance_a: ArrayLike, transmittance_b: ArrayLike, mean_pairs: ArrayLike
) -> NDArray[np.float64]:
    """Secret key per source pulse (sifting included), unclipped: negative where no key can be made."""
    gain, qber = bbm92_statistics(system, transmittance_a, transmittance_b, mean_pairs)
    h = binary_entropy(qber)
    return np.asarray(0.5 * gain * (1.0 - system.ec_efficiency * h - h), dtype=np.float64)
