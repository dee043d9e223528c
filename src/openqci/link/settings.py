"""Source settings of a link: the intensities, their probabilities and the basis bias for a block size.

A preset lists one choice of ``mu1``, ``mu2``, their probabilities and ``q_x``; Lim et al. optimise them
for each block size and channel (PRA 89, 022307 (2014), Sec. IV and Fig. 1), because the best choice
moves with the block: small blocks need a balanced basis choice and frequent decoys so that the test
basis holds enough decoy detections for the bounds, large ones a biased basis. A preset's values can be
far from that optimum. yuan2018 (``q_x = 15/16``, decoy and vacuum sent 10 % of the time each) at 10 km
leaves about 0.5 % of its detections, and a tenth of those on each decoy, to the test basis, and its
expected key length is negative at every block size up to 2^26 sifted bits; with the settings optimised
for a 2^20-bit block it makes key at about 2.4 Mbit/s.

:func:`expected_counts` gives the counts the device model expects for a block of ``key_bits`` key-basis
detections, and :func:`optimal_settings` maximises Lim et al.'s bound on them over the five free
settings, as :func:`openqci.physics.finite_key.finite_key_rate` does (whose optimum it starts from), and
returns the system with those settings. The weakest intensity stays the preset's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from openqci.physics.detection import expected_detection
from openqci.physics.devices import QkdSystem
from openqci.physics.entropy import binary_entropy
from openqci.physics.finite_key import DecoyCounts, finite_key_rate, lim2014_key_length
from openqci.physics.optimise import maximise

__all__ = ["ExpectedBlock", "expected_counts", "optimal_settings"]

_PROBABILITY_STARTS = ((0.4, 0.4), (0.6, 0.3), (0.7, 0.2), (0.8, 0.1))


@dataclass(frozen=True)
class ExpectedBlock:
    """What the device model expects of a block: its counts, the pulses it takes, its QBER."""

    counts: DecoyCounts
    pulses: NDArray[np.float64]
    qber: NDArray[np.float64]


def expected_counts(system: QkdSystem, channel_transmittance: float, key_bits: float) -> ExpectedBlock:
    """Expected counts per intensity of a block holding ``key_bits`` sifted key-basis detections.

    The system's intensities, probabilities and basis bias may carry a trailing axis of candidates.
    """
    mu = np.asarray(system.source.intensities, dtype=np.float64)
    return _expected(
        system, channel_transmittance, key_bits, system.basis_prob_x, mu, system.source.probabilities
    )


def optimal_settings(
    system: QkdSystem,
    channel_transmittance: float,
    *,
    key_bits: float,
    epsilon_sec: float,
    epsilon_cor: float,
) -> QkdSystem:
    """The system with the settings that maximise the expected secret key per pulse for the block.

    Error correction is charged at the system's ``ec_efficiency``. When no setting makes key (too far,
    too small a block) the system is returned unchanged, so its blocks abort as the bound says.
    """
    start = finite_key_rate(
        system, channel_transmittance, block_size=key_bits, epsilon_sec=epsilon_sec, epsilon_cor=epsilon_cor
    )
    px, mu1, mu2 = float(start.basis_prob_x[0]), float(start.mu[0]), float(start.decoy_mu[0])
    starts = np.array([(px, p1, p2, mu1, mu2) for p1, p2 in _PROBABILITY_STARTS]).T
    mu3 = float(system.source.intensities[-1])
    lower = np.array([0.5, 0.02, 0.02, max(2 * mu3 + 1e-3, 0.02), mu3 + 1e-3])
    upper = np.array([0.999, 0.96, 0.9, 1.2, 0.6])

    def key_per_pulse(params: NDArray[np.float64]) -> NDArray[np.float64]:
        return _key_per_pulse(system, channel_transmittance, key_bits, params, epsilon_sec, epsilon_cor)

    best, value = maximise(key_per_pulse, starts, lower, upper, iterations=80)
    column = int(np.argmax(value))
    if not value[column] > 0:
        return system
    px, p1, p2, mu1, mu2 = (float(v) for v in best[:, column])
    source = replace(system.source, intensities=(mu1, mu2, mu3), probabilities=(p1, p2, 1.0 - p1 - p2))
    return replace(system, source=source, basis_prob_x=px)


def _expected(
    system: QkdSystem,
    transmittance: float,
    key_bits: float,
    px: NDArray[np.float64] | float,
    mu: NDArray[np.float64],
    p: NDArray[np.float64] | tuple[float, ...],
) -> ExpectedBlock:
    """Expected counts for intensities ``mu`` sent with probabilities ``p`` (first axis: intensity)."""
    p = np.asarray(p, dtype=np.float64)
    stats = expected_detection(system, transmittance, mu)
    gain = np.sum(p * stats.gain, axis=0)
    pulses = key_bits / (px**2 * gain)
    z = pulses * p * (1.0 - px) ** 2
    counts = DecoyCounts(mu, p, pulses * p * px**2 * stats.gain, z * stats.gain, z * stats.error)
    qber = np.sum(p * stats.error, axis=0) / gain
    return ExpectedBlock(counts, np.asarray(pulses, dtype=np.float64), np.asarray(qber, dtype=np.float64))


def _key_per_pulse(
    system: QkdSystem,
    transmittance: float,
    key_bits: float,
    params: NDArray[np.float64],
    epsilon_sec: float,
    epsilon_cor: float,
) -> NDArray[np.float64]:
    """Lim et al.'s bound per pulse for each column of settings ``(q_x, p1, p2, mu1, mu2)``."""
    px, p1, p2, mu1, mu2 = params
    mu3 = system.source.intensities[-1]
    mu = np.stack([mu1, mu2, np.full_like(mu1, mu3)])
    block = _expected(system, transmittance, key_bits, px, mu, np.stack([p1, p2, 1.0 - p1 - p2]))
    leaked = system.ec_efficiency * binary_entropy(block.qber) * key_bits
    key = lim2014_key_length(
        block.counts, leaked_ec_bits=leaked, epsilon_sec=epsilon_sec, epsilon_cor=epsilon_cor
    ).key_length_bits
    feasible = (mu1 > mu2 + mu3) & (mu2 > mu3) & (p1 + p2 < 1.0)
    return np.asarray(np.where(feasible, key / block.pulses, -np.inf), dtype=np.float64)
