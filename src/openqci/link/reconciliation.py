"""What every error-correction method returns, and the interface the link engine calls.

Inside :mod:`openqci.link` the steps pass key bits as unpacked ``numpy.bool_`` arrays (one element per bit):
numba kernels and fancy indexing want them so, and packing costs nothing next to the algorithms. Packing
to bytes happens once, at the :class:`~openqci.keysource.KeyBlock` boundary.

Leakage is counted where messages are produced: every parity or syndrome bit that goes over the public
channel adds to ``leaked_bits``, and everything sent in clear is kept in ``public_transcript`` so the
authentication step can tag exactly what was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from openqci.physics.entropy import binary_entropy

__all__ = ["Reconciler", "ReconciliationResult"]


@dataclass(frozen=True)
class ReconciliationResult:
    """Outcome of reconciling one frame.

    Attributes
    ----------
    corrected_bits
        Bob's bits after correction (unpacked booleans, same length as the input).
    leaked_bits
        Number of bits disclosed on the public channel (parities, syndromes, punctured-bit values).
    messages
        Number of classical messages sent, both directions together.
    round_trips
        Number of request/response exchanges (one-way methods: 0 or 1).
    converged
        Whether the method itself believes it has finished (verification still decides).
    public_transcript
        Everything sent in clear, serialised, for the authentication tag.
    """

    corrected_bits: NDArray[np.bool_]
    leaked_bits: int
    messages: int
    round_trips: int
    converged: bool
    public_transcript: bytes

    def efficiency(self, qber: float) -> float:
        """Reconciliation efficiency ``f = leaked / (n h(qber))``; ``inf`` when ``qber`` is 0."""
        ideal = self.corrected_bits.size * float(binary_entropy(qber))
        return float(self.leaked_bits / ideal) if ideal > 0 else float("inf")


class Reconciler(Protocol):
    """An error-correction method: Cascade variants, rate-adaptive LDPC."""

    name: str

    def reconcile(
        self,
        alice_bits: NDArray[np.bool_],
        bob_bits: NDArray[np.bool_],
        qber_estimate: float,
        *,
        rng: np.random.Generator,
    ) -> ReconciliationResult:
        """Correct ``bob_bits`` towards ``alice_bits`` using public messages only.

        ``alice_bits`` is read only to compute what Alice would send (parities, syndromes); the result
        must depend on Bob's side solely through those messages. ``rng`` draws the public randomness
        (permutations, puncturing patterns), which is sent as a compact seed in the transcript.
        """
        ...
