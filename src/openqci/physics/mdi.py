"""Asymptotic secret-key rate of decoy-state measurement-device-independent (MDI) QKD.

Alice and Bob send phase-randomised weak coherent pulses in the polarisation BB84 states to an untrusted
relay (Charlie), who makes a Bell-state measurement with a beam splitter and four detectors and announces
when exactly one horizontal and one vertical detector clicked. No detector side channel can leak the key,
because the detectors only ever see a parity of the two parties' bits. The price is that both photons must
arrive: the rate scales with the end-to-end transmittance, like a point-to-point link, so it stays below
the repeaterless bound of :mod:`openqci.physics.plob`.

Analysis: Lo, Curty, Qi, PRL 108, 130503 (2012), Eq. (1): per pulse, with the key from the rectilinear
basis Z and the phase errors from the diagonal basis X,

    R = Q_11^Z [1 - h(e_11^X)] - f Q^Z h(E^Z),   Q_11^Z = mu_a mu_b e^(-mu_a - mu_b) Y_11.

Channel and detector model of Ma, Razavi, PRA 86, 062319 (2012), in the form of Xu, Curty, Qi, Lo, NJP 15,
113007 (2013), Appendix: with ``eta_a``, ``eta_b`` the transmittances from each end to the detectors
(detector efficiency included), ``p_d`` the dark-count probability of one detector and ``e_d`` the
polarisation misalignment,

    Y_11 = (1-p_d)^2 [eta_a eta_b / 2 + (2 eta_a + 2 eta_b - 3 eta_a eta_b) p_d + 4 (1-eta_a)(1-eta_b) p_d^2]
    e_11^X Y_11 = Y_11 / 2 - (1/2 - e_d) (1-p_d)^2 eta_a eta_b / 2
    Q_C = 2 (1-p_d)^2 e^(-m/2) [1 - (1-p_d) e^(-eta_a mu_a / 2)] [1 - (1-p_d) e^(-eta_b mu_b / 2)]
    Q_E = 2 p_d (1-p_d)^2 e^(-m/2) [I0(2 s) - (1-p_d) e^(-m/2)]
    Q^Z = Q_C + Q_E,   E^Z Q^Z = e_d Q_C + (1 - e_d) Q_E

where ``m = eta_a mu_a + eta_b mu_b`` and ``s = sqrt(eta_a mu_a eta_b mu_b) / 2``. Q_C counts pulses of
orthogonal polarisation (the correct ones), Q_E pulses of equal polarisation, which only give a Bell-state
announcement with the help of a dark count. Decoys are infinitely many, so ``Y_11`` and ``e_11^X`` are known
exactly (the limit of the vacuum + weak decoy bounds of Xu et al. 2013), and the basis choice is biased
towards Z, so no sifting factor remains: the asymptotic limit of Lo-Curty-Qi.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.bessel import scaled_i0
from openqci.physics.entropy import binary_entropy
from openqci.physics.middle_node import arm_efficiency, check_common_devices
from openqci.physics.optimise import maximise
from openqci.physics.validation import require_non_negative, require_probability

__all__ = [
    "YIN2016",
    "MdiParameters",
    "mdi_key_rate",
    "mdi_rate",
    "mdi_settings",
    "mdi_signal_statistics",
    "mdi_single_photon",
]

# Search range of the signal intensity (both ends send the same), as log10.
_LOG_MU = (-3.0, np.log10(2.0))


@dataclass(frozen=True)
class MdiParameters:
    """Devices of an MDI link with the relay halfway; ``dark_count_prob`` is per detector and pulse."""

    name: str
    detector_efficiency: float
    dark_count_prob: float
    misalignment: float
    ec_efficiency: float = 1.16
    fibre_attenuation_db_per_km: float = 0.2
    repetition_rate_hz: float = 1e9
    reference: str = ""

    def __post_init__(self) -> None:
        check_common_devices(
            detector_efficiency=self.detector_efficiency,
            dark_count_prob=self.dark_count_prob,
            fibre_attenuation_db_per_km=self.fibre_attenuation_db_per_km,
            repetition_rate_hz=self.repetition_rate_hz,
            ec_efficiency=self.ec_efficiency,
        )
        require_probability("misalignment", self.misalignment)

    def arm_efficiency(self, distance_km: ArrayLike) -> NDArray[np.float64]:
        """One arm (half of ``distance_km``) times the detector efficiency."""
        return arm_efficiency(self.detector_efficiency, self.fibre_attenuation_db_per_km, distance_km)


def mdi_single_photon(
    params: MdiParameters, eta_a: ArrayLike, eta_b: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Yield ``Y_11`` and phase-error rate ``e_11^X`` when each end sends exactly one photon."""
    ea = np.asarray(eta_a, dtype=np.float64)
    eb = np.asarray(eta_b, dtype=np.float64)
    pd = params.dark_count_prob
    both_arrive = (1.0 - pd) ** 2 * ea * eb / 2.0
    noise = (2.0 * ea + 2.0 * eb - 3.0 * ea * eb) * pd + 4.0 * (1.0 - ea) * (1.0 - eb) * pd**2
    y11 = both_arrive + (1.0 - pd) ** 2 * noise
    e11 = 0.5 - (0.5 - params.misalignment) * both_arrive / y11
    return np.asarray(y11, dtype=np.float64), np.asarray(np.clip(e11, 0.0, 0.5), dtype=np.float64)


def mdi_signal_statistics(
    params: MdiParameters, eta_a: ArrayLike, eta_b: ArrayLike, mu_a: ArrayLike, mu_b: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gain ``Q^Z`` and bit-error rate ``E^Z`` of the Z-basis signal pulses (broadcast)."""
    xa = np.asarray(eta_a, dtype=np.float64) * np.asarray(mu_a, dtype=np.float64)
    xb = np.asarray(eta_b, dtype=np.float64) * np.asarray(mu_b, dtype=np.float64)
    pd = params.dark_count_prob
    half = 0.5 * (xa + xb)
    correct = 2.0 * (1.0 - pd) ** 2 * np.exp(-half)
    correct = correct * (1.0 - (1.0 - pd) * np.exp(-0.5 * xa)) * (1.0 - (1.0 - pd) * np.exp(-0.5 * xb))
    # e^(-m/2) I0(2s) written as scaled_i0(2s) e^(2s - m/2), which stays finite where I0 alone would overflow
    s2 = np.sqrt(xa * xb)
    wrong = (
        2.0 * pd * (1.0 - pd) ** 2 * (scaled_i0(s2) * np.exp(s2 - half) - (1.0 - pd) * np.exp(-2.0 * half))
    )
    gain = correct + wrong
    e = params.misalignment
    with np.errstate(divide="ignore", invalid="ignore"):
        qber = np.where(gain > 0, (e * correct + (1.0 - e) * wrong) / gain, 0.5)
    return np.asarray(gain, dtype=np.float64), np.asarray(qber, dtype=np.float64)


def mdi_key_rate(params: MdiParameters, arm_efficiency: ArrayLike, mu: ArrayLike) -> NDArray[np.float64]:
    """Secret key per pulse pair, symmetric arms and intensities; unclipped (negative: no key)."""
    eta = np.asarray(arm_efficiency, dtype=np.float64)
    mu_array = np.asarray(mu, dtype=np.float64)
    y11, e11 = mdi_single_photon(params, eta, eta)
    gain, qber = mdi_signal_statistics(params, eta, eta, mu_array, mu_array)
    q11 = mu_array**2 * np.exp(-2.0 * mu_array) * y11
    rate = q11 * (1.0 - binary_entropy(e11)) - params.ec_efficiency * gain * binary_entropy(qber)
    return np.asarray(rate, dtype=np.float64)


def mdi_settings(
    params: MdiParameters, distance_km: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Best key per pulse (unclipped) and the signal intensity that gives it, per distance."""
    distance = require_non_negative("distance_km", distance_km)
    eta = params.arm_efficiency(distance).ravel()

    def objective(log_mu: NDArray[np.float64]) -> NDArray[np.float64]:
        return mdi_key_rate(params, eta, 10.0 ** log_mu[0])

    grid = np.linspace(*_LOG_MU, 33)
    values = mdi_key_rate(params, eta[None, :], 10.0 ** grid[:, None])
    start = grid[np.argmax(values, axis=0)][None, :]
    best, value = maximise(objective, start, [_LOG_MU[0]], [_LOG_MU[1]], iterations=80, tolerance=1e-7)
    return value.reshape(distance.shape), (10.0 ** best[0]).reshape(distance.shape)


def mdi_rate(params: MdiParameters, distance_km: ArrayLike) -> NDArray[np.float64]:
    """Secret key bits per pulse over ``distance_km`` (Alice to Bob, relay halfway), intensity optimised.

    Examples
    --------
    >>> float(mdi_rate(YIN2016, 404.0)) > 0
    True
    """
    rate, _ = mdi_settings(params, distance_km)
    return np.asarray(np.maximum(rate, 0.0), dtype=np.float64)


YIN2016 = MdiParameters(
    name="yin2016",
    detector_efficiency=0.65,
    dark_count_prob=1e-8,
    misalignment=0.015,
    ec_efficiency=1.16,
    fibre_attenuation_db_per_km=0.16,
    repetition_rate_hz=75e6,
    reference=(
        "Yin et al., 'Measurement-device-independent quantum key distribution over a 404 km optical "
        "fiber', PRL 117, 190501 (2016): ultra-low-loss fibre 0.16 dB/km; SNSPD efficiency 65 % and "
        "clock 75 MHz [M]; dark counts 1e-8 per pulse [A] (about 10 Hz in a 1 ns window); e_d 1.5 % and "
        "f 1.16 [A]"
    ),
)
"""The 404 km experiment of Yin et al. 2016, run through the infinite-decoy Lo-Curty-Qi rate."""
