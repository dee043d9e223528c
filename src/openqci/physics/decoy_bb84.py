"""Asymptotic secret-key rate of decoy-state BB84 with weak coherent pulses (GLLP with decoy states).

Per sent pulse, ``R = q { -Q_mu f h(E_mu) + Q_1 [1 - h(e_1)] }`` (Lo, Ma, Chen, PRL 94, 230504 (2005),
Eq. 11). With infinitely many decoys the single-photon gain ``Q_1`` and error ``e_1`` are known exactly;
with a vacuum and one weak decoy (or two weak decoys) they are bounded from the observable gains of the
decoys (Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), Eqs. 33-37, and their two-weak-decoy generalisation).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.detection import expected_detection, photon_number_yield
from openqci.physics.devices import QkdSystem
from openqci.physics.entropy import binary_entropy
from openqci.physics.errors import InvalidParameterError

__all__ = ["DecoyMethod", "decoy_bb84_rate", "single_photon_bounds"]


class DecoyMethod(StrEnum):
    """How the single-photon contribution is known."""

    INFINITE = "infinite"
    VACUUM_WEAK = "vacuum-weak"


def decoy_bb84_rate(
    system: QkdSystem,
    channel_transmittance: ArrayLike,
    mu: ArrayLike,
    decoys: DecoyMethod = DecoyMethod.INFINITE,
) -> NDArray[np.float64]:
    """Asymptotic secret key per sent pulse, sifting included; negative where no key can be made.

    ``mu`` broadcasts against ``channel_transmittance``. The rate is returned unclipped so optimisers see
    how far from zero a point is; callers report ``max(rate, 0)``.
    """
    mu_array = np.asarray(mu, dtype=np.float64)
    signal = expected_detection(system, channel_transmittance, mu_array)
    q1, e1 = single_photon_bounds(system, channel_transmittance, mu_array, decoys)
    f = system.ec_efficiency
    provable = np.isfinite(q1)
    single = np.where(provable, q1, 0.0) * (1.0 - binary_entropy(e1))
    rate = system.sifting_factor * (-signal.gain * f * binary_entropy(signal.qber) + single)
    return np.asarray(np.where(provable, rate, -np.inf), dtype=np.float64)


def single_photon_bounds(
    system: QkdSystem,
    channel_transmittance: ArrayLike,
    mu: ArrayLike,
    decoys: DecoyMethod,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Single-photon gain ``Q_1`` (lower bound) and error rate ``e_1`` (upper bound) for signal ``mu``."""
    mu_array = np.asarray(mu, dtype=np.float64)
    if decoys is DecoyMethod.INFINITE:
        one = photon_number_yield(system, channel_transmittance, 1)
        return one.gain * mu_array * np.exp(-mu_array), one.qber
    return _two_decoy_bounds(system, channel_transmittance, mu_array)


def _two_decoy_bounds(
    system: QkdSystem, channel_transmittance: ArrayLike, mu: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Bounds from two decoys nu1 > nu2 >= 0 (vacuum + weak when nu2 = 0), MQZL 2005 Sec. 3.4."""
    if len(system.source.decoy_intensities) < 2:
        raise InvalidParameterError(f"preset {system.name!r} has fewer than two decoy intensities")
    nu1, nu2 = system.source.decoy_intensities[:2]
    signal = expected_detection(system, channel_transmittance, mu)
    weak = expected_detection(system, channel_transmittance, nu1)
    weakest = expected_detection(system, channel_transmittance, nu2)
    qn1 = weak.gain * np.exp(nu1)
    qn2 = weakest.gain * np.exp(nu2)
    y0 = np.maximum((nu1 * qn2 - nu2 * qn1) / (nu1 - nu2), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        denominator = mu * (nu1 - nu2) - (nu1**2 - nu2**2)
        y1 = mu / denominator * (qn1 - qn2 - (nu1**2 - nu2**2) / mu**2 * (signal.gain * np.exp(mu) - y0))
        y1 = np.where(denominator > 0, y1, -np.inf)
        e1 = (weak.error * np.exp(nu1) - weakest.error * np.exp(nu2)) / ((nu1 - nu2) * y1)
    q1 = np.where(y1 > 0, y1 * mu * np.exp(-mu), -np.inf)
    e1 = np.where(y1 > 0, np.clip(e1, 0.0, 0.5), 0.5)
    return np.asarray(q1, dtype=np.float64), np.asarray(e1, dtype=np.float64)
