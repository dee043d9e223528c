"""Wegman-Carter authentication of the classical transcript with pre-shared key.

A tag is ``(h_k(m) + r) mod p`` with ``p = 2^61 - 1``: ``h_k`` evaluates the message, cut into 32-bit
words and followed by its length, as a polynomial at the secret point ``k``; ``r`` is a one-time pad.
Two different messages of at most ``L`` words collide for at most ``L + 1`` values of ``k``, so a forger
succeeds with probability at most ``(L + 1) / p`` per tag (Wegman, Carter, JCSS 22, 265 (1981);
den Boer, Eurocrypt '93 polynomial hashing). The hash key is drawn fresh from the pool for each block and
every tag takes a fresh pad, so both come from secret pre-shared key, never from a public seed. The pool
is replenished from the link's own final key, and what is taken back is subtracted from the net key.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

from openqci.link.errors import AuthenticationKeyError

__all__ = ["KEY_BITS_PER_WORD", "MERSENNE_61", "AuthKeyPool", "polynomial_digest", "wegman_carter_tag"]

MERSENNE_61 = (1 << 61) - 1
"""The prime modulus of the polynomial hash."""
KEY_BITS_PER_WORD = 61
"""Pool bits taken for one hash key or one pad."""


class AuthKeyPool:
    """Pre-shared secret bits held by one end, consumed by tags and replenished from produced key.

    Both ends start from identical pools and consume them in the same order, so they stay identical.
    """

    def __init__(self, bits: NDArray[np.bool_]) -> None:
        self._bits = np.asarray(bits, dtype=np.bool_).copy()
        self.consumed_bits = 0
        self.replenished_bits = 0

    @property
    def size(self) -> int:
        """Bits left in the pool."""
        return int(self._bits.size)

    def take_word(self) -> int:
        """Consume 61 bits and return them as a number below ``2^61 - 1`` (rejecting the one bad value)."""
        while True:
            if self._bits.size < KEY_BITS_PER_WORD:
                raise AuthenticationKeyError(
                    "the pre-shared authentication key is exhausted; provision more key for this link"
                )
            chunk, self._bits = self._bits[:KEY_BITS_PER_WORD], self._bits[KEY_BITS_PER_WORD:]
            self.consumed_bits += KEY_BITS_PER_WORD
            value = int.from_bytes(np.packbits(chunk).tobytes(), "big") >> 3
            if value < MERSENNE_61:
                return value

    def replenish(self, bits: NDArray[np.bool_]) -> None:
        """Append fresh secret bits (taken from the final key, identically at both ends)."""
        self._bits = np.concatenate([self._bits, np.asarray(bits, dtype=np.bool_)])
        self.replenished_bits += int(bits.size)


def wegman_carter_tag(message: bytes, hash_key: int, pad: int) -> int:
    """The tag of ``message`` under polynomial hash key ``hash_key`` and one-time pad ``pad``."""
    return (polynomial_digest(message, hash_key) + pad) % MERSENNE_61


def polynomial_digest(message: bytes, hash_key: int) -> int:
    """``h_k(message)``, the unpadded part of a tag: several tags of one message share it."""
    padded = message + b"\x00" * (-len(message) % 4)
    words = np.frombuffer(padded, dtype="<u4")
    return int(_polynomial_hash(words, np.uint64(len(message)), np.uint64(hash_key)))


@njit(cache=True)
def _mulmod(a, b):  # type: ignore[no-untyped-def]
    """``a * b mod 2^61 - 1`` for ``a, b < 2^61`` without 128-bit integers."""
    p = np.uint64(MERSENNE_61)
    low32 = np.uint64(0xFFFFFFFF)
    a0, a1 = a & low32, a >> np.uint64(32)
    b0, b1 = b & low32, b >> np.uint64(32)
    low = a0 * b0
    mid = a0 * b1 + a1 * b0
    high = a1 * b1
    # 2^64 = 8 and 2^61 = 1 modulo p.
    total = (low & p) + (low >> np.uint64(61)) + (high << np.uint64(3))
    total += (mid >> np.uint64(29)) + ((mid & np.uint64((1 << 29) - 1)) << np.uint64(32))
    total = (total & p) + (total >> np.uint64(61))
    total = (total & p) + (total >> np.uint64(61))
    return total - p if total >= p else total


@njit(cache=True, nogil=True)
def _polynomial_hash(words, length, key):  # type: ignore[no-untyped-def]
    """Horner evaluation of the words, then the length, at ``key`` modulo ``2^61 - 1``."""
    p = np.uint64(MERSENNE_61)
    acc = np.uint64(0)
    for w in words:
        acc = _mulmod(acc, key) + np.uint64(w)
        acc = acc - p if acc >= p else acc
    acc = _mulmod(acc, key) + length % p
    return acc - p if acc >= p else acc
