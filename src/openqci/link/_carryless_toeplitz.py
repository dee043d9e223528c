"""GF(2) Toeplitz matrix-vector products by carry-less multiplication and Karatsuba's recursion.

The FFT computes the product over the integers and keeps parities, so it spends a float64 point per
bit. Over GF(2) the product is a window (a *middle product*) of a polynomial product that carry-less
multiplication computes 64 bits at a time; AVX-512 VPCLMULQDQ does four 64 x 64-bit products per
instruction. A square Toeplitz block of ``n`` words splits into halves ``[[A, B], [C, A]]``, and
``y_top = A (x0 + x1) + (A + B) x1``, ``y_bottom = A (x0 + x1) + (A + C) x0``: three half-size Toeplitz
products, whose seeds are sums of windows of the parent's seed (the transposed Karatsuba algorithm;
Bostan, Lecerf and Schost, ISSAC 2003, on the transposition principle). The recursion stops at leaves
of :data:`LEAF_WORDS_CHOICES` words, each one straight-line code that LLVM receives as vector
instructions. At ``2^23 x 2^23`` bits this ran about six times faster than the four-step FFT on the
development machine; ``benchmarks/bench_postprocess.py`` measures both in one run.

Word-level contract of a block of ``n`` words: with the seed window ``s`` of ``2n`` words (bit ``a``
of the window is coefficient ``a`` of a polynomial ``S``), ``y`` is coefficients ``64n .. 128n - 1`` of
``S * X``, that is ``y_i = XOR_j s_{64n + i - j} x_j``; :func:`toeplitz_product` builds each block's
window from the caller's seed so that this is the caller's matrix.

Only hosts whose CPU has AVX-512F and VPCLMULQDQ (and a numba targeting the host CPU) run it:
:data:`AVAILABLE` says so, and :mod:`openqci.link.privacy` falls back to the FFT elsewhere.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import llvmlite.binding
import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = ["AVAILABLE", "LEAF_WORDS_CHOICES", "toeplitz_product"]

LEAF_WORDS_CHOICES = (32, 40, 48, 56, 64)
"""Leaf sizes in 64-bit words; a block of ``n`` words uses ``leaf * 2^k == n``."""

_LANES = 8  # 64-bit words per 512-bit vector
_GUARD = _LANES  # words before a seed window that a leaf may read (and discard)


def _host_supports_vpclmulqdq() -> bool:
    if getattr(numba.config, "CPU_NAME", None) not in (None, "host"):  # numba told to compile for another CPU
        return False
    features = llvmlite.binding.get_host_cpu_features()
    return bool(features.get("avx512f") and features.get("vpclmulqdq"))


AVAILABLE = _host_supports_vpclmulqdq()
"""Whether this host can run the carry-less product."""


def _leaf_codegen(words: int) -> Callable[..., Any]:
    """LLVM IR of one leaf: ``y[0 .. words)`` of a ``words``-word block, fully unrolled.

    For each ``x_j`` the seed words ``s[words - j + 8c .. +8)`` are multiplied by ``x_j`` in one
    instruction per parity of the word index: the even words' 128-bit products land exactly on output
    words ``8c .. 8c + 7``; the odd words' land one word higher, so they are summed apart and shifted
    into place once at the end. Chunk ``c = -1`` supplies the single odd product that reaches word 0;
    its other lanes read up to :data:`_GUARD` words before the window and are discarded.
    """
    i64, i32, i8 = ir.IntType(64), ir.IntType(32), ir.IntType(8)
    vector = ir.VectorType(i64, _LANES)
    chunks = words // _LANES

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        clmul = builder.module.declare_intrinsic(
            "llvm.x86.pclmulqdq.512", fnty=ir.FunctionType(vector, [vector, vector, i8])
        )
        y_at, s_at, x_at = args[1], args[2], args[3]

        def vector_at(offset: ir.Value) -> ir.Value:
            return builder.bitcast(builder.gep(data, [offset]), vector.as_pointer())

        zero = ir.Constant(vector, [0] * _LANES)
        broadcast = ir.Constant(ir.VectorType(i32, _LANES), [0] * _LANES)
        even = [zero] * chunks
        odd = [zero] * (chunks + 1)  # odd[0] is chunk -1
        for j in range(words):
            x_j = builder.load(builder.gep(data, [builder.add(x_at, ir.Constant(i64, j))]))
            lone = builder.insert_element(ir.Constant(vector, ir.Undefined), x_j, ir.Constant(i32, 0))
            x_vector = builder.shuffle_vector(lone, ir.Constant(vector, ir.Undefined), broadcast)
            for c in range(-1, chunks):
                seed = builder.load(
                    vector_at(builder.add(s_at, ir.Constant(i64, words - j + _LANES * c))), align=8
                )
                if c >= 0:
                    even[c] = builder.xor(
                        even[c], builder.call(clmul, [seed, x_vector, ir.Constant(i8, 0x00)])
                    )
                odd[c + 1] = builder.xor(
                    odd[c + 1], builder.call(clmul, [seed, x_vector, ir.Constant(i8, 0x01)])
                )
        up_one_word = ir.Constant(ir.VectorType(i32, _LANES), list(range(_LANES - 1, 2 * _LANES - 1)))
        for c in range(chunks):
            shifted = builder.shuffle_vector(odd[c], odd[c + 1], up_one_word)
            target = vector_at(builder.add(y_at, ir.Constant(i64, _LANES * c)))
            builder.store(builder.xor(even[c], shifted), target, align=8)
        return context.get_dummy_value()

    return codegen


def _leaf(words: int) -> Any:
    """The leaf of ``words`` words as a numba intrinsic ``leaf(work, y_at, s_at, x_at)``."""

    def typer(typingctx: Any, work: Any, y_at: Any, s_at: Any, x_at: Any) -> Any:
        return types.void(work, types.intp, types.intp, types.intp), _leaf_codegen(words)

    return intrinsic(typer)


_leaf_32, _leaf_40, _leaf_48, _leaf_56, _leaf_64 = (_leaf(words) for words in LEAF_WORDS_CHOICES)


@njit(boundscheck=False, inline="always")
def _xor_into(work: NDArray[np.uint64], out: int, a: int, b: int, count: int) -> None:  # pragma: no cover
    target, left, right = work[out : out + count], work[a : a + count], work[b : b + count]
    for i in range(count):
        target[i] = left[i] ^ right[i]


@njit(boundscheck=False, cache=True)
def _block(
    work: NDArray[np.uint64], y: int, s: int, x: int, n: int, free: int, leaf_words: int
) -> None:  # pragma: no cover - numba
    """``work[y : y + n]`` = the block of seed window ``work[s : s + 2n]`` times ``work[x : x + n]``.

    ``n`` is ``leaf_words * 2^k``. Scratch space starts at ``free`` and needs ``6 n + 16 k`` words.
    """
    if n <= leaf_words:
        if leaf_words == 32:
            _leaf_32(work, y, s, x)
        elif leaf_words == 40:
            _leaf_40(work, y, s, x)
        elif leaf_words == 48:
            _leaf_48(work, y, s, x)
        elif leaf_words == 56:
            _leaf_56(work, y, s, x)
        else:
            _leaf_64(work, y, s, x)
        return
    h = n // 2
    summed_x = free
    seed_ab = free + h + _GUARD
    seed_ac = seed_ab + 2 * h + _GUARD
    middle = seed_ac + 2 * h
    deeper = middle + h
    _xor_into(work, summed_x, x, x + h, h)
    _xor_into(work, seed_ab, s + h, s, 2 * h)
    _xor_into(work, seed_ac, s + h, s + 2 * h, 2 * h)
    _block(work, y, seed_ab, x + h, h, deeper, leaf_words)  # (A + B) x1
    _block(work, y + h, seed_ac, x, h, deeper, leaf_words)  # (A + C) x0
    _block(work, middle, s + h, summed_x, h, deeper, leaf_words)  # A (x0 + x1)
    _xor_into(work, y, y, middle, h)
    _xor_into(work, y + h, y + h, middle, h)


def block_words(min_words: int) -> int:
    """The smallest block size ``leaf * 2^k >= min_words`` with a leaf of :data:`LEAF_WORDS_CHOICES`."""
    smallest = LEAF_WORDS_CHOICES[0]
    if min_words <= smallest:
        return smallest
    doublings = max(0, math.ceil(math.log2(min_words / LEAF_WORDS_CHOICES[-1])))
    leaf = next(size for size in LEAF_WORDS_CHOICES if size << doublings >= min_words)
    return leaf << doublings


def _leaf_of(words: int) -> int:
    while words not in LEAF_WORDS_CHOICES:
        words //= 2
    return words


def toeplitz_product(
    seed: NDArray[np.bool_], vector: NDArray[np.bool_], rows: int, offset: int
) -> NDArray[np.bool_]:
    """``y_i = XOR_j seed[i - j + offset] vector[j]`` for ``i < rows``; seed indices out of range read 0.

    The ``rows x vector.size`` matrix is cut into square blocks of ``Q`` bits along its longer side
    (``Q`` covers the shorter one), each block a product of :func:`block_words` words.
    """
    if not AVAILABLE:
        raise RuntimeError("the carry-less product needs a CPU with AVX-512F and VPCLMULQDQ")
    columns = vector.size
    words = block_words(-(-min(rows, columns) // 64))
    bits = 64 * words
    leaf = _leaf_of(words)
    seed_at, x_at, y_at, free = _GUARD, _GUARD + 2 * words, _GUARD + 3 * words, _GUARD + 4 * words
    work = np.zeros(free + 14 * words + 4 * _GUARD, dtype=np.uint64)
    out = np.zeros(-(-rows // bits) * bits, dtype=np.bool_)
    total = np.zeros(words, dtype=np.uint64)
    for row_block in range(-(-rows // bits)):
        total[:] = 0
        for column_block in range(-(-columns // bits)):
            block_offset = offset + (row_block - column_block) * bits
            work[seed_at : seed_at + 2 * words] = _pack(_seed_window(seed, block_offset, bits))
            work[x_at : x_at + words] = _pack(vector[column_block * bits : (column_block + 1) * bits], words)
            _block(work, y_at, seed_at, x_at, words, free, leaf)
            total ^= work[y_at : y_at + words]
        out[row_block * bits : (row_block + 1) * bits] = np.unpackbits(
            total.view(np.uint8), bitorder="little"
        )
    return out[:rows]


def _seed_window(seed: NDArray[np.bool_], offset: int, bits: int) -> NDArray[np.bool_]:
    """Bits ``a = 0 .. 2 bits - 1`` of a block's window: ``seed[a - bits + offset]``, 0 outside."""
    window = np.zeros(2 * bits, dtype=np.bool_)
    low = max(1, bits - offset)
    high = min(2 * bits, seed.size + bits - offset)
    if low < high:
        window[low:high] = seed[low - bits + offset : high - bits + offset]
    return window


def _pack(bits: NDArray[np.bool_], words: int | None = None) -> NDArray[np.uint64]:
    """Bit ``i`` to bit ``i % 64`` of word ``i // 64``, zero-padded to ``words`` words."""
    packed = np.packbits(bits, bitorder="little")
    size = words if words is not None else -(-bits.size // 64)
    padded = np.zeros(8 * size, dtype=np.uint8)
    padded[: packed.size] = packed
    return padded.view(np.uint64)
