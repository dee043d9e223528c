"""Elementary entanglement links: heralded generation over fibre, and a satellite's dual downlink.

Fibre, heralded at a station in the middle (both schemes send a photon entangled with a memory towards the
midpoint, where a click, or two, heralds a pair; the herald travels back, so one attempt lasts ``L / c``):

* two-photon (Barrett and Kok, PRA 71, 060310 (2005)): both photons must arrive and the linear-optics Bell
  measurement succeeds half the time, ``p = eta_half^2 / 2``; the pair's Werner parameter is the photons'
  two-photon interference visibility, lowered by heralds from a dark count and one photon.
* single-photon (Cabrillo et al., PRA 59, 1025 (1999)): each node emits with a small probability ``alpha``
  and one click heralds, ``p = 2 alpha eta_half``; the pair holds ``|11>`` with probability ``alpha``, so
  its fidelity is ``1 - alpha``: rate and fidelity trade against each other.

Satellite (as Micius did, Yin et al., Science 356, 1140 (2017)): a source on board sends one photon of each
pair to each of two ground stations; coincidences and errors come from the thermal pair statistics of
:func:`openqci.physics.bbm92.bbm92_statistics` with the two downlinks' transmittances, counted per
coincidence window of a continuously pumped source. A pair's CHSH value is ``2 sqrt(2) (1 - 2 E)`` for
the QBER ``E`` in either basis (a Werner-like state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from openqci.physics.bbm92 import bbm92_statistics
from openqci.physics.devices import QkdSystem
from openqci.qin.errors import QinParameterError

__all__ = [
    "DualDownlink",
    "DualDownlinkResult",
    "ElementaryLink",
    "FibreEntanglementLink",
    "HeraldingScheme",
    "chsh_value",
]

# Light in fibre covers about 2e5 km per second.
FIBRE_LIGHT_SPEED_KM_PER_S = 2.0e5


class HeraldingScheme(StrEnum):
    """How a fibre link heralds a pair at its midpoint."""

    TWO_PHOTON = "two-photon"
    SINGLE_PHOTON = "single-photon"


@dataclass(frozen=True)
class ElementaryLink:
    """What one segment offers a repeater chain: success per attempt, pair quality, attempt time."""

    p_gen: float
    werner: float
    attempt_duration_s: float

    @property
    def fidelity(self) -> float:
        return (1.0 + 3.0 * self.werner) / 4.0

    @property
    def pair_rate_hz(self) -> float:
        return self.p_gen / self.attempt_duration_s


@dataclass(frozen=True)
class FibreEntanglementLink:
    """A fibre segment between two memory nodes, heralded in the middle.

    ``node_efficiency`` is the chance a memory's photon enters the fibre (emission, collection, frequency
    conversion); ``dark_count_probability`` is per detector and heralding window; ``bright_state``
    (``alpha``) applies to the single-photon scheme only.
    """

    length_km: float
    scheme: HeraldingScheme = HeraldingScheme.TWO_PHOTON
    attenuation_db_per_km: float = 0.2
    node_efficiency: float = 0.5
    detector_efficiency: float = 0.9
    dark_count_probability: float = 1e-7
    visibility: float = 0.95
    bright_state: float = 0.1

    def __post_init__(self) -> None:
        if not self.length_km > 0:
            raise QinParameterError(f"length must be > 0 km, got {self.length_km}")
        for name in ("node_efficiency", "detector_efficiency", "visibility"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise QinParameterError(f"{name.replace('_', ' ')} must be in (0, 1], got {value}")
        if not 0.0 <= self.dark_count_probability < 1.0:
            raise QinParameterError(
                f"dark count probability must be in [0, 1), got {self.dark_count_probability}"
            )
        if not 0.0 < self.bright_state < 0.5:
            raise QinParameterError(f"bright state alpha must be in (0, 0.5), got {self.bright_state}")
        if not self.attenuation_db_per_km >= 0:
            raise QinParameterError(f"attenuation must be >= 0 dB/km, got {self.attenuation_db_per_km}")

    @property
    def half_transmittance(self) -> float:
        """From one memory to a detector at the midpoint."""
        fibre = float(10.0 ** (-self.attenuation_db_per_km * self.length_km / 2.0 / 10.0))
        return self.node_efficiency * fibre * self.detector_efficiency

    def elementary(self) -> ElementaryLink:
        eta = self.half_transmittance
        dark = self.dark_count_probability
        duration = self.length_km / FIBRE_LIGHT_SPEED_KM_PER_S
        if self.scheme is HeraldingScheme.TWO_PHOTON:
            true = eta**2 / 2.0
            # One photon lost, its partner's click and a dark count in the other detector herald falsely.
            false = 2.0 * eta * (1.0 - eta) * dark + dark**2
            werner = self.visibility * true / (true + false)
            return ElementaryLink(p_gen=true + false, werner=werner, attempt_duration_s=duration)
        alpha = self.bright_state
        true = 2.0 * alpha * eta
        false = 2.0 * dark * (1.0 - alpha * eta) ** 2
        fidelity = (1.0 - alpha) * self.visibility * true / (true + false)
        werner = max((4.0 * fidelity - 1.0) / 3.0, 0.0)
        return ElementaryLink(p_gen=true + false, werner=werner, attempt_duration_s=duration)


@dataclass(frozen=True)
class DualDownlinkResult:
    """Per-second figures of a dual downlink at given losses."""

    coincidence_rate_hz: float
    qber: float

    @property
    def chsh(self) -> float:
        return chsh_value(self.qber)

    @property
    def werner(self) -> float:
        return max(1.0 - 2.0 * self.qber, 0.0)

    @property
    def fidelity(self) -> float:
        return (1.0 + 3.0 * self.werner) / 4.0


@dataclass(frozen=True)
class DualDownlink:
    """An on-board pair source feeding two ground stations.

    ``source_pair_rate_hz`` is the pair rate leaving the source; ``coincidence_window_s`` the ground's
    window for two clicks to count as a pair (it sets the mean pairs per window and the accidentals);
    ``station`` holds the ground receivers' detector (background per window, misalignment, efficiency).
    Losses are those of each downlink, transmitter to detector, in dB.
    """

    source_pair_rate_hz: float
    coincidence_window_s: float
    station: QkdSystem

    def __post_init__(self) -> None:
        if not self.source_pair_rate_hz > 0:
            raise QinParameterError(f"pair rate must be > 0, got {self.source_pair_rate_hz}")
        if not self.coincidence_window_s > 0:
            raise QinParameterError(f"coincidence window must be > 0 s, got {self.coincidence_window_s}")

    def at_losses(self, loss_a_db: float, loss_b_db: float) -> DualDownlinkResult:
        eta_a = 10.0 ** (-loss_a_db / 10.0)
        eta_b = 10.0 ** (-loss_b_db / 10.0)
        mean_pairs = self.source_pair_rate_hz * self.coincidence_window_s
        # The losses already run to the detector: the station's own efficiency is counted once, in them.
        gain, qber = bbm92_statistics(_unit_receiver(self.station), eta_a, eta_b, mean_pairs)
        rate = float(np.asarray(gain)) / self.coincidence_window_s
        return DualDownlinkResult(coincidence_rate_hz=rate, qber=float(np.asarray(qber)))


def chsh_value(qber: float) -> float:
    """CHSH value of a state whose correlations have visibility ``1 - 2 E`` in every basis."""
    return 2.0 * math.sqrt(2.0) * (1.0 - 2.0 * qber)


def _unit_receiver(system: QkdSystem) -> QkdSystem:
    """The same detector with its efficiency set to one (the downlink losses include it)."""
    detector = replace(system.detector, efficiency=1.0)
    return replace(system, detector=detector, receiver_transmittance=1.0)
