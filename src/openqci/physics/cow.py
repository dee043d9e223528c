"""Secret-key rate of coherent one-way (COW) QKD against collective attacks on pulse pairs.

COW (Stucki, Brunner, Gisin, Scarani, Zbinden, "Fast and simple one-way quantum key distribution", APL 87,
194108 (2005)) codes a bit in which of two time slots carries a weak coherent pulse of ``mu`` photons, the
other being empty. Bob reads the bit from the arrival time on the *data line*; a small tap (the *monitoring
line*) sends light to an unbalanced interferometer whose visibility ``V`` across neighbouring pulses
reveals an eavesdropper that broke the coherence of the pulse train. Alice inserts *decoy* pairs (both slots
full) that carry no key but make the coherence test sharper.

Security model, stated plainly: the rate is the bound of Branciard, Gisin, Scarani, "Upper bounds for the
security of two distributed-phase reference protocols of quantum cryptography", NJP 10, 013031 (2008), for
collective attacks in which Eve attaches an ancilla to each pulse pair; it is the form used to rate COW
systems of ID Quantique's line (e.g. Sibson et al., Nat. Commun. 8, 13984 (2017))::

    R = R_det (1 - f_EC h(Q) - I_E),   I_E = Q + (1 - Q) h((1 + xi)/2)
    xi = (2V - 1) e^(-mu) - 2 sqrt(V (1 - V)) sqrt(1 - e^(-2 mu))

It is *not* a proof against general attacks, which COW lacks in this form; zero-error attacks (Gonzalez-Payo,
Trenyi, Wang, Curty, PRL 125, 260510 (2020)) cut the rate to order ``T^2`` at long distance, so the figures
here are optimistic beyond metropolitan reach. Finite-key corrections and authentication costs, which
Walenta et al. 2014 include, are left out: this is an asymptotic rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from openqci.physics.channels import db_to_transmittance, fibre_loss_db
from openqci.physics.entropy import binary_entropy
from openqci.physics.errors import InvalidParameterError
from openqci.physics.validation import require_positive, require_probability

__all__ = [
    "KORZH2014",
    "WALENTA2014",
    "CowStatistics",
    "CowSystem",
    "cow_eve_information",
    "cow_key_rate_bps",
    "cow_rate",
    "cow_statistics",
]


@dataclass(frozen=True)
class CowSystem:
    """A COW link: source, Bob's two lines, his data-line detector, error correction and fibre.

    ``pulse_rate_hz`` counts time slots; a bit takes two. ``decoy_fraction`` of the pairs are decoys.
    ``data_line_fraction`` is the share of Bob's light sent to the data detector (the rest monitors).
    ``optical_error`` is the data-line error of a detected pulse (finite extinction of the empty slot).
    ``dark_count_prob`` is per detector gate (one gate per time slot). ``dead_time_s`` is the detector's
    non-paralysable dead time, which caps the count rate at short distance.
    """

    name: str
    pulse_rate_hz: float
    mean_photon_number: float
    decoy_fraction: float
    data_line_fraction: float
    detector_efficiency: float
    dark_count_prob: float
    visibility: float
    optical_error: float
    ec_efficiency: float = 1.2
    dead_time_s: float = 0.0
    fibre_attenuation_db_per_km: float = 0.2
    extra_loss_db: float = 0.0
    reference: str = ""

    def __post_init__(self) -> None:
        require_positive("pulse_rate_hz", self.pulse_rate_hz)
        require_positive("mean_photon_number", self.mean_photon_number)
        for name in ("decoy_fraction", "data_line_fraction", "detector_efficiency", "dark_count_prob"):
            require_probability(name, getattr(self, name))
        require_probability("optical_error", self.optical_error)
        if not 0.5 <= self.visibility <= 1.0:
            raise InvalidParameterError(f"visibility must lie in [0.5, 1], got {self.visibility!r}")
        if self.ec_efficiency < 1.0:
            raise InvalidParameterError(f"ec_efficiency must be >= 1, got {self.ec_efficiency!r}")
        if not (np.isfinite(self.dead_time_s) and self.dead_time_s >= 0):
            raise InvalidParameterError(f"dead_time_s must be >= 0, got {self.dead_time_s!r}")
        fibre_loss_db(0.0, self.fibre_attenuation_db_per_km, self.extra_loss_db)

    @property
    def bit_rate_hz(self) -> float:
        """Pulse pairs sent per second, decoys included."""
        return self.pulse_rate_hz / 2.0


WALENTA2014 = CowSystem(
    name="walenta2014",
    pulse_rate_hz=625e6,
    mean_photon_number=0.2,
    decoy_fraction=0.1,
    data_line_fraction=0.9,
    detector_efficiency=0.10,
    dark_count_prob=1e-6,
    visibility=0.99,
    optical_error=0.01,
    ec_efficiency=1.2,
    dead_time_s=100e-9,
    fibre_attenuation_db_per_km=0.2,
    extra_loss_db=0.0,
    reference=(
        "Walenta et al., NJP 16, 013047 (2014), arXiv 1309.2583: 625 MHz clock, 'secret keys with rates up "
        "to 140 kbps and over 25 km of optical fibre' (a peak rate and a reach, not a rate at 25 km), "
        "epsilon_QKD 4e-9, fast gated InGaAs detectors [Q, abstract]; detector efficiency 10 %, "
        "dark count 1e-6 per gate, dead time 100 ns, visibility 0.99, data-line error 1 %, "
        "90/10 data/monitor split, decoy fraction 0.1, f_EC 1.2 [M]; mu 0.2 is the maximum of this "
        "model's key per pair at V = 0.99 [A]; 0.2 dB/km standard fibre, no extra loss [A]"
    ),
)
"""ID Quantique / Geneva 625 MHz COW system, after Walenta et al. 2014; see ``reference`` for each number."""

KORZH2014 = replace(
    WALENTA2014,
    name="korzh2014",
    dark_count_prob=1.0 / 625e6,
    dead_time_s=20e-6,
    reference=(
        "Korzh, Walenta, Lunghi, Gisin, Zbinden, APL 104, 081108 (2014): the same 625 MHz COW system with "
        "free-running NFAD detectors, 10 % efficiency at 1 dark count per second, 20 us dead time; 350 bit/s "
        "of secret key through 30 dB of channel loss [Q, abstract]; one dark count a second spread over "
        "625e6 slots [A]; the rest as walenta2014"
    ),
)
"""The Walenta 2014 system with free-running low-noise detectors: the long-distance regime of the same
product line, and a second published point (30 dB) for the model."""


@dataclass(frozen=True)
class CowStatistics:
    """Per pulse pair sent: probability of a counted key-pair detection, and its error rate."""

    detection: NDArray[np.float64]
    qber: NDArray[np.float64]


def cow_statistics(system: CowSystem, transmittance: ArrayLike) -> CowStatistics:
    """Counted data-line detections of key pairs and their QBER, for a channel ``transmittance``.

    A signal photon lands in the right slot except for ``optical_error``; a dark count lands in either slot.
    Dead time removes counts in proportion to the detector's total click rate (decoys click too).
    """
    t = _checked_transmittance(transmittance)
    at_detector = t * system.data_line_fraction * system.detector_efficiency
    signal = 1.0 - np.exp(-system.mean_photon_number * at_detector)
    dark = 1.0 - (1.0 - system.dark_count_prob) ** 2
    click = signal + dark - signal * dark
    wrong = system.optical_error * signal * (1.0 - dark) + 0.5 * dark
    decoy_click = 1.0 - np.exp(-2.0 * system.mean_photon_number * at_detector) * (1.0 - dark)
    click_rate = system.bit_rate_hz * (
        (1.0 - system.decoy_fraction) * click + system.decoy_fraction * decoy_click
    )
    counted = 1.0 / (1.0 + click_rate * system.dead_time_s)
    detection = (1.0 - system.decoy_fraction) * click * counted
    return CowStatistics(
        detection=np.asarray(detection, dtype=np.float64),
        qber=np.asarray(np.clip(wrong / click, 0.0, 0.5), dtype=np.float64),
    )


def cow_eve_information(
    mean_photon_number: ArrayLike, visibility: ArrayLike, qber: ArrayLike
) -> NDArray[np.float64]:
    """Eve's information per sifted bit under the Branciard-Gisin-Scarani (2008) collective attack.

    ``xi`` is the overlap of the two states Eve is left to tell apart once the interferometer's visibility
    ``V`` has bounded how much coherence she may break; ``V = 1`` leaves her only the overlap ``e^-mu`` of
    the two bit values themselves.
    """
    mu = np.asarray(mean_photon_number, dtype=np.float64)
    v = np.asarray(visibility, dtype=np.float64)
    q = np.asarray(qber, dtype=np.float64)
    coherence = np.sqrt(np.maximum(v * (1.0 - v), 0.0)) * np.sqrt(-np.expm1(-2.0 * mu))
    xi = np.clip((2.0 * v - 1.0) * np.exp(-mu) - 2.0 * coherence, -1.0, 1.0)
    return np.asarray(q + (1.0 - q) * binary_entropy((1.0 + xi) / 2.0), dtype=np.float64)


def cow_rate(system: CowSystem, distance_km: ArrayLike) -> NDArray[np.float64]:
    """Secret key per time slot (channel use), unclipped: negative where no key can be made.

    Per time slot, not per pair, so that it compares with the repeaterless bound per mode.
    """
    loss = fibre_loss_db(distance_km, system.fibre_attenuation_db_per_km, system.extra_loss_db)
    return _rate_per_slot(system, db_to_transmittance(loss))


def cow_key_rate_bps(system: CowSystem, distance_km: ArrayLike) -> NDArray[np.float64]:
    """Secret key in bit/s, clipped at zero: what a data sheet would quote."""
    return np.asarray(np.maximum(cow_rate(system, distance_km), 0.0) * system.pulse_rate_hz, dtype=np.float64)


def _rate_per_slot(system: CowSystem, transmittance: NDArray[np.float64]) -> NDArray[np.float64]:
    stats = cow_statistics(system, transmittance)
    eve = cow_eve_information(system.mean_photon_number, system.visibility, stats.qber)
    fraction = 1.0 - system.ec_efficiency * binary_entropy(stats.qber) - eve
    return np.asarray(0.5 * stats.detection * fraction, dtype=np.float64)


def _checked_transmittance(transmittance: ArrayLike) -> NDArray[np.float64]:
    t = np.asarray(transmittance, dtype=np.float64)
    if not np.all(np.isfinite(t)) or np.any((t < 0) | (t > 1)):
        raise InvalidParameterError("transmittance must lie in [0, 1]")
    return t
