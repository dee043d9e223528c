"""Sum-product check-node update of the layered LDPC decoder's scalar path (a few frames at a time).

Many frames at a time go through :mod:`openqci.link._sum_product_lanes`, the same rule on lane vectors.

The check rule is the exact one of belief propagation written as the tanh rule: with ``t_i = tanh(|q_i| / 2)``
of the inputs, the magnitude of the message to edge ``j`` is ``2 atanh(prod over i != j of t_i)`` and its
sign the parity of the other inputs (Gallager 1963; Ryan, Lin, "Channel codes", 2009, section 5.4). The
product is taken once per check and each edge's own factor divided out, so the cost is linear in the check
degree. Per edge this is one ``e^-x``, one logarithm and three divisions (``t_i`` and ``1 / t_i`` share
one), against two evaluations of Gallager's ``phi`` (two of each, and four divisions) in the phi-sum form.

The maths runs without calls into the maths library, integer shifts or branches: ``e^-x`` is ``2^k``
(exponent bits built from ``k + 127`` times ``2^23`` as a float, then reinterpreted) times a degree-4
polynomial; ``ln z`` takes the exponent from the masked bits converted to float and the series ``ln m = 2
atanh((m - 1) / (m + 1))`` on a mantissa in ``[1/sqrt 2, sqrt 2)``. Both are accurate to about 1e-4
relative, far below what changes a decision. Inputs are clipped to ``|q| <= 30`` and ``t >= 1e-7``, the
product is kept above 1e-30 (no subnormal arithmetic, which is slow), and ``prod / t_j`` below 1 - 2^-24, so
message magnitudes saturate at about 17 (error probability 4e-8).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = [
    "exp_minus",
    "log_positive",
    "prefetch_row",
    "update_check_sum_product",
]

_MAX_INPUT = np.float32(30.0)
_MIN_FACTOR = np.float32(1.0e-7)
_MIN_PRODUCT = np.float32(1.0e-30)
_MAX_RATIO = np.float32(0.99999994)
_LOG2E = np.float32(1.4426950408889634)
_LN2 = np.float32(0.6931471805599453)
_SQRT2 = np.float32(1.4142135623730951)
_TWO23 = np.float32(8388608.0)
_ONE = np.float32(1.0)
_FLOATS_PER_LINE = 16  # float32 values per 64-byte cache line


@intrinsic
def _bits_of(typingctx: Any, value: Any) -> Any:
    """The IEEE-754 bits of a float32 as an int32 (a register reinterpretation, no memory access)."""
    if value != types.float32:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(types.int32))

    return types.int32(types.float32), codegen


@intrinsic
def _float_of(typingctx: Any, value: Any) -> Any:
    """The float32 whose IEEE-754 bits are the given int32."""
    if value != types.int32:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], context.get_value_type(types.float32))

    return types.float32(types.int32), codegen


@intrinsic
def _prefetch(typingctx: Any, array: Any, flat_index: Any) -> Any:
    """Ask the CPU to bring element ``flat_index`` of a C-contiguous array into cache (values unchanged)."""
    if not isinstance(array, types.Array) or not isinstance(flat_index, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        from llvmlite import ir

        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        address = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        llvm_prefetch = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [address.type, i32, i32, i32])
        )
        # read access, high temporal locality, data cache
        builder.call(llvm_prefetch, [address, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, types.intp), codegen


@numba.njit(cache=True, nogil=True, inline="always")
def prefetch_row(llr: NDArray[np.float32], col_idx: NDArray[np.int32], edge: int) -> None:  # pragma: no cover
    """Start fetching the lane row of the bit on ``edge`` (if there is such an edge), a cache line at a time.

    The posteriors of a check's bits sit in rows scattered over a table larger than the second-level
    cache; the min-sum lane sweep asks for the next check's rows while this one computes, which hides most
    of that latency (the former sum-product lane sweep ran 1.4 times faster with it on 131,072-bit codes).
    """
    if edge < col_idx.size:
        width = llr.shape[1]
        for f in range(0, width, _FLOATS_PER_LINE):
            _prefetch(llr, col_idx[edge] * width + f)  # type: ignore[call-arg]


@numba.njit(cache=True, nogil=True, inline="always", fastmath=True, error_model="numpy")
def exp_minus(x: np.float32) -> np.float32:
    """``e^-x`` for ``x`` in ``[0, 87]``: ``2^k`` from exponent bits times ``e^u``, ``|u| <= ln 2 / 2``."""
    y = -x * _LOG2E
    k = np.floor(y)
    u = (y - k - np.float32(0.5)) * _LN2
    poly = _ONE + u * (
        _ONE + u * (np.float32(0.5) + u * (np.float32(1.0 / 6.0) + u * np.float32(1.0 / 24.0)))
    )
    scale: np.float32 = _float_of(np.int32((k + np.float32(127.0)) * _TWO23))  # type: ignore[call-arg]
    return np.float32(poly * _SQRT2 * scale)


@numba.njit(cache=True, nogil=True, inline="always", fastmath=True, error_model="numpy")
def log_positive(z: np.float32) -> np.float32:
    """Natural logarithm of a positive normal float32."""
    bits: np.int32 = _bits_of(z)  # type: ignore[call-arg]
    k = np.float32(np.int32(bits & np.int32(0x7F800000))) / _TWO23 - np.float32(127.0)
    m: np.float32 = _float_of(np.int32((bits & np.int32(0x7FFFFF)) | np.int32(0x3F800000)))
    big = m > _SQRT2
    m = m * np.float32(0.5) if big else m
    k = k + _ONE if big else k
    s = (m - _ONE) / (m + _ONE)
    s2 = s * s
    series = s * (np.float32(2.0) + s2 * (np.float32(2.0 / 3.0) + s2 * np.float32(2.0 / 5.0)))
    return np.float32(k * _LN2 + series)


@numba.njit(cache=True, nogil=True, inline="always", fastmath=True, error_model="numpy")
def _factors(q: np.float32) -> tuple[np.float32, np.float32]:
    """``tanh(|q| / 2)`` (at least 1e-7 / 2) and its inverse, from one division."""
    x = exp_minus(min(abs(q), _MAX_INPUT))
    low = max(_ONE - x, _MIN_FACTOR)
    high = _ONE + x
    r = _ONE / (low * high)
    return np.float32(low * low * r), np.float32(high * high * r)


@numba.njit(cache=True, nogil=True, inline="always", fastmath=True, error_model="numpy")
def _message(product: np.float32, inverse: np.float32, negative: bool) -> np.float32:
    """``+-2 atanh(product / t_j)``, the product of the other factors clipped below 1."""
    ratio = min(product * inverse, _MAX_RATIO)
    magnitude = log_positive((_ONE + ratio) / (_ONE - ratio))
    return -magnitude if negative else magnitude


@numba.njit(cache=True, nogil=True, inline="always", fastmath=True, error_model="numpy")
def update_check_sum_product(
    first: int,
    stop: int,
    col_idx: NDArray[np.int32],
    syndrome_bit: bool,
    state: tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]],
) -> int:
    """One layer of the scalar path: refresh the check on edges ``first:stop``; 1 if it was unsatisfied.

    ``state[2]`` holds two rows of scratch: the inputs, then the inverse factors.
    """
    llr, messages, scratch = state
    degree = stop - first
    product = _ONE
    parity = syndrome_bit
    hard = syndrome_bit
    for j in range(degree):
        posterior = llr[col_idx[first + j]]
        hard ^= posterior < 0
        q = posterior - messages[first + j]
        parity ^= q < 0
        scratch[j] = q
        factor, scratch[degree + j] = _factors(q)
        product = max(product * factor, _MIN_PRODUCT)
    for j in range(degree):
        q = scratch[j]
        message = _message(product, scratch[degree + j], parity ^ (q < 0))
        messages[first + j] = message
        llr[col_idx[first + j]] = q + message
    return 1 if hard else 0
