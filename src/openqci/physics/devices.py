"""Device models: the weak-coherent-pulse source, single-photon detectors and the whole QKD system.

A QKD system is described once, as a frozen record, and every model (key-rate theory, the detection-event
sampler of the link engine, the free-space pass model) reads the same record. Presets built from published
experiments live in :mod:`openqci.physics.presets`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from openqci.physics.errors import InvalidParameterError
from openqci.physics.validation import require_positive, require_probability

__all__ = ["Detector", "QkdSystem", "WeakCoherentSource"]


@dataclass(frozen=True)
class WeakCoherentSource:
    """A phase-randomised laser attenuated to a few photons per pulse, with decoy intensities.

    ``intensities`` lists the mean photon numbers from the signal down, e.g. ``(0.5, 0.1, 0.0)`` for a signal
    with a weak and a vacuum decoy; ``probabilities`` gives how often each is sent.
    """

    repetition_rate_hz: float
    intensities: tuple[float, ...]
    probabilities: tuple[float, ...]
    wavelength_nm: float = 1550.0

    def __post_init__(self) -> None:
        require_positive("repetition_rate_hz", self.repetition_rate_hz)
        if len(self.intensities) != len(self.probabilities) or not self.intensities:
            raise InvalidParameterError("intensities and probabilities must be non-empty and of equal length")
        if self.intensities[0] <= 0:
            raise InvalidParameterError(f"the signal intensity mu must be > 0, got {self.intensities[0]!r}")
        if any(b > a for a, b in zip(self.intensities, self.intensities[1:], strict=False)):
            raise InvalidParameterError(
                f"intensities must be listed from the signal down: {self.intensities}"
            )
        if any(i < 0 for i in self.intensities):
            raise InvalidParameterError(f"intensities must be >= 0: {self.intensities}")
        for p in self.probabilities:
            require_probability("intensity probability", p)
        if abs(sum(self.probabilities) - 1.0) > 1e-9:
            raise InvalidParameterError(
                f"intensity probabilities must sum to 1, got {sum(self.probabilities)}"
            )

    @property
    def mu(self) -> float:
        """Mean photon number of the signal pulses."""
        return self.intensities[0]

    @property
    def decoy_intensities(self) -> tuple[float, ...]:
        """Mean photon numbers of the decoys, strongest first."""
        return self.intensities[1:]


@dataclass(frozen=True)
class Detector:
    """A gated single-photon detector (InGaAs avalanche photodiode, superconducting nanowire, Si APD).

    ``dark_count_prob`` is per gate and per detector; a BB84 receiver has two detectors per basis output, so
    the background yield is ``1 - (1 - dark_count_prob) ** 2``. ``afterpulse_prob`` is the probability that a
    click causes a spurious click later, modelled as in Lim et al. 2014, Sec. IV.
    """

    efficiency: float
    dark_count_prob: float
    afterpulse_prob: float = 0.0
    dead_time_s: float = 0.0

    def __post_init__(self) -> None:
        require_probability("detector efficiency", self.efficiency)
        require_probability("dark_count_prob", self.dark_count_prob)
        require_probability("afterpulse_prob", self.afterpulse_prob)
        if self.dead_time_s < 0:
            raise InvalidParameterError(f"dead_time_s must be >= 0, got {self.dead_time_s!r}")
        if self.efficiency <= 0:
            raise InvalidParameterError("detector efficiency must be > 0")

    @property
    def background_yield(self) -> float:
        """Probability that at least one of the two detectors fires with no signal photon (Y0)."""
        return 1.0 - (1.0 - self.dark_count_prob) ** 2


@dataclass(frozen=True)
class QkdSystem:
    """A complete prepare-and-measure QKD system as published: source, receiver, detectors, channel fibre.

    ``receiver_transmittance`` is Bob's optics (interferometer, polarisation analyser) before the detectors;
    ``misalignment`` is the probability that a detected photon lands in the wrong detector (e_det);
    ``ec_efficiency`` is the error-correction inefficiency f >= 1 the published analysis assumed;
    ``basis_prob_x`` is the probability of choosing the key basis (1/2 for standard BB84).
    """

    name: str
    source: WeakCoherentSource
    detector: Detector
    misalignment: float
    fibre_attenuation_db_per_km: float = 0.2
    receiver_transmittance: float = 1.0
    ec_efficiency: float = 1.16
    basis_prob_x: float = 0.5
    reference: str = ""

    def __post_init__(self) -> None:
        require_probability("misalignment", self.misalignment)
        require_probability("receiver_transmittance", self.receiver_transmittance)
        require_probability("basis_prob_x", self.basis_prob_x)
        if self.ec_efficiency < 1.0:
            raise InvalidParameterError(f"ec_efficiency must be >= 1, got {self.ec_efficiency!r}")

    @property
    def receiver_efficiency(self) -> float:
        """Bob's total efficiency: optics times detector efficiency (eta_Bob)."""
        return self.receiver_transmittance * self.detector.efficiency

    @property
    def sifting_factor(self) -> float:
        """Fraction of detections where both ends chose the same basis."""
        px = self.basis_prob_x
        return px * px + (1.0 - px) * (1.0 - px)

    def with_span_loss(self, loss_db: float, length_km: float) -> QkdSystem:
        """The same system on a span whose loss was measured: ``loss_db`` over ``length_km`` of fibre.

        The measured loss replaces length times the preset's attenuation; it is spread evenly over the
        length, so every model that reads the attenuation (key rates, the link engine) sees that loss.

        Examples
        --------
        >>> from openqci.physics.presets import get_preset
        >>> get_preset("gys2004").with_span_loss(12.0, 40.0).fibre_attenuation_db_per_km
        0.3
        """
        if not loss_db >= 0:
            raise InvalidParameterError(f"the span loss must be >= 0 dB, got {loss_db!r}")
        if not length_km > 0:
            raise InvalidParameterError(f"a measured span loss needs a length > 0 km, got {length_km!r}")
        return replace(self, fibre_attenuation_db_per_km=loss_db / length_km)

    def with_mu(self, mu: float) -> QkdSystem:
        """The same system with another signal intensity; decoys stay as published."""
        if not mu > 0:
            raise InvalidParameterError(f"mu must be > 0, got {mu!r}")
        intensities = (mu, *self.source.decoy_intensities)
        return replace(self, source=replace(self.source, intensities=intensities))
