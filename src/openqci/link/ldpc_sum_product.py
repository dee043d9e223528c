"""Sum-product check-node update for the layered LDPC decoder, in a form the compiler turns into SIMD code.

The check rule is the exact one of belief propagation written with Gallager's function
``phi(x) = -ln tanh(x / 2)``, which is its own inverse: the magnitude of the message to edge ``j`` is
``phi(sum over i != j of phi(|q_i|))`` and its sign the parity of the other inputs (Gallager 1963; Ryan,
Lin, "Channel codes", 2009, section 5.4). Summing ``phi`` once per check and subtracting each edge's own
term makes the cost linear in the check degree.

``phi`` is evaluated without calls into the maths library, which would keep the lane loops scalar: ``e^-x``
from a power of two assembled in the exponent bits and a polynomial for the fraction, and ``ln`` from the
exponent bits and the series ``ln m = 2 atanh((m - 1) / (m + 1))`` on a mantissa in ``[1/sqrt 2, sqrt 2)``.
Both are accurate to about 1e-7 relative over the range used, and the series keeps small values of
``phi`` (reliable inputs) accurate in relative terms. Inputs are clipped to ``[PHI_MIN_INPUT, 30]``, so
``phi`` stays below 16.8; in float32 ``phi`` rounds to 0 above about 16.6, so message magnitudes saturate
near 16.8 (a probability of error of 5e-8).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

__all__ = ["PHI_MIN_INPUT", "phi", "sweep_lanes_sum_product", "update_check_sum_product"]

PHI_MIN_INPUT = np.float32(1.0e-7)
_MAX_INPUT = np.float32(30.0)
_LOG2E = np.float32(1.4426950408889634)
_LN2 = np.float32(0.6931471805599453)
_SQRT2 = np.float32(1.4142135623730951)


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


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _exp_minus(x: np.float32) -> np.float32:
    """``e^-x`` for ``x`` in ``[0, 87]``: ``2^k`` from exponent bits times ``e^u``, ``|u| <= ln 2 / 2``."""
    y = -x * _LOG2E
    k = np.floor(y)
    u = (y - k - np.float32(0.5)) * _LN2
    poly = np.float32(1.0) + u * (
        np.float32(1.0)
        + u
        * (
            np.float32(0.5)
            + u
            * (
                np.float32(1.0 / 6.0)
                + u * (np.float32(1.0 / 24.0) + u * (np.float32(1.0 / 120.0) + u * np.float32(1.0 / 720.0)))
            )
        )
    )
    exponent = np.int32((np.int32(k) + np.int32(127)) << np.int32(23))
    scale: np.float32 = _float_of(exponent)  # type: ignore[call-arg]
    return np.float32(poly * _SQRT2 * scale)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _ln(z: np.float32) -> np.float32:
    """Natural logarithm of a positive normal float32."""
    bits: np.int32 = _bits_of(z)  # type: ignore[call-arg]
    k = np.float32((bits >> np.int32(23)) - np.int32(127))
    mantissa = np.int32((bits & np.int32(0x7FFFFF)) | np.int32(0x3F800000))
    m: np.float32 = _float_of(mantissa)
    big = m > _SQRT2
    m = m * np.float32(0.5) if big else m
    k = k + np.float32(1.0) if big else k
    s = (m - np.float32(1.0)) / (m + np.float32(1.0))
    s2 = s * s
    series = s * (
        np.float32(2.0)
        + s2 * (np.float32(2.0 / 3.0) + s2 * (np.float32(2.0 / 5.0) + s2 * np.float32(2.0 / 7.0)))
    )
    return np.float32(k * _LN2 + series)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def phi(x: np.float32) -> np.float32:
    """Gallager's ``phi(x) = ln((1 + e^-x) / (1 - e^-x))`` for ``x >= 0``, input clipped to ``[1e-7, 30]``.

    ``phi(x) = 2 atanh(e^-x)``: above ``x = 1.77`` from the series of atanh (float32 division would lose
    the small values), below 1/64 with ``1 - e^-x`` from its series (float32 subtraction would lose it).
    """
    x = min(max(x, PHI_MIN_INPUT), _MAX_INPUT)
    e = _exp_minus(x)
    below = x * (np.float32(1.0) - x * (np.float32(0.5) - x * np.float32(1.0 / 6.0)))
    below = below if x < np.float32(1.0 / 64.0) else np.float32(1.0) - e
    e2 = e * e
    series = e * (
        np.float32(2.0)
        + e2 * (np.float32(2.0 / 3.0) + e2 * (np.float32(2.0 / 5.0) + e2 * np.float32(2.0 / 7.0)))
    )
    return series if e < np.float32(0.17) else _ln((np.float32(1.0) + e) / below)


@numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def update_check_sum_product(
    first: int,
    stop: int,
    col_idx: NDArray[np.int32],
    syndrome_bit: bool,
    state: tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]],
) -> int:
    """One layer of the scalar path: refresh the check on edges ``first:stop``; 1 if it was unsatisfied."""
    llr, messages, scratch = state
    total = np.float32(0.0)
    parity = syndrome_bit
    hard = syndrome_bit
    for j in range(stop - first):
        posterior = llr[col_idx[first + j]]
        hard ^= posterior < 0
        q = posterior - messages[first + j]
        parity ^= q < 0
        scratch[j] = q
        total += phi(abs(q))
    for j in range(stop - first):
        q = scratch[j]
        own = phi(abs(q))
        message = phi(max(total - own, np.float32(0.0)))
        message = -message if parity ^ (q < 0) else message
        messages[first + j] = message
        llr[col_idx[first + j]] = q + message
    return 1 if hard else 0


@numba.njit(cache=True, nogil=True, error_model="numpy")
def sweep_lanes_sum_product(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    lanes: tuple[
        NDArray[np.float32],
        NDArray[np.float32],
        NDArray[np.float32],
        NDArray[np.int64],
        NDArray[np.int64],
        NDArray[np.float32],
    ],
    unsatisfied: NDArray[np.int64],
) -> None:
    """One layered sum-product iteration over every lane; counts per lane the checks found unsatisfied.

    The lane layout is that of :mod:`openqci.link.ldpc_decoder`. One body for the reason given there: the
    per-lane accumulators must be arrays allocated here and the lane count an array shape for the lane
    loops to become SIMD code. ``phi`` of every input is kept, so each edge costs two ``phi``.
    """
    llr, messages, signs, reuse = lanes[0], lanes[1], lanes[2], lanes[5]
    width = llr.shape[1]
    max_row = int(np.max(np.diff(row_ptr)))
    inputs = np.empty((max_row, width), dtype=np.float32)
    phis = np.empty((max_row, width), dtype=np.float32)
    total, sign, hard = (
        np.empty(width, np.float32),
        np.empty(width, np.float32),
        np.empty(width, np.float32),
    )
    for c in range(row_ptr.size - 1):
        first = row_ptr[c]
        for f in range(width):
            total[f] = np.float32(0.0)
            sign[f], hard[f] = signs[c, f], signs[c, f]
        for j in range(row_ptr[c + 1] - first):
            v, e = col_idx[first + j], first + j
            for f in range(width):
                posterior = llr[v, f]
                q = posterior - messages[e, f] * reuse[f]
                inputs[j, f] = q
                hard[f] = -hard[f] if posterior < 0 else hard[f]
                sign[f] = -sign[f] if q < 0 else sign[f]
                own = phi(abs(q))
                phis[j, f] = own
                total[f] += own
        for f in range(width):
            unsatisfied[f] += hard[f] < 0
        for j in range(row_ptr[c + 1] - first):
            v, e = col_idx[first + j], first + j
            for f in range(width):
                q = inputs[j, f]
                message = phi(max(total[f] - phis[j, f], np.float32(0.0)))
                message = -message if (q < 0) != (sign[f] < 0) else message
                messages[e, f] = message
                llr[v, f] = q + message
    reuse[:] = 1.0
