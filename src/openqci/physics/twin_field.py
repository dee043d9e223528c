"""Asymptotic secret-key rate of sending-or-not-sending (SNS) twin-field QKD, with odd-parity pairing.

Alice and Bob each send a phase-randomised weak coherent pulse to an untrusted middle node (Charlie), who
interferes them on a beam splitter and announces which of his two detectors clicked. Each single photon only
has to cross half of the link, so the key scales as the square root of the end-to-end transmittance
instead of linearly: this is what lets twin-field QKD beat the repeaterless bound of
:mod:`openqci.physics.plob` (Lucamarini, Yuan, Dynes, Shields, Nature 557, 400 (2018)).

Analysis: Wang, Yu, Hu, "Twin-field quantum key distribution with large misalignment error", PRA 98,
062323 (2018), the sending-or-not-sending protocol. In a Z (key) window each party sends a pulse of
intensity ``mu`` with probability ``epsilon`` (bit "sent") or nothing. A window counts when exactly one of
Charlie's detectors clicks. With ``x = eta_s mu`` (``eta_s``: one arm's transmittance times the detector
efficiency) and ``p_d`` the dark-count probability of one detector, the one-click probabilities are

    one sender:    P_1 = 2 (1 - p_d) e^(-x/2) - 2 (1 - p_d)^2 e^(-x)
    both sending:  P_2 = 2 (1 - p_d) e^(-x) I0(x) - 2 (1 - p_d)^2 e^(-2x)   (random relative phase)
    neither:       P_0 = 2 p_d (1 - p_d)

"One sender" windows give correct bits, "both" and "neither" give errors. The untagged bits come from
windows where exactly one party sent exactly one photon, ``n_1 = 2 epsilon (1 - epsilon) mu e^(-mu) s_1``
with ``s_1 = (1 - p_d) [eta_s + 2 p_d (1 - eta_s)]``; their phase-flip rate is that of the single-photon
state in the X (decoy) windows, ``e_1 s_1 = (1 - p_d) [e_d eta_s + p_d (1 - eta_s)]``, with ``e_d`` the
phase misalignment. The key per pulse is ``R = n_1 [1 - h(e_1)] - f n_t h(E_Z)``. Decoys are infinitely
many (``s_1`` and ``e_1`` are known exactly) and the X windows are a vanishing fraction, the asymptotic
limit of Wang-Yu-Hu's formula.

Active odd-parity pairing (AOPP), as in Xu, Yu, Jiang, Hu, Wang, "Sending-or-not-sending twin-field
quantum key distribution: Breaking the direct transmission key rate", PRA 101, 042330 (2020), and used by
Liu et al., PRL 130, 210801 (2023): Bob pairs a "sent" bit with a "not sent" bit, Alice announces her
parity and pairs whose parity disagrees are dropped; one bit of each kept pair remains. Two wrong bits
survive together, so the bit-flip rate falls to about the product of the two groups' error rates, which is
what lifts the dark-count floor at 1000 km. The kept bit carries the phase flips of both, ``2 e_1 (1 -
e_1)``, and is untagged only when both bits were.
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
    "LIU2023",
    "LUCAMARINI2018",
    "SnsCounts",
    "TwinFieldParameters",
    "pair_odd_parity",
    "sns_counts",
    "sns_key_rate",
    "twin_field_rate",
    "twin_field_settings",
]

# Search ranges of the sending probability and intensity, as log10 (a dense grid seeds the local search).
_LOG_EPSILON = (-4.0, np.log10(0.5))
_LOG_MU = (-3.0, np.log10(2.0))


@dataclass(frozen=True)
class TwinFieldParameters:
    """Devices of a twin-field link; Alice and Bob sit at equal fibre distance from Charlie.

    ``dark_count_prob`` is per detector and per pulse window; ``phase_error`` is ``e_d``, the probability
    that a photon lands in the wrong detector in the X windows (phase drift between the two lasers and
    arms); ``odd_parity_pairing`` runs AOPP (on by default: with the presets here it gives more key at every
    distance, and it moves the dark-count cut-off out; off gives the plain Wang-Yu-Hu 2018 rate).
    """

    name: str
    detector_efficiency: float
    dark_count_prob: float
    phase_error: float
    ec_efficiency: float = 1.16
    fibre_attenuation_db_per_km: float = 0.2
    repetition_rate_hz: float = 1e9
    odd_parity_pairing: bool = True
    reference: str = ""

    def __post_init__(self) -> None:
        check_common_devices(
            detector_efficiency=self.detector_efficiency,
            dark_count_prob=self.dark_count_prob,
            fibre_attenuation_db_per_km=self.fibre_attenuation_db_per_km,
            repetition_rate_hz=self.repetition_rate_hz,
            ec_efficiency=self.ec_efficiency,
        )
        require_probability("phase_error", self.phase_error)

    def arm_efficiency(self, distance_km: ArrayLike) -> NDArray[np.float64]:
        """``eta_s``: one arm (half the distance) times the detector efficiency, so ``sqrt(eta) eta_d``."""
        return arm_efficiency(self.detector_efficiency, self.fibre_attenuation_db_per_km, distance_km)


@dataclass(frozen=True)
class SnsCounts:
    """Per-pulse probabilities of Z-window events, split by what Bob did (his bit).

    ``sent_*`` are windows where Bob sent (correct when Alice did not), ``idle_*`` where he did not
    (correct when Alice sent); ``*_errors`` are the wrong ones; ``*_untagged`` the single-photon windows.
    ``untagged_phase_error`` is ``e_1``.
    """

    sent_total: NDArray[np.float64]
    sent_errors: NDArray[np.float64]
    sent_untagged: NDArray[np.float64]
    idle_total: NDArray[np.float64]
    idle_errors: NDArray[np.float64]
    idle_untagged: NDArray[np.float64]
    untagged_phase_error: NDArray[np.float64]


def sns_counts(
    params: TwinFieldParameters, arm_efficiency: ArrayLike, epsilon: ArrayLike, mu: ArrayLike
) -> SnsCounts:
    """Expected Z-window counts for sending probability ``epsilon`` and intensity ``mu`` (broadcast)."""
    eta = np.asarray(arm_efficiency, dtype=np.float64)
    eps = np.asarray(epsilon, dtype=np.float64)
    mu_array = np.asarray(mu, dtype=np.float64)
    pd = params.dark_count_prob
    x = eta * mu_array
    one_sender = 2.0 * (1.0 - pd) * np.exp(-0.5 * x) - 2.0 * (1.0 - pd) ** 2 * np.exp(-x)
    both = 2.0 * (1.0 - pd) * scaled_i0(x) - 2.0 * (1.0 - pd) ** 2 * np.exp(-2.0 * x)
    neither = 2.0 * pd * (1.0 - pd)
    s1 = (1.0 - pd) * (eta + 2.0 * pd * (1.0 - eta))
    e1 = (1.0 - pd) * (params.phase_error * eta + pd * (1.0 - eta)) / s1
    correct = eps * (1.0 - eps) * one_sender
    untagged = eps * (1.0 - eps) * mu_array * np.exp(-mu_array) * s1
    sent_errors = eps**2 * both
    idle_errors = (1.0 - eps) ** 2 * neither
    return SnsCounts(
        sent_total=correct + sent_errors,
        sent_errors=sent_errors,
        sent_untagged=untagged,
        idle_total=correct + idle_errors,
        idle_errors=idle_errors,
        idle_untagged=untagged,
        untagged_phase_error=np.clip(e1, 0.0, 0.5),
    )


def sns_key_rate(
    params: TwinFieldParameters, arm_efficiency: ArrayLike, epsilon: ArrayLike, mu: ArrayLike
) -> NDArray[np.float64]:
    """Secret key per pulse at fixed settings, unclipped: negative where no key can be made."""
    counts = sns_counts(params, arm_efficiency, epsilon, mu)
    if params.odd_parity_pairing:
        untagged, phase, total, errors = pair_odd_parity(counts)
    else:
        untagged = counts.sent_untagged + counts.idle_untagged
        phase = counts.untagged_phase_error
        total = counts.sent_total + counts.idle_total
        errors = counts.sent_errors + counts.idle_errors
    with np.errstate(divide="ignore", invalid="ignore"):
        bit_error = np.where(total > 0, errors / total, 0.5)
    rate = untagged * (1.0 - binary_entropy(phase)) - params.ec_efficiency * total * binary_entropy(bit_error)
    return np.asarray(rate, dtype=np.float64)


def pair_odd_parity(
    counts: SnsCounts,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Untagged bits, their phase-flip rate, kept bits and kept errors after AOPP (Xu et al. 2020)."""
    pairs = np.minimum(counts.sent_total, counts.idle_total)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_sent = np.where(counts.sent_total > 0, counts.sent_errors / counts.sent_total, 0.0)
        e_idle = np.where(counts.idle_total > 0, counts.idle_errors / counts.idle_total, 0.0)
        u_sent = np.where(counts.sent_total > 0, counts.sent_untagged / counts.sent_total, 0.0)
        u_idle = np.where(counts.idle_total > 0, counts.idle_untagged / counts.idle_total, 0.0)
    kept = pairs * ((1.0 - e_sent) * (1.0 - e_idle) + e_sent * e_idle)
    kept_errors = pairs * e_sent * e_idle
    e1 = counts.untagged_phase_error
    return pairs * u_sent * u_idle, 2.0 * e1 * (1.0 - e1), kept, kept_errors


def twin_field_settings(
    params: TwinFieldParameters, distance_km: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Best key per pulse (unclipped) and the ``epsilon`` and ``mu`` that give it, per distance."""
    distance = require_non_negative("distance_km", distance_km)
    eta = params.arm_efficiency(distance).ravel()

    def objective(log_settings: NDArray[np.float64]) -> NDArray[np.float64]:
        return sns_key_rate(params, eta, 10.0 ** log_settings[0], 10.0 ** log_settings[1])

    start = _grid_start(params, eta)
    lower, upper = zip(_LOG_EPSILON, _LOG_MU, strict=True)
    best, value = maximise(objective, start, lower, upper, iterations=80, tolerance=1e-7)
    shape = distance.shape
    return value.reshape(shape), (10.0 ** best[0]).reshape(shape), (10.0 ** best[1]).reshape(shape)


def twin_field_rate(params: TwinFieldParameters, distance_km: ArrayLike) -> NDArray[np.float64]:
    """Secret key bits per pulse over ``distance_km`` of fibre (Alice to Bob), settings optimised; >= 0.

    Examples
    --------
    >>> float(twin_field_rate(LUCAMARINI2018, 300.0)) > float(twin_field_rate(LUCAMARINI2018, 400.0)) > 0
    True
    """
    rate, _, _ = twin_field_settings(params, distance_km)
    return np.asarray(np.maximum(rate, 0.0), dtype=np.float64)


def _grid_start(params: TwinFieldParameters, eta: NDArray[np.float64]) -> NDArray[np.float64]:
    """The best point of a coarse log grid for each distance, so the local search starts near the peak."""
    log_eps, log_mu = np.meshgrid(np.linspace(*_LOG_EPSILON, 17), np.linspace(*_LOG_MU, 17), indexing="ij")
    grid = np.stack([log_eps.ravel(), log_mu.ravel()])
    values = sns_key_rate(params, eta[None, :], 10.0 ** grid[0][:, None], 10.0 ** grid[1][:, None])
    return np.asarray(grid[:, np.argmax(values, axis=0)], dtype=np.float64)


LUCAMARINI2018 = TwinFieldParameters(
    name="lucamarini2018",
    detector_efficiency=0.25,
    dark_count_prob=1e-8,
    phase_error=0.03,
    ec_efficiency=1.15,
    fibre_attenuation_db_per_km=0.2,
    repetition_rate_hz=1e9,
    reference=(
        "Device figures of the simulations of Lucamarini, Yuan, Dynes, Shields, Nature 557, 400 (2018): "
        "eta_det 25 %, p_dc 1e-8, f 1.15, 3 % phase misalignment [M]; 0.2 dB/km standard fibre; "
        "clock 1 GHz [A]. Protocol: SNS with AOPP (Wang-Yu-Hu 2018, Xu et al. 2020), not Lucamarini's own "
        "TF-QKD analysis"
    ),
)
"""Simulation parameters after Lucamarini et al. 2018, run through the SNS-AOPP analysis."""

LIU2023 = TwinFieldParameters(
    name="liu2023",
    detector_efficiency=0.60,
    dark_count_prob=2e-11,
    phase_error=0.03,
    ec_efficiency=1.16,
    fibre_attenuation_db_per_km=0.157,
    repetition_rate_hz=1e9,
    reference=(
        "Liu et al., 'Experimental twin-field quantum key distribution over 1000 km fiber distance', "
        "PRL 130, 210801 (2023): 3-intensity SNS with AOPP [Q]; system noise about 0.02 Hz [Q], taken as "
        "per detector over a 1 ns window (2e-11 per pulse) [A]; ultra-low-loss fibre 0.157 dB/km; SNSPD "
        "efficiency 60 % [M]; e_d 3 % and f 1.16 [A]; clock 1 GHz [A]"
    ),
)
"""The 1002 km experiment of Liu et al. 2023: ultra-low-noise SNSPDs, ultra-low-loss fibre, AOPP."""
