"""Detection-event sampler: what Alice sent and Bob saw, for the pulses that caused a click.

The cost grows with the number of detections, not of pulses, so a 1 GHz source is cheap to simulate.
Every pulse independently falls into one *detection type* (intensity, photon-number group, or an
afterpulse) with a small probability ``q_t``, so the number of detections among ``N`` pulses is
``Binomial(N, sum q)`` and, given that number, the types are independent draws from ``q / sum q`` in time
order. Only then are Alice's basis and bit, Bob's basis and Bob's bit drawn, for the detected pulses
alone.

For each photon-number group (:mod:`openqci.link.photons`) with signal-click probability ``s``, a
detector dark-count probability ``p_d`` per detector, and a wrong-detector probability ``e``:

* an event (signal or dark count in either detector) has probability ``1 - (1 - s)(1 - p_d)^2``;
* a double click is mapped to a random bit, so given the bases agree Bob's bit is wrong with probability
  ``[s e (1 - p_d) + s p_d / 2 + (1 - s)(p_d - p_d^2 / 2)] / P(event)``;
* afterpulses add clicks with a random bit on ``p_ap D`` of the pulses, and dead time thins every click by
  ``1 / (1 + f tau Q)``, as in :mod:`openqci.physics.detection` (Lim et al., PRA 89, 022307 (2014), Sec. IV).

When the bases differ Bob's bit is random; sifting discards it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from openqci.link.errors import InvalidLinkParameterError
from openqci.link.photons import AttackContext, PulseGroups, QuantumAttack, honest_groups
from openqci.physics.devices import QkdSystem

__all__ = ["AFTERPULSE", "BASIS_X", "BASIS_Z", "DetectionEvents", "sample_detections"]

BASIS_X = 0
"""Basis code of the key basis (X) in the event arrays."""
BASIS_Z = 1
"""Basis code of the test basis (Z) in the event arrays."""
AFTERPULSE = -1
"""``photon_number`` recorded for a click caused by an afterpulse."""


@dataclass(frozen=True)
class DetectionEvents:
    """The detected pulses of a stretch of transmission, in time order.

    ``photon_number`` is the simulation's ground truth, for tests only; no post-processing step reads it.
    """

    pulses_sent: int
    intensity: NDArray[np.uint8]
    alice_basis: NDArray[np.uint8]
    alice_bits: NDArray[np.bool_]
    bob_basis: NDArray[np.uint8]
    bob_bits: NDArray[np.bool_]
    photon_number: NDArray[np.int8]

    @property
    def detections(self) -> int:
        """Number of clicks recorded."""
        return int(self.intensity.size)


@dataclass(frozen=True)
class _TypeTable:
    """Per-pulse probability of each detection type and what a detection of that type carries."""

    probability: NDArray[np.float64]
    intensity: NDArray[np.uint8]
    photon_number: NDArray[np.int8]
    error_x: NDArray[np.float64]
    error_z: NDArray[np.float64]


def sample_detections(
    system: QkdSystem,
    channel_transmittance: float,
    pulses: int,
    *,
    attack: QuantumAttack | None = None,
    rng: np.random.Generator,
) -> DetectionEvents:
    """Draw the detection events of ``pulses`` pulses sent through a channel.

    Parameters
    ----------
    system
        Source, detectors, receiver and misalignment.
    channel_transmittance
        Transmittance of the channel between Alice and Bob's receiver, in [0, 1].
    pulses
        Number of pulses Alice sends.
    attack
        An eavesdropper on the quantum channel, or ``None`` for an honest link.
    rng
        Source of every random choice (Alice's, Bob's and nature's).

    Returns
    -------
    DetectionEvents
        One entry per click, in time order.
    """
    if not 0.0 <= channel_transmittance <= 1.0 or pulses < 0:
        raise InvalidLinkParameterError("channel_transmittance must lie in [0, 1] and pulses be >= 0")
    table = _type_table(system, channel_transmittance, attack)
    total = float(np.sum(table.probability))
    count = int(rng.binomial(pulses, min(total, 1.0)))
    alias_prob, alias_index = _alias_table(table.probability / total)
    raw = rng.bit_generator.random_raw(2 * count).reshape(count, 2)
    intensity, photons, a_basis, a_bits, b_basis, b_bits = _draw_events(
        raw,
        _fixed_point(alias_prob),
        alias_index,
        table.intensity,
        table.photon_number,
        _fixed_point(table.error_x),
        _fixed_point(table.error_z),
        _fixed_point(np.array([system.basis_prob_x]))[0],
    )
    return DetectionEvents(pulses, intensity, a_basis, a_bits, b_basis, b_bits, photons)


def _type_table(system: QkdSystem, transmittance: float, attack: QuantumAttack | None) -> _TypeTable:
    """Detection types of every intensity: its photon-number groups, then its afterpulses."""
    source = system.source
    eta = transmittance * system.receiver_efficiency
    parts: list[_TypeTable] = []
    for k, (mu, p_k) in enumerate(zip(source.intensities, source.probabilities, strict=True)):
        groups = honest_groups(mu, eta, system.misalignment)
        if attack is not None:
            context = AttackContext(
                mu,
                source.mu,
                transmittance,
                system.receiver_efficiency,
                system.misalignment,
                system.basis_prob_x,
            )
            groups = attack.apply(groups, context)
        parts.append(_intensity_types(k, p_k, groups, system))
    return _TypeTable(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in _TypeTable.__dataclass_fields__)
    )


def _intensity_types(k: int, p_k: float, groups: PulseGroups, system: QkdSystem) -> _TypeTable:
    """Per-pulse probabilities and error rates of one intensity's detection types."""
    p_d, p_ap = system.detector.dark_count_prob, system.detector.afterpulse_prob
    s = groups.signal_click
    event = 1.0 - (1.0 - s) * (1.0 - p_d) ** 2
    dark_error = (1.0 - s) * (p_d - 0.5 * p_d * p_d) + 0.5 * s * p_d
    with np.errstate(divide="ignore", invalid="ignore"):
        error_x = np.where(event > 0, (s * groups.wrong_x * (1.0 - p_d) + dark_error) / event, 0.5)
        error_z = np.where(event > 0, (s * groups.wrong_z * (1.0 - p_d) + dark_error) / event, 0.5)
    click = float(np.sum(groups.weight * event))
    dead_time = 1.0 / (
        1.0 + system.source.repetition_rate_hz * system.detector.dead_time_s * click * (1 + p_ap)
    )
    probability = np.append(groups.weight * event, p_ap * click) * p_k * dead_time
    size = probability.size
    return _TypeTable(
        probability=probability,
        intensity=np.full(size, k, dtype=np.uint8),
        photon_number=np.append(groups.photon_number, np.int8(-1)).astype(np.int8),
        error_x=np.append(error_x, 0.5),
        error_z=np.append(error_z, 0.5),
    )


def _alias_table(weights: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Walker's alias table: one uniform draw picks a type with probability ``weights``.

    Walker, ACM Trans. Math. Softw. 3, 253 (1977); Vose, IEEE Trans. Softw. Eng. 17, 972 (1991).
    """
    size = weights.size
    scaled = weights * size
    prob, alias = np.ones(size), np.arange(size)
    small = [i for i in range(size) if scaled[i] < 1.0]
    large = [i for i in range(size) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return prob, alias.astype(np.int64)


def _fixed_point(probability: NDArray[np.float64]) -> NDArray[np.uint64]:
    """Probabilities as 32-bit fixed-point thresholds: ``u < p`` becomes ``u32 < round(p 2^32)``."""
    return np.rint(np.clip(probability, 0.0, 1.0) * 2.0**32).astype(np.uint64)


@njit(cache=True, nogil=True)
def _draw_events(raw, alias_prob, alias_index, type_intensity, type_photons, error_x, error_z, px):  # type: ignore[no-untyped-def]
    """For each detection: its type, both bases, Alice's bit, and whether Bob's bit is wrong.

    Each detection takes two raw 64-bit draws, cut into four 32-bit uniforms: the type (alias method),
    Alice's basis, Bob's basis, and Alice's bit (top bit) with the error decision (the other 31 bits).
    Every threshold is a 32-bit fixed-point probability, so each choice is off by at most 2^-31.
    """
    count = raw.shape[0]
    size = alias_prob.size
    low = np.uint64(0xFFFFFFFF)
    intensity = np.empty(count, np.uint8)
    photons = np.empty(count, np.int8)
    a_basis = np.empty(count, np.uint8)
    b_basis = np.empty(count, np.uint8)
    a_bits = np.empty(count, np.bool_)
    b_bits = np.empty(count, np.bool_)
    for i in range(count):
        # Branch-free on purpose: every choice below is a coin toss the CPU cannot predict.
        w0, w1 = raw[i, 0], raw[i, 1]
        scaled = (w0 & low) * np.uint64(size)
        column = np.int64(scaled >> np.uint64(32))
        t = alias_index[column] if (scaled & low) >= alias_prob[column] else column
        ab = np.uint8((w0 >> np.uint64(32)) >= px)
        bb = np.uint8((w1 & low) >= px)
        bit = (w1 >> np.uint64(63)) != 0
        u = ((w1 >> np.uint64(32)) & np.uint64(0x7FFFFFFF)) << np.uint64(1)
        threshold = error_z[t] if ab else error_x[t]
        wrong = (u < threshold) if ab == bb else (u < np.uint64(1 << 31))
        intensity[i] = type_intensity[t]
        photons[i] = type_photons[t]
        a_basis[i] = ab
        b_basis[i] = bb
        a_bits[i] = bit
        b_bits[i] = bit != wrong
    return intensity, photons, a_basis, a_bits, b_basis, b_bits
