"""GF(2) Toeplitz matrix-vector products by carry-less multiplication and Karatsuba's recursion.

The FFT computes the product over the integers and keeps parities, so it spends a float64 point per
bit. Over GF(2) the product is a window (a *middle product*) of a polynomial product that carry-less
multiplication computes 64 bits at a time; PCLMULQDQ does one 64 x 64-bit product per instruction,
VPCLMULQDQ two (256-bit vectors) or four (AVX-512). A square Toeplitz block of ``n`` words splits
into halves ``[[A, B], [C, A]]``, and ``y_top = A (x0 + x1) + (A + B) x1``,
``y_bottom = A (x0 + x1) + (A + C) x0``: three half-size Toeplitz products, whose seeds are sums of
windows of the parent's seed (the transposed Karatsuba algorithm; Bostan, Lecerf and Schost, ISSAC
2003, on the transposition principle). The recursion stops at leaves of two to eight vectors
(:func:`leaf_sizes`, :func:`leaf_words`), each one straight-line code that LLVM receives as vector
instructions; ``benchmarks/bench_postprocess.py`` measures it against the four-step FFT in one run.

Word-level contract of a block of ``n`` words: with the seed window ``s`` of ``2n`` words (bit ``a``
of the window is coefficient ``a`` of a polynomial ``S``), ``y`` is coefficients ``64n .. 128n - 1`` of
``S * X``, that is ``y_i = XOR_j s_{64n + i - j} x_j``; :func:`toeplitz_product` builds each block's
window from the caller's seed so that this is the caller's matrix.

Every x86-64 CPU since 2010 has PCLMULQDQ; :data:`VECTOR_WORDS` lists the widths this host runs
(numba must target the host CPU). Which width and which largest leaf (:data:`LEAF_VECTORS`) run
fastest depends on the CPU, so :mod:`openqci.link._hash_backend` measures them, and
:mod:`openqci.link.privacy` falls back to the FFT where there is none (other architectures). Hashing
2^24 bits to 2^23 ran at 180-200 Mbit/s with 512-bit vectors, 160 with 256-bit and 107-110 with
128-bit ones on the Intel development machine (eight-vector leaves), where the four-step FFT runs at
about 40 Mbit/s; on an AMD EPYC (Zen 4), 512-bit vectors ran 57-58 Mbit/s with eight-vector leaves
and 99-109 with two-vector ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numpy.typing import NDArray

from openqci._jit_target import target_features

__all__ = [
    "AVAILABLE",
    "LEAF_VECTORS",
    "VECTOR_WORDS",
    "block_words",
    "leaf_sizes",
    "leaf_words",
    "toeplitz_product",
]

_INTRINSICS = {8: "llvm.x86.pclmulqdq.512", 4: "llvm.x86.pclmulqdq.256", 2: "llvm.x86.pclmulqdq"}
"""The carry-less multiplication over a vector of 2, 4 or 8 words: 1, 2 or 4 products of 64 x 64 bits."""

_GUARD = 8  # words before a seed window that a leaf may read (and discard): one vector at most


def _host_vector_words() -> tuple[int, ...]:
    """Vector widths (in 64-bit words) whose carry-less multiplication this host runs, widest first."""
    if getattr(numba.config, "CPU_NAME", None) not in (None, "host"):  # numba told to compile for another CPU
        return ()
    features = target_features()
    widths = []
    if {"vpclmulqdq", "avx512f"} <= features:
        widths.append(8)
    if {"vpclmulqdq", "avx"} <= features:
        widths.append(4)
    if "pclmul" in features:
        widths.append(2)
    return tuple(widths)


VECTOR_WORDS = _host_vector_words()
"""Widths this host can run: 8 words with AVX-512 VPCLMULQDQ, 4 with AVX VPCLMULQDQ, 2 with PCLMULQDQ."""

AVAILABLE = bool(VECTOR_WORDS)
"""Whether this host can run the carry-less product at all."""


def _leaf_codegen(lanes: int) -> Callable[..., Any]:
    """LLVM IR of the leaves: ``y[0 .. words)`` of a ``words``-word block, fully unrolled per leaf size.

    ``lanes`` is the vector width in words. For each ``x_j`` the seed words ``s[words - j + lanes c ..)``
    are multiplied by ``x_j`` in one instruction per parity of the word index: the even words' 128-bit
    products land exactly on output words ``lanes c ..``; the odd words' land one word higher, so they
    are summed apart and shifted into place once at the end. Chunk ``c = -1`` supplies the single odd
    product that reaches word 0; its other lanes read up to :data:`_GUARD` words before the window and
    are discarded. A switch on ``words`` picks the unrolled code of each size of :func:`leaf_sizes`.
    """
    i64, i32, i8 = ir.IntType(64), ir.IntType(32), ir.IntType(8)
    vector = ir.VectorType(i64, lanes)

    def codegen(context: Any, builder: ir.IRBuilder, signature: Any, args: Any) -> Any:
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        clmul = builder.module.declare_intrinsic(
            _INTRINSICS[lanes], fnty=ir.FunctionType(vector, [vector, vector, i8])
        )
        y_at, s_at, x_at, words_given = args[1], args[2], args[3], args[4]

        def vector_at(offset: ir.Value) -> ir.Value:
            return builder.bitcast(builder.gep(data, [offset]), vector.as_pointer())

        def unrolled(words: int) -> None:
            chunks = words // lanes  # at most 8: the 17 sums stay in registers
            zero = ir.Constant(vector, [0] * lanes)
            broadcast = ir.Constant(ir.VectorType(i32, lanes), [0] * lanes)
            even = {c: zero for c in range(chunks)}
            odd = {c: zero for c in range(-1, chunks)}  # chunk -1 feeds word 0
            for j in range(words):
                x_j = builder.load(builder.gep(data, [builder.add(x_at, ir.Constant(i64, j))]))
                lone = builder.insert_element(ir.Constant(vector, ir.Undefined), x_j, ir.Constant(i32, 0))
                x_vector = builder.shuffle_vector(lone, ir.Constant(vector, ir.Undefined), broadcast)
                for c in range(-1, chunks):
                    at = builder.add(s_at, ir.Constant(i64, words - j + lanes * c))
                    seed = builder.load(vector_at(at), align=8)
                    if c >= 0:
                        even[c] = builder.xor(
                            even[c], builder.call(clmul, [seed, x_vector, ir.Constant(i8, 0x00)])
                        )
                    odd[c] = builder.xor(odd[c], builder.call(clmul, [seed, x_vector, ir.Constant(i8, 0x01)]))
            up_one_word = ir.Constant(ir.VectorType(i32, lanes), list(range(lanes - 1, 2 * lanes - 1)))
            for c in range(chunks):
                shifted = builder.shuffle_vector(odd[c - 1], odd[c], up_one_word)
                target = vector_at(builder.add(y_at, ir.Constant(i64, lanes * c)))
                builder.store(builder.xor(even[c], shifted), target, align=8)

        done = builder.append_basic_block("leaf_done")
        switch = builder.switch(words_given, done)
        for words in leaf_sizes(lanes):
            case = builder.append_basic_block(f"leaf_{words}")
            switch.add_case(ir.Constant(words_given.type, words), case)
            builder.position_at_end(case)
            unrolled(words)
            builder.branch(done)
        builder.position_at_end(done)
        return context.get_dummy_value()

    return codegen


def _leaf(lanes: int) -> Any:
    """The leaves for vectors of ``lanes`` words as a numba intrinsic ``leaf(work, y, s, x, words)``."""

    def typer(typingctx: Any, work: Any, y_at: Any, s_at: Any, x_at: Any, words: Any) -> Any:
        return types.void(work, types.intp, types.intp, types.intp, types.intp), _leaf_codegen(lanes)

    return intrinsic(typer)


_leaf_512, _leaf_256, _leaf_128 = _leaf(8), _leaf(4), _leaf(2)


@njit(boundscheck=False, inline="always")
def _xor_into(work: NDArray[np.uint64], out: int, a: int, b: int, count: int) -> None:  # pragma: no cover
    target, left, right = work[out : out + count], work[a : a + count], work[b : b + count]
    for i in range(count):
        target[i] = left[i] ^ right[i]


@njit(boundscheck=False, inline="always")
def _split(
    work: NDArray[np.uint64], s: int, x: int, h: int, free: int
) -> tuple[int, int, int, int, int]:  # pragma: no cover - numba
    """Lay out one level's scratch and fill it: ``x0 + x1``, the seeds of ``A + B`` and ``A + C``.

    Returns the offsets of the summed vector, the two seeds, the middle product and the next level's
    scratch. A block's scratch needs ``6 n + 16 k`` words for ``k`` levels below it.
    """
    summed_x = free
    seed_ab = free + h + _GUARD
    seed_ac = seed_ab + 2 * h + _GUARD
    middle = seed_ac + 2 * h
    _xor_into(work, summed_x, x, x + h, h)
    _xor_into(work, seed_ab, s + h, s, 2 * h)
    _xor_into(work, seed_ac, s + h, s + 2 * h, 2 * h)
    return summed_x, seed_ab, seed_ac, middle, middle + h


@njit(boundscheck=False, inline="always")
def _join(work: NDArray[np.uint64], y: int, middle: int, h: int) -> None:  # pragma: no cover - numba
    """``y_top += A (x0 + x1)``, ``y_bottom += A (x0 + x1)``."""
    _xor_into(work, y, y, middle, h)
    _xor_into(work, y + h, y + h, middle, h)


# One recursion per vector width: a function calling a width's instructions compiles only on hosts that
# have them, so the three are kept apart (same body, different leaves).


@njit(boundscheck=False, cache=True)
def _block_512(
    work: NDArray[np.uint64], y: int, s: int, x: int, n: int, free: int, leaf: int
) -> None:  # pragma: no cover - numba
    """``work[y : y + n]`` = the block of seed window ``work[s : s + 2n]`` times ``work[x : x + n]``."""
    if n <= leaf:
        _leaf_512(work, y, s, x, leaf)
        return
    h = n // 2
    summed_x, seed_ab, seed_ac, middle, deeper = _split(work, s, x, h, free)
    _block_512(work, y, seed_ab, x + h, h, deeper, leaf)  # (A + B) x1
    _block_512(work, y + h, seed_ac, x, h, deeper, leaf)  # (A + C) x0
    _block_512(work, middle, s + h, summed_x, h, deeper, leaf)  # A (x0 + x1)
    _join(work, y, middle, h)


@njit(boundscheck=False, cache=True)
def _block_256(
    work: NDArray[np.uint64], y: int, s: int, x: int, n: int, free: int, leaf: int
) -> None:  # pragma: no cover - numba
    """:func:`_block_512` with 256-bit carry-less multiplications."""
    if n <= leaf:
        _leaf_256(work, y, s, x, leaf)
        return
    h = n // 2
    summed_x, seed_ab, seed_ac, middle, deeper = _split(work, s, x, h, free)
    _block_256(work, y, seed_ab, x + h, h, deeper, leaf)
    _block_256(work, y + h, seed_ac, x, h, deeper, leaf)
    _block_256(work, middle, s + h, summed_x, h, deeper, leaf)
    _join(work, y, middle, h)


@njit(boundscheck=False, cache=True)
def _block_128(
    work: NDArray[np.uint64], y: int, s: int, x: int, n: int, free: int, leaf: int
) -> None:  # pragma: no cover - numba
    """:func:`_block_512` with 128-bit carry-less multiplications (PCLMULQDQ, every x86-64 since 2010)."""
    if n <= leaf:
        _leaf_128(work, y, s, x, leaf)
        return
    h = n // 2
    summed_x, seed_ab, seed_ac, middle, deeper = _split(work, s, x, h, free)
    _block_128(work, y, seed_ab, x + h, h, deeper, leaf)
    _block_128(work, y + h, seed_ac, x, h, deeper, leaf)
    _block_128(work, middle, s + h, summed_x, h, deeper, leaf)
    _join(work, y, middle, h)


_BLOCKS = {8: _block_512, 4: _block_256, 2: _block_128}


LEAF_VECTORS = (8, 4, 2)
"""The largest leaves, in vectors, that the recursion may be told to stop at (``leaf_vectors``)."""


def leaf_sizes(lanes: int) -> tuple[int, ...]:
    """Leaf sizes in words for vectors of ``lanes`` words: two to eight vectors.

    Blocks are cut to leaves of four to eight vectors (:func:`block_words`: five sizes a vector apart keep
    the padding of a block under a quarter), and the recursion may go on halving the even ones to two or
    three vectors. Which is fastest depends on the CPU: on an Intel development machine 128-bit vectors
    ran fastest with 8-16-word leaves, 256-bit with 16-32 and 512-bit with 32-64 (eight vectors), while an
    AMD EPYC whose AVX-512 unit splits 512-bit instructions ran 512-bit vectors fastest with 16-word
    leaves (two vectors) and 128-bit ones with four; :mod:`openqci.link._hash_backend` measures.
    """
    return tuple(lanes * vectors for vectors in range(2, 9))


def block_words(min_words: int, lanes: int) -> int:
    """The smallest block size ``leaf * 2^k >= min_words`` with a leaf of four to eight vectors."""
    sizes = leaf_sizes(lanes)[2:]
    if min_words <= sizes[0]:
        return sizes[0]
    doublings = max(0, math.ceil(math.log2(min_words / sizes[-1])))
    leaf = next(size for size in sizes if size << doublings >= min_words)
    return leaf << doublings


def leaf_words(words: int, lanes: int, most_vectors: int = LEAF_VECTORS[0]) -> int:
    """The leaf a block of :func:`block_words` words recurses down to: halved while it is over
    ``most_vectors`` vectors and an even number of them (blocks of five or seven vectors times a power
    of two stop at five or seven)."""
    while words > most_vectors * lanes and words % (2 * lanes) == 0:
        words //= 2
    return words


def toeplitz_product(
    seed: NDArray[np.bool_],
    vector: NDArray[np.bool_],
    rows: int,
    offset: int,
    *,
    vector_words: int | None = None,
    leaf_vectors: int | None = None,
) -> NDArray[np.bool_]:
    """``y_i = XOR_j seed[i - j + offset] vector[j]`` for ``i < rows``; seed indices out of range read 0.

    The ``rows x vector.size`` matrix is cut into square blocks of ``Q`` bits along its longer side
    (``Q`` covers the shorter one), each block a product of :func:`block_words` words. ``vector_words``
    picks a width of :data:`VECTOR_WORDS` (default: the widest), ``leaf_vectors`` one of
    :data:`LEAF_VECTORS`, the largest leaf (:func:`leaf_words`; default: the largest); the result is
    the same for all.
    """
    if not VECTOR_WORDS:
        raise RuntimeError("the carry-less product needs an x86-64 CPU with PCLMULQDQ")
    width = VECTOR_WORDS[0] if vector_words is None else vector_words
    if width not in VECTOR_WORDS:
        raise RuntimeError(f"this host runs carry-less vectors of {VECTOR_WORDS} words, not {width}")
    most = LEAF_VECTORS[0] if leaf_vectors is None else leaf_vectors
    if most not in LEAF_VECTORS:
        raise RuntimeError(f"leaves of {LEAF_VECTORS} vectors at most are compiled, not {most}")
    block = _BLOCKS[width]
    columns = vector.size
    words = block_words(-(-min(rows, columns) // 64), width)
    bits = 64 * words
    leaf = leaf_words(words, width, most)
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
            block(work, y_at, seed_at, x_at, words, free, leaf)
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
