"""Cascade error correction with batched parity exchange, after Martinez-Mateo et al. (2015).

Bob drives the protocol; Alice only answers parity questions. Each pass shuffles the frame with a
permutation rebuilt at both ends from a 63-bit seed sent in clear, cuts it into blocks, and Alice sends all
block parities in one message. Every block whose parity disagrees is bisected, all such blocks *in
lockstep*: one message carries the left-half parity of every open search, so a pass costs one round trip
per bisection level, not per error. When Bob flips a bit, the blocks holding it in every earlier pass
change parity and odd ones are searched again (the cascade effect); right-half parities are inferred
from the parent's. Variants with sub-block reuse also keep every sub-block parity Alice has disclosed:
a search never asks a known parity again, and after a flip the smallest known sub-block that turned odd
is searched instead of its whole block (:mod:`openqci.link._cascade_kernel`). Leakage is the number of
parity bits Alice sends, counted where they are produced.

The kernel simulates both ends in one process for speed: ``alice_bits`` is read only to answer
parities, and everything Alice sends, with Bob's choices of half, goes into the public transcript.

Confirmation. However many passes run, errors can survive them: a set of errors that sits an even
number at a time in every block of every pass is invisible to all of them. Each late pass of n/2 blocks
finds a surviving set with probability 1/2, and with the 14 passes of option (7) about 2e-4 of all
2^17-bit frames at QBER 2.4 % keep one; a block of 16 frames then fails verification about once in
300 blocks. After the last pass :class:`Cascade` therefore checks ``confirmation_bits`` parities of
random subsets of the frame, Brassard and Salvail's BICONF turned into one message: the subsets are the
rows of a Toeplitz matrix (the hash of :mod:`openqci.link.verification`, expanded from a 63-bit public
seed), so for any nonzero error pattern the parities Bob disagrees with are uniform and all agree with
probability ``2^-confirmation_bits``. A disagreeing row is bisected to one wrong bit, which Bob flips,
and a fresh set of subsets is checked, until one set agrees in full. Every parity is counted as leaked.

The variants of :data:`CASCADE_VARIANTS` are those compared by Martinez-Mateo et al.; at QBER 2 % on
2^18-bit frames the measured efficiencies are about 1.13 (option 8), 1.06-1.08 (options 4 and 7, Yan et
al.) and 1.2 (original): see ``benchmarks/README.md``. The default is the best of them at that size.

References
----------
Brassard, Salvail, "Secret-key reconciliation by public discussion", EUROCRYPT '93, LNCS 765, 410 (1994).
Yan, Ren, Peng, Zhu, Yi, Hu, Zhang, "Information reconciliation protocol in quantum key distribution
system", ICNC '08, 637 (2008).
Martinez-Mateo, Pacher, Peev, Ciurana, Martin, "Demystifying the information reconciliation protocol
Cascade", Quantum Inf. Comput. 15, 453 (2015), arXiv 1407.3257: options (3), (4), (7) and (8).
Brassard, Salvail (above), Sec. 5: BICONF, the parity of random subsets as a final confirmation.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from openqci.link._cascade_kernel import cascade_kernel, workspace
from openqci.link.errors import InvalidLinkParameterError
from openqci.link.reconciliation import ReconciliationResult
from openqci.link.verification import verification_tag

__all__ = ["CASCADE_VARIANTS", "DEFAULT_CASCADE_VARIANT", "BlockRule", "Cascade", "CascadeVariant"]


class BlockRule(Enum):
    """How a variant chooses its block sizes from the QBER estimate."""

    DOUBLING = "doubling"
    """``k1 = ceil(alpha / Q)``, then each pass doubles the block."""
    SECOND_THEN_HALF = "second-then-half"
    """``k1``, then ``k2 = second_block_factor * k1``, then half the frame for every later pass."""
    OPTION_8 = "option-8"
    """Martinez-Mateo et al.'s option (8): powers of two from ``log2(1/Q)``, 4096, then half the frame."""


@dataclass(frozen=True)
class CascadeVariant:
    """A Cascade schedule: number of passes, block-size rule, and whether sub-block parities are reused.

    ``first_block_factor`` is the ``alpha`` of ``k1 = ceil(alpha / Q)``; with ``power_of_two_first``
    ``k1 = 2^ceil(log2(alpha / Q))`` instead. ``reuses_sub_blocks`` keeps every disclosed sub-block
    parity (Martinez-Mateo et al. 2015, Sec. 4, "sub-block reuse").
    """

    name: str
    passes: int
    rule: BlockRule
    first_block_factor: float = 0.73
    second_block_factor: int = 2
    power_of_two_first: bool = False
    reuses_sub_blocks: bool = False
    reference: str = ""

    def block_sizes(self, qber: float, frame_bits: int) -> tuple[int, ...]:
        """Block size of every pass for a frame of ``frame_bits`` bits at QBER ``qber``."""
        q = min(max(qber, 1e-4), 0.25)
        half = max(frame_bits // 2, 1)
        if self.rule is BlockRule.OPTION_8:
            alpha = math.ceil(math.log2(1.0 / q) - 0.5)
            sizes = [2**alpha, 2 ** math.ceil((alpha + 12) / 2), 4096] + [half] * (self.passes - 3)
            return tuple(max(min(k, half), 1) for k in sizes[: self.passes])
        first = math.ceil(self.first_block_factor / q)
        if self.power_of_two_first:
            first = 2 ** math.ceil(math.log2(self.first_block_factor / q))
        if self.rule is BlockRule.DOUBLING:
            return tuple(max(min(first * 2**i, half), 1) for i in range(self.passes))
        sizes = [first, self.second_block_factor * first] + [half] * (self.passes - 2)
        return tuple(max(min(k, half), 1) for k in sizes[: self.passes])


_DEMYSTIFYING = "Martinez-Mateo et al., QIC 15, 453 (2015)"

CASCADE_VARIANTS: dict[str, CascadeVariant] = {
    "original": CascadeVariant(
        "original", 4, BlockRule.DOUBLING, 0.73, reference="Brassard, Salvail, EUROCRYPT '93 (1994)"
    ),
    "yan-2008": CascadeVariant(
        "yan-2008", 10, BlockRule.SECOND_THEN_HALF, 0.80, 5, reference="Yan et al., ICNC '08 (2008)"
    ),
    "option-3": CascadeVariant(
        "option-3", 16, BlockRule.SECOND_THEN_HALF, 1.0, 2, reference=f"{_DEMYSTIFYING}, option (3)"
    ),
    "option-4": CascadeVariant(
        "option-4",
        16,
        BlockRule.SECOND_THEN_HALF,
        1.0,
        2,
        reuses_sub_blocks=True,
        reference=f"{_DEMYSTIFYING}, option (4): option (3) with sub-block reuse",
    ),
    "option-7": CascadeVariant(
        "option-7",
        14,
        BlockRule.SECOND_THEN_HALF,
        1.0,
        4,
        power_of_two_first=True,
        reuses_sub_blocks=True,
        reference=f"{_DEMYSTIFYING}, option (7)",
    ),
    "option-8": CascadeVariant(
        "option-8", 14, BlockRule.OPTION_8, reuses_sub_blocks=True, reference=f"{_DEMYSTIFYING}, option (8)"
    ),
}
"""Cascade schedules by name, as compared by Martinez-Mateo et al. 2015 (their options 3, 4, 7, 8)."""

DEFAULT_CASCADE_VARIANT = "option-7"
"""The variant :class:`Cascade` runs unless told otherwise: the most efficient at QBER 2 % measured here."""


@dataclass
class Cascade:
    """The Cascade reconciler (implements :class:`~openqci.link.reconciliation.Reconciler`).

    ``frame_bits`` is the frame length the link session cuts a block into for it: frames of 2^17 bits
    keep the kernel's per-pass arrays in cache, and 2^20-bit frames run at half the speed for the same f.
    ``confirmation_bits`` (0 to 64) random-subset parities confirm each frame after the last pass; an
    error pattern the passes missed survives them with probability ``2^-confirmation_bits``.
    """

    variant: CascadeVariant = CASCADE_VARIANTS[DEFAULT_CASCADE_VARIANT]
    name: str = "cascade"
    frame_bits: int = 1 << 17
    confirmation_bits: int = 32

    def __post_init__(self) -> None:
        if not 0 <= self.confirmation_bits <= 64:
            raise InvalidLinkParameterError(
                f"confirmation_bits must lie in [0, 64], got {self.confirmation_bits!r}"
            )

    @classmethod
    def from_name(cls, variant: str) -> Cascade:
        """The reconciler for a variant of :data:`CASCADE_VARIANTS`, by name."""
        try:
            return cls(CASCADE_VARIANTS[variant])
        except KeyError:
            valid = ", ".join(sorted(CASCADE_VARIANTS))
            raise InvalidLinkParameterError(
                f"unknown Cascade variant {variant!r}; choose one of: {valid}"
            ) from None

    def reconcile(
        self,
        alice_bits: NDArray[np.bool_],
        bob_bits: NDArray[np.bool_],
        qber_estimate: float,
        *,
        rng: np.random.Generator,
    ) -> ReconciliationResult:
        """Correct ``bob_bits`` towards ``alice_bits``; see the module docstring for the protocol."""
        n = int(alice_bits.size)
        if bob_bits.size != n:
            raise InvalidLinkParameterError("alice_bits and bob_bits must have the same length")
        if n == 0:
            return ReconciliationResult(bob_bits.copy(), 0, 0, 0, True, b"")
        sizes = np.array(self.variant.block_sizes(qber_estimate, n), dtype=np.int64)
        seeds = rng.integers(0, 2**63 - 1, size=sizes.size, dtype=np.int64)
        corrected, log, counts = cascade_kernel(
            alice_bits.view(np.uint8),
            bob_bits.view(np.uint8),
            seeds,
            sizes,
            self.variant.reuses_sub_blocks,
            _workspace(n, sizes),
        )
        leaked, choices, round_trips = (int(c) for c in counts)
        transcript = seeds.tobytes() + sizes.tobytes() + np.packbits(log[: leaked + choices]).tobytes()
        corrected = corrected.view(np.bool_)
        if self.confirmation_bits:
            confirmed = _confirm(alice_bits, corrected, self.confirmation_bits, rng=rng)
            leaked, round_trips = leaked + confirmed.leaked_bits, round_trips + confirmed.round_trips
            transcript += confirmed.transcript
        return ReconciliationResult(
            corrected_bits=corrected,
            leaked_bits=leaked,
            messages=2 * round_trips,
            round_trips=round_trips,
            converged=True,
            public_transcript=transcript,
        )


@dataclass(frozen=True)
class _Confirmation:
    """What the confirmation of one frame disclosed."""

    leaked_bits: int
    round_trips: int
    transcript: bytes


def _confirm(
    alice_bits: NDArray[np.bool_], corrected: NDArray[np.bool_], parities: int, *, rng: np.random.Generator
) -> _Confirmation:
    """Check ``parities`` random-subset parities; bisect a disagreeing one and flip (``corrected``, in place).

    Each round sends a fresh 63-bit seed and Alice's parities in one message; a round that finds a
    disagreement bisects it to one wrong bit (one parity per round trip) and is followed by a new round,
    so the last round's subsets are drawn after the last flip and agree with probability ``2^-parities``
    on any pattern still wrong.
    """
    n, mask = alice_bits.size, (1 << parities) - 1
    leaked = round_trips = 0
    transcript = bytearray()
    while True:
        seed = int(rng.integers(0, 2**63 - 1))
        words = _splitmix_words(np.uint64(seed), n // 64 + 2)
        alice_tag = verification_tag(alice_bits, words, parities)
        leaked, round_trips = leaked + parities, round_trips + 1
        transcript += seed.to_bytes(8, "little") + alice_tag.to_bytes(8, "little")
        differing = alice_tag ^ verification_tag(corrected, words, parities)
        if not differing & mask:
            return _Confirmation(leaked, round_trips, bytes(transcript))
        row = (differing & -differing).bit_length() - 1
        wrong, asked = _bisect(alice_bits, corrected, words, row, transcript)
        corrected[wrong] ^= True
        leaked, round_trips = leaked + asked, round_trips + asked


def _bisect(
    alice_bits: NDArray[np.bool_],
    corrected: NDArray[np.bool_],
    words: NDArray[np.uint64],
    row: int,
    transcript: bytearray,
) -> tuple[int, int]:
    """Halve the range of a disagreeing subset parity down to one wrong bit; (position, parities asked)."""
    lo, hi, asked = 0, alice_bits.size, 0
    while hi - lo > 1:
        mid = lo + (hi - lo) // 2
        alice_left = _range_parity(alice_bits, words, row, lo, mid)
        go_left = alice_left != _range_parity(corrected, words, row, lo, mid)
        transcript += bytes((alice_left, go_left))  # Alice's parity, then Bob's choice of half
        asked += 1
        lo, hi = (lo, mid) if go_left else (mid, hi)
    return lo, asked


def _range_parity(bits: NDArray[np.bool_], words: NDArray[np.uint64], row: int, lo: int, hi: int) -> int:
    """Parity of subset ``row`` over positions ``[lo, hi)``: the same hash on a word-aligned slice."""
    start = lo - lo % 64
    piece = bits[start:hi].copy()
    piece[: lo - start] = False
    return (verification_tag(piece, words[start // 64 :], 64) >> row) & 1


_WORKSPACES = threading.local()


def _workspace(n: int, sizes: NDArray[np.int64]) -> tuple[NDArray[Any], ...]:
    """This thread's :func:`workspace` for frames of ``n`` bits and these block sizes (the last few kept).

    Per thread, since the link reconciles frames on two threads at once.
    """
    kept: dict[tuple[int, bytes], tuple[NDArray[Any], ...]] = _WORKSPACES.__dict__.setdefault("kept", {})
    key = (n, sizes.tobytes())
    if key not in kept:
        if len(kept) >= 4:  # the sizes follow the QBER estimate: do not keep every one ever seen
            kept.pop(next(iter(kept)))
        kept[key] = workspace(n, sizes)
    return kept[key]


@njit(cache=True)
def _splitmix_words(seed, count):  # type: ignore[no-untyped-def]
    """``count`` 64-bit words of SplitMix64 from ``seed``: a Toeplitz seed both ends rebuild from 63 bits."""
    words = np.empty(count, np.uint64)
    state = seed
    for i in range(count):
        state += np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        words[i] = z ^ (z >> np.uint64(31))
    return words
