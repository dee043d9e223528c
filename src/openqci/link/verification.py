"""Verification: both ends compare a short 2-universal hash of their corrected keys.

The hash is a random binary Toeplitz (Hankel-ordered) matrix of ``tag_bits`` rows, applied as the XOR of
the 64-bit windows ``seed[i : i + 64]`` over the key's set bits. Two different keys collide with
probability ``2^-tag_bits`` over the seed (Carter, Wegman, JCSS 18, 143 (1979); Krawczyk, CRYPTO '94),
so ``tag_bits = ceil(log2(1/epsilon_cor))`` makes the key epsilon_cor-correct, the term Lim et al.
(PRA 89, 022307 (2014)) charge as ``log2(2/epsilon_cor)``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from openqci.link.errors import InvalidLinkParameterError

__all__ = ["verification_tag", "verification_tag_bits"]


def verification_tag_bits(epsilon_cor: float) -> int:
    """Tag length that makes a key ``epsilon_cor``-correct (at most 64)."""
    bits = math.ceil(math.log2(1.0 / epsilon_cor))
    if not 1 <= bits <= 64:
        raise InvalidLinkParameterError(f"epsilon_cor must lie in [2^-64, 0.5], got {epsilon_cor}")
    return bits


def verification_tag(bits: NDArray[np.bool_], seed: NDArray[np.uint64], tag_bits: int) -> int:
    """Hash ``bits`` to ``tag_bits`` bits with the Toeplitz matrix given by ``seed``.

    ``seed`` holds at least ``bits.size + 64`` random bits, least significant bit first in each word.
    Row ``j`` of the matrix is ``seed[j : j + n]``; the tag's bit ``j`` is its product with ``bits``.
    """
    if seed.size * 64 < bits.size + 64:
        raise InvalidLinkParameterError("the verification seed is shorter than the key plus 64 bits")
    mask = (1 << tag_bits) - 1
    return int(_windows_xor(np.flatnonzero(bits), seed)) & mask


@njit(cache=True)
def _windows_xor(ones, seed):  # type: ignore[no-untyped-def]
    """XOR of the 64-bit windows of ``seed`` starting at each index in ``ones``."""
    acc = np.uint64(0)
    for i in ones:
        word, shift = i >> 6, np.uint64(i & 63)
        window = seed[word] >> shift
        if shift:
            window |= seed[word + 1] << (np.uint64(64) - shift)
        acc ^= window
    return acc
