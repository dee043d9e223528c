"""Parameter estimation from what the two ends observe: decoy bounds, phase error, secret key length.

Only public counts enter: sifted detections per intensity and basis, and the errors found among the
disclosed test-basis (Z) bits. The bound is Lim et al.'s Eq. 1 (PRA 89, 022307 (2014)), computed by
:func:`openqci.physics.finite_key.lim2014_key_length` with the bits that error correction *actually*
leaked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from openqci.link.sifting import SiftedKey
from openqci.physics.devices import WeakCoherentSource
from openqci.physics.finite_key import DecoyCounts, FiniteKeyBound, lim2014_key_length

__all__ = ["ParameterEstimate", "estimate_parameters", "secret_key_length"]


@dataclass(frozen=True)
class ParameterEstimate:
    """Observed statistics of a block and whether the decoy bounds prove any single photons.

    ``qber_z`` is the error rate of the disclosed test-basis bits: the estimate handed to error
    correction before the key-basis errors are known.
    """

    counts: DecoyCounts
    qber_z: float
    bound_without_leak: FiniteKeyBound

    @property
    def decoys_consistent(self) -> bool:
        """True when the decoy statistics give positive single-photon counts in both bases."""
        return bool(np.isfinite(self.bound_without_leak.key_length_bits))


def estimate_parameters(
    sifted: SiftedKey, source: WeakCoherentSource, *, epsilon_sec: float, epsilon_cor: float
) -> ParameterEstimate:
    """Decoy statistics of a sifted block, bounded before error correction.

    Parameters
    ----------
    sifted
        The block's sifted counts per intensity (three intensities, strongest first).
    source
        The source whose intensities and probabilities Alice used (public protocol parameters).
    epsilon_sec, epsilon_cor
        Secrecy and correctness parameters of the block.
    """
    counts = DecoyCounts(
        intensities=np.asarray(source.intensities, dtype=np.float64),
        probabilities=np.asarray(source.probabilities, dtype=np.float64),
        n_x=sifted.n_x.astype(np.float64),
        n_z=sifted.n_z.astype(np.float64),
        m_z=sifted.m_z.astype(np.float64),
    )
    bound = lim2014_key_length(counts, leaked_ec_bits=0.0, epsilon_sec=epsilon_sec, epsilon_cor=epsilon_cor)
    return ParameterEstimate(counts=counts, qber_z=sifted.qber_z, bound_without_leak=bound)


def secret_key_length(estimate: ParameterEstimate, leaked_ec_bits: int) -> int:
    """Secret bits extractable from the block once ``leaked_ec_bits`` have been disclosed (may be <= 0).

    Lim et al.'s Eq. 1 is linear in lambda_EC, so the bound computed without leakage is reduced by it.
    """
    unleaked = float(estimate.bound_without_leak.key_length_bits)
    if not math.isfinite(unleaked):
        return -1
    return math.floor(unleaked - leaked_ec_bits)
