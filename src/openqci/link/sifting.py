"""Sifting: keep the detections where Alice and Bob chose the same basis, and count them per intensity.

Bob announces which pulses clicked and in which basis; Alice answers with her basis and the intensity
class of each. Detections in the key basis X form the sifted key; in the test basis Z both ends disclose
their bits, which gives the observed counts ``n_z`` and errors ``m_z`` per intensity that the finite-key
bound needs (Lim et al., PRA 89, 022307 (2014), Sec. II).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from openqci.link.sampler import BASIS_X, BASIS_Z, DetectionEvents

__all__ = ["SiftedKey", "sift"]


@dataclass(frozen=True)
class SiftedKey:
    """Key-basis bits of both ends and the public counts of a stretch of detections.

    ``n_x``, ``n_z`` and ``m_z`` have one entry per intensity, strongest first.
    """

    alice_bits: NDArray[np.bool_]
    bob_bits: NDArray[np.bool_]
    n_x: NDArray[np.int64]
    n_z: NDArray[np.int64]
    m_z: NDArray[np.int64]
    discarded: int

    @property
    def size(self) -> int:
        """Number of sifted key-basis bits."""
        return int(self.alice_bits.size)

    @property
    def qber_z(self) -> float:
        """Error rate observed in the disclosed test-basis bits (0 when there are none)."""
        total = int(self.n_z.sum())
        return float(self.m_z.sum() / total) if total else 0.0


def sift(events: DetectionEvents, intensities: int) -> SiftedKey:
    """Sift detection events and count key- and test-basis detections per intensity class.

    Parameters
    ----------
    events
        The detections, as both ends recorded them.
    intensities
        Number of intensity classes the source uses.
    """
    same = events.alice_basis == events.bob_basis
    key = same & (events.alice_basis == BASIS_X)
    test = same & (events.alice_basis == BASIS_Z)
    test_errors = test & (events.alice_bits != events.bob_bits)
    return SiftedKey(
        alice_bits=events.alice_bits[key],
        bob_bits=events.bob_bits[key],
        n_x=np.bincount(events.intensity[key], minlength=intensities).astype(np.int64),
        n_z=np.bincount(events.intensity[test], minlength=intensities).astype(np.int64),
        m_z=np.bincount(events.intensity[test_errors], minlength=intensities).astype(np.int64),
        discarded=int(events.detections - np.count_nonzero(same)),
    )
