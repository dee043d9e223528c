"""Expected detection statistics of a decoy-state BB84 receiver: gains, error rates, photon-number yields.

This is the standard model of Lo-Ma-Chen 2005 and Ma-Qi-Zhao-Lo 2005, extended with afterpulsing as in
Lim et al. 2014 (Sec. IV) and with non-paralysable detector dead time:

* ``eta = eta_channel * eta_Bob`` is the probability that one photon is detected;
* ``D(mu) = 1 - (1 - Y0) exp(-eta mu)`` is the click probability of a pulse of mean photon number ``mu``;
* the gain is ``Q = D (1 + p_ap)`` and the error probability ``E Q = Y0 / 2 + e_det (1 - exp(-eta mu))
  + p_ap D / 2``;
* the n-photon yield is ``Y_n = [1 - (1 - Y0)(1 - eta)^n] (1 + p_ap)`` with error
  ``e_n Y_n = Y0 / 2 + e_det (1 - (1 - eta)^n) + p_ap D_n / 2``;
* dead time scales every rate by ``1 / (1 + f tau Q)`` (a detector blind for ``tau`` after each click at
  clock ``f``).

Everything broadcasts over arrays of transmittances (one per distance) and intensities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.devices import QkdSystem

__all__ = ["DetectionStatistics", "expected_detection", "photon_number_yield"]


@dataclass(frozen=True)
class DetectionStatistics:
    """Per-pulse probabilities for one intensity: ``gain`` (a click) and ``error`` (a click in error)."""

    gain: NDArray[np.float64]
    error: NDArray[np.float64]

    @property
    def qber(self) -> NDArray[np.float64]:
        """Quantum bit error rate, ``error / gain`` (zero where there are no clicks)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.gain > 0, self.error / self.gain, 0.0)


def expected_detection(
    system: QkdSystem, channel_transmittance: ArrayLike, mu: ArrayLike
) -> DetectionStatistics:
    """Gain and error probability of pulses of mean photon number ``mu`` through a channel.

    Parameters
    ----------
    system
        The QKD system (detector, receiver optics, misalignment).
    channel_transmittance
        Channel transmittance, any shape; broadcast against ``mu``.
    mu
        Mean photon number per pulse (0 for the vacuum decoy).

    References
    ----------
    Lo, Ma, Chen, PRL 94, 230504 (2005); Lim et al., PRA 89, 022307 (2014), Sec. IV.
    """
    eta = np.asarray(channel_transmittance, dtype=np.float64) * system.receiver_efficiency
    mu_array = np.asarray(mu, dtype=np.float64)
    signal = -np.expm1(-eta * mu_array)
    return _statistics(system, signal)


def photon_number_yield(
    system: QkdSystem, channel_transmittance: ArrayLike, photons: int
) -> DetectionStatistics:
    """Yield ``Y_n`` and error yield ``e_n Y_n`` of pulses holding exactly ``photons`` photons.

    The dead-time factor is the one of the actual mixture of pulses, so it is left out here: the n-photon
    yields of the infinite-decoy bound are properties of the channel and detectors, not of the traffic.
    """
    eta = np.asarray(channel_transmittance, dtype=np.float64) * system.receiver_efficiency
    signal = -np.expm1(photons * np.log1p(-np.minimum(eta, 1.0 - 1e-16)))
    return _statistics(system, signal, with_dead_time=False)


def _statistics(
    system: QkdSystem, signal_click: NDArray[np.float64], *, with_dead_time: bool = True
) -> DetectionStatistics:
    """Turn the probability that a signal photon is detected into gain and error probability."""
    y0 = system.detector.background_yield
    p_ap = system.detector.afterpulse_prob
    click = 1.0 - (1.0 - y0) * (1.0 - signal_click)
    gain = click * (1.0 + p_ap)
    error = 0.5 * y0 + system.misalignment * signal_click + 0.5 * p_ap * click
    if with_dead_time and system.detector.dead_time_s > 0:
        scale = 1.0 / (1.0 + system.source.repetition_rate_hz * system.detector.dead_time_s * gain)
        gain, error = gain * scale, error * scale
    return DetectionStatistics(gain=np.asarray(gain), error=np.asarray(error))
