"""Sifting: keep the detections where Alice and Bob chose the same basis, and count them per intensity.

Bob announces which pulses clicked and in which basis; Alice answers with her basis and the intensity
class of each. Detections in the key basis X form the sifted key; in the test basis Z both ends disclose
their bits, which gives the observed counts ``n_z`` and errors ``m_z`` per intensity that the finite-key
bound needs (Lim et al., PRA 89, 022307 (2014), Sec. II).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit
from numpy.typing import NDArray

from openqci.link.sampler import BASIS_X, DetectionEvents

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
    alice, bob, counts, discarded = _sift_kernel(
        events.intensity,
        events.alice_basis,
        events.bob_basis,
        events.alice_bits,
        events.bob_bits,
        intensities,
    )
    return SiftedKey(alice, bob, counts[0], counts[1], counts[2], int(discarded))


@njit(cache=True, nogil=True)
def _sift_kernel(intensity, alice_basis, bob_basis, alice_bits, bob_bits, intensities):  # type: ignore[no-untyped-def]
    """One pass over the detections: key-basis bits of both ends and (n_x, n_z, m_z) per intensity."""
    count = intensity.size
    alice = np.empty(count, np.bool_)
    bob = np.empty(count, np.bool_)
    counts = np.zeros((3, intensities), np.int64)
    kept = 0
    discarded = 0
    for i in range(count):
        basis = alice_basis[i]
        if basis != bob_basis[i]:
            discarded += 1
        elif basis == BASIS_X:
            alice[kept] = alice_bits[i]
            bob[kept] = bob_bits[i]
            kept += 1
            counts[0, intensity[i]] += 1
        else:
            counts[1, intensity[i]] += 1
            counts[2, intensity[i]] += alice_bits[i] != bob_bits[i]
    return alice[:kept].copy(), bob[:kept].copy(), counts, discarded
