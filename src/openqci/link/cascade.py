"""Cascade error correction with batched parity exchange, after Martinez-Mateo et al. (2015).

Bob drives the protocol; Alice only answers parity questions. Each pass shuffles the frame with a
permutation rebuilt at both ends from a 63-bit seed sent in clear, cuts it into blocks, and Alice sends all
block parities in one message. Every block whose parity disagrees is bisected, all such blocks *in
lockstep*: one message carries the left-half parity of every open search, so a pass costs one round trip
per bisection level, not per error. When Bob flips a bit, the blocks holding it in every earlier pass
change parity and odd ones are searched again (the cascade effect); right-half parities are inferred
from the parent's. Leakage is the number of parity bits Alice sends, counted where they are produced.

The kernel simulates both ends in one process for speed: ``alice_bits`` is read only to answer
parities, and everything Alice sends, with Bob's choices of half, goes into the public transcript.

References
----------
Brassard, Salvail, "Secret-key reconciliation by public discussion", EUROCRYPT '93, LNCS 765, 410 (1994).
Martinez-Mateo, Pacher, Peev, Ciurana, Martin, "Demystifying the information reconciliation protocol
Cascade", Quantum Inf. Comput. 15, 453 (2015), arXiv 1407.3257: block-size option (8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np
from numba import njit
from numpy.typing import NDArray

from openqci.link.errors import InvalidLinkParameterError
from openqci.link.reconciliation import ReconciliationResult

__all__ = ["CASCADE_VARIANTS", "BlockRule", "Cascade", "CascadeVariant"]


class BlockRule(Enum):
    """How a variant chooses its block sizes from the QBER estimate."""

    DOUBLING = "doubling"
    OPTION_8 = "option-8"


@dataclass(frozen=True)
class CascadeVariant:
    """A Cascade schedule: number of passes and block-size rule.

    ``first_block_factor`` is the ``alpha`` of ``k1 = ceil(alpha / Q)`` for the doubling rule.
    """

    name: str
    passes: int
    rule: BlockRule
    first_block_factor: float = 0.73
    reference: str = ""

    def block_sizes(self, qber: float, frame_bits: int) -> tuple[int, ...]:
        """Block size of every pass for a frame of ``frame_bits`` bits at QBER ``qber``."""
        q = min(max(qber, 1e-4), 0.25)
        half = max(frame_bits // 2, 1)
        if self.rule is BlockRule.DOUBLING:
            first = math.ceil(self.first_block_factor / q)
            return tuple(max(min(first * 2**i, half), 1) for i in range(self.passes))
        alpha = math.ceil(math.log2(1.0 / q) - 0.5)
        sizes = [2**alpha, 2 ** math.ceil((alpha + 12) / 2), 4096] + [half] * (self.passes - 3)
        return tuple(max(min(k, half), 1) for k in sizes[: self.passes])


CASCADE_VARIANTS: dict[str, CascadeVariant] = {
    "original": CascadeVariant(
        "original", 4, BlockRule.DOUBLING, 0.73, "Brassard, Salvail, EUROCRYPT '93 (1994)"
    ),
    "option-8": CascadeVariant(
        "option-8", 14, BlockRule.OPTION_8, reference="Martinez-Mateo et al., QIC 15, 453 (2015), option (8)"
    ),
}
"""Cascade schedules by name; ``option-8`` is the recommendation of Martinez-Mateo et al. 2015."""


@dataclass
class Cascade:
    """The Cascade reconciler (implements :class:`~openqci.link.reconciliation.Reconciler`)."""

    variant: CascadeVariant = CASCADE_VARIANTS["option-8"]
    name: str = "cascade"

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
        perms = _permutations(seeds, n)
        corrected, log, counts = _cascade(alice_bits.view(np.uint8), bob_bits.view(np.uint8), perms, sizes)
        leaked, questions, round_trips = (int(c) for c in counts)
        transcript = seeds.tobytes() + sizes.tobytes() + np.packbits(log[: leaked + questions]).tobytes()
        return ReconciliationResult(
            corrected_bits=corrected.view(np.bool_),
            leaked_bits=leaked,
            messages=2 * round_trips,
            round_trips=round_trips,
            converged=True,
            public_transcript=transcript,
        )


def _permutations(seeds: NDArray[np.int64], n: int) -> NDArray[np.int32]:
    """The pass permutations rebuilt from their public seeds (the first pass keeps the frame's order)."""
    perms = np.empty((seeds.size, n), dtype=np.int32)
    perms[0] = np.arange(n, dtype=np.int32)
    for p in range(1, seeds.size):
        perms[p] = perms[0]
        _shuffle(perms[p], np.uint64(seeds[p]))
    return perms


@njit(cache=True)
def _shuffle(values, seed):  # type: ignore[no-untyped-def]
    """Fisher-Yates shuffle driven by SplitMix64 from ``seed``, so both ends rebuild the same permutation.

    Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014 (SplitMix64);
    Lemire, ACM TOMACS 29, 3 (2019) for the multiply-shift range reduction.
    """
    state = seed
    for i in range(values.size - 1, 0, -1):
        state += np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        j = ((z >> np.uint64(32)) * np.uint64(i + 1)) >> np.uint64(32)
        values[i], values[j] = values[j], values[i]


@njit(cache=True)
def _range_parity(bits, lo, hi):  # type: ignore[no-untyped-def]
    """Parity of ``bits[lo:hi]``."""
    acc = np.uint8(0)
    for j in range(lo, hi):
        acc ^= bits[j]
    return acc


@njit(cache=True)
def _cascade(alice, bob, perms, sizes):  # type: ignore[no-untyped-def]
    """All passes of Cascade; returns Bob's corrected bits, the public log and (leaked, choices, trips)."""
    passes, n = perms.shape
    A = np.empty((passes, n), np.uint8)
    B = np.empty((passes, n), np.uint8)
    pos = np.empty((passes, n), np.int32)
    max_blocks = (n + sizes.min() - 1) // sizes.min()
    alice_block = np.zeros((passes, max_blocks), np.uint8)
    error_block = np.zeros((passes, max_blocks), np.uint8)
    active = np.zeros((passes, max_blocks), np.uint8)
    dirty = np.zeros((passes, max_blocks), np.uint8)
    touched = np.empty((passes * max_blocks + 2, 2), np.int64)  # touched[-1, 0] counts the entries in use
    touched[-1, 0] = 0
    capacity = passes * max_blocks + 1
    items = np.empty((capacity, 5), np.int64)  # pass, block, lo, hi, Alice's parity of [lo, hi)
    log = np.empty(4 * n + 64 * passes * max_blocks, np.uint8)
    counts = np.zeros(3, np.int64)  # leaked parity bits, Bob's choices logged, round trips
    current = bob.copy()
    for p in range(passes):
        _start_pass(p, alice, current, perms, sizes, A, B, pos, alice_block, error_block, log, counts)
        n_items = 0
        for b in range((n + sizes[p] - 1) // sizes[p]):
            if error_block[p, b]:
                n_items = _push(items, n_items, p, b, sizes, n, alice_block, active)
        while n_items > 0:
            n_items = _round(
                p,
                items,
                n_items,
                A,
                B,
                pos,
                perms,
                sizes,
                n,
                current,
                alice_block,
                error_block,
                active,
                dirty,
                touched,
                log,
                counts,
            )
    return current, log, counts


@njit(cache=True)
def _start_pass(p, alice, current, perms, sizes, A, B, pos, alice_block, error_block, log, counts):  # type: ignore[no-untyped-def]
    """Shuffle both frames for pass ``p`` and exchange every block parity in one round trip."""
    n = perms.shape[1]
    k = sizes[p]
    for j in range(n):
        i = perms[p, j]
        A[p, j] = alice[i]
        B[p, j] = current[i]
        pos[p, i] = j
    for b in range((n + k - 1) // k):
        lo, hi = b * k, min((b + 1) * k, n)
        pa = _range_parity(A[p], lo, hi)
        alice_block[p, b] = pa
        error_block[p, b] = pa ^ _range_parity(B[p], lo, hi)
        log[counts[0] + counts[1]] = pa
        counts[0] += 1
    counts[2] += 1


@njit(cache=True)
def _push(items, n_items, p, b, sizes, n, alice_block, active):  # type: ignore[no-untyped-def]
    """Open a search over the whole of block ``b`` of pass ``p``."""
    k = sizes[p]
    items[n_items, 0] = p
    items[n_items, 1] = b
    items[n_items, 2] = b * k
    items[n_items, 3] = min((b + 1) * k, n)
    items[n_items, 4] = alice_block[p, b]
    active[p, b] = 1
    return n_items + 1


@njit(cache=True)
def _flip(i, last_pass, B, pos, sizes, current, error_block, dirty, touched):  # type: ignore[no-untyped-def]
    """Flip Bob's bit ``i`` and toggle the parity of the block holding it in every pass so far."""
    current[i] ^= 1
    for q in range(last_pass + 1):
        j = pos[q, i]
        B[q, j] ^= 1
        b = j // sizes[q]
        error_block[q, b] ^= 1
        if not dirty[q, b]:
            dirty[q, b] = 1
            m = touched[-1, 0]
            touched[m, 0] = q
            touched[m, 1] = b
            touched[-1, 0] = m + 1


@njit(cache=True)
def _round(  # type: ignore[no-untyped-def]
    p,
    items,
    n_items,
    A,
    B,
    pos,
    perms,
    sizes,
    n,
    current,
    alice_block,
    error_block,
    active,
    dirty,
    touched,
    log,
    counts,
):
    """One round trip: finish one-bit searches, revalidate touched ones, bisect the rest in one message."""
    for t in range(n_items):  # searches narrowed to one bit: that bit is an error
        q, lo = items[t, 0], items[t, 2]
        if items[t, 3] - lo == 1:
            # Another search may have flipped this very bit earlier in the round.
            if B[q, lo] != items[t, 4]:
                _flip(perms[q, lo], p, B, pos, sizes, current, error_block, dirty, touched)
            items[t, 3] = lo  # mark finished
    kept = 0
    for t in range(n_items):  # keep searches whose range still holds an odd number of errors
        q, b = items[t, 0], items[t, 1]
        finished = items[t, 3] == items[t, 2]
        if not finished and dirty[q, b]:
            finished = (_range_parity(B[q], items[t, 2], items[t, 3]) ^ items[t, 4]) == 0
        if finished:
            active[q, b] = 0
        else:
            items[kept] = items[t]
            kept += 1
    kept = _reopen(items, kept, sizes, n, alice_block, error_block, active, dirty, touched)
    asked = 0
    for t in range(kept):
        asked += _bisect(items, t, A, B, log, counts)
    if asked:
        counts[2] += 1
    return kept


@njit(cache=True)
def _reopen(items, kept, sizes, n, alice_block, error_block, active, dirty, touched):  # type: ignore[no-untyped-def]
    """Open searches in touched blocks that now hold an odd number of errors (the cascade effect)."""
    for m in range(touched[-1, 0]):
        q, b = touched[m, 0], touched[m, 1]
        dirty[q, b] = 0
        if error_block[q, b] and not active[q, b]:
            kept = _push(items, kept, q, b, sizes, n, alice_block, active)
    touched[-1, 0] = 0
    return kept


@njit(cache=True)
def _bisect(items, t, A, B, log, counts):  # type: ignore[no-untyped-def]
    """Ask Alice the parity of the left half of search ``t`` and keep the half holding an error."""
    q, lo, hi = items[t, 0], items[t, 2], items[t, 3]
    if hi - lo < 2:
        return 0
    mid = lo + (hi - lo) // 2
    alice_left = _range_parity(A[q], lo, mid)
    error_left = alice_left ^ _range_parity(B[q], lo, mid)
    log[counts[0] + counts[1]] = alice_left
    log[counts[0] + counts[1] + 1] = error_left
    counts[0] += 1
    counts[1] += 1
    if error_left:
        items[t, 3] = mid
        items[t, 4] = alice_left
    else:
        items[t, 2] = mid
        items[t, 4] ^= alice_left
    return 1
