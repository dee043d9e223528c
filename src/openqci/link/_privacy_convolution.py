"""Cyclic convolution of bit vectors in float64, by a cache-friendly four-step real FFT when long.

A real FFT of tens of millions of points runs at about twice the cost per point of one that fits in
the second-level cache. The four-step method (Bailey, J. Supercomputing 4, 23 (1990)) writes a transform
of ``L = R * C`` points as ``C``-point real transforms of the ``R`` strided subsequences
``x[n1 + R n2]``, a twiddle factor ``W_L^(n1 k2)``, and ``R``-point complex transforms along the other
axis, which leave ``X[k2 + C k1]`` at ``[k2, k1]``. A convolution needs no natural order: both spectra
share this layout, and the inverse runs the same steps backwards (``R``-point inverse transforms, the
conjugate twiddle, ``C``-point inverse real transforms, which are exact because each strided
subsequence of the real result is real). Transposes and twiddles are fused numba passes over tiles, and
the last pass reads only the wanted entries, rounds them and keeps their parity.

Short convolutions (up to :data:`FOUR_STEP_FROM` points) use one real FFT, which already fits in cache.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numba import njit
from numpy.typing import NDArray

__all__ = ["FOUR_STEP_FROM", "ConvolutionPlan", "bit_spectrum", "convolution_parities", "plan_convolution"]

FOUR_STEP_FROM = 1 << 18
"""Convolutions of more points than this run as four steps."""

_TILE = 16
_FINE_BITS = 12


@dataclass(frozen=True)
class ConvolutionPlan:
    """A cyclic convolution of ``rows * cols`` points; ``rows == 1`` is one plain real FFT."""

    rows: int
    cols: int

    @property
    def size(self) -> int:
        """Number of points of the cyclic convolution."""
        return self.rows * self.cols

    @property
    def spectrum_shape(self) -> tuple[int, ...]:
        """Shape of a spectrum in this plan's layout."""
        half = self.cols // 2 + 1
        return (half,) if self.rows == 1 else (half, self.rows)


def plan_convolution(min_size: int, *, four_step_from: int = FOUR_STEP_FROM) -> ConvolutionPlan:
    """The plan for a cyclic convolution of at least ``min_size`` points.

    Above ``four_step_from`` points ``rows`` is a fast FFT length a little below ``sqrt(min_size)``
    and ``cols`` the next fast real-FFT length that covers the rest. Rows of a power of two are
    avoided: strides of ``2^k`` bytes map the tiles of the transposing passes onto few cache sets
    (at 2^24 points, 3840 x 4374 ran those passes 1.4-2.5 times faster than 4096 x 4096).
    """
    if min_size <= four_step_from:
        return ConvolutionPlan(1, int(scipy.fft.next_fast_len(max(min_size, 1), real=True)))
    rows = int(scipy.fft.next_fast_len(math.isqrt(min_size) * 15 // 16))
    if rows & (rows - 1) == 0:
        rows = int(scipy.fft.next_fast_len(rows + 1))
    return ConvolutionPlan(rows, int(scipy.fft.next_fast_len(-(-min_size // rows), real=True)))


def bit_spectrum(bits: NDArray[np.bool_], plan: ConvolutionPlan) -> NDArray[np.complex128]:
    """The forward transform of ``bits`` (zero-padded to ``plan.size``) in the plan's layout."""
    if plan.rows == 1:
        return np.asarray(scipy.fft.rfft(bits.astype(np.float64), plan.cols, workers=1), np.complex128)
    strided = np.empty((plan.rows, plan.cols), dtype=np.float64)
    _spread(bits, strided)
    columns = scipy.fft.rfft(strided, axis=1, workers=1, overwrite_x=True)
    del strided
    coarse, fine = _twiddles(plan.size)
    rows = np.empty(plan.spectrum_shape, dtype=np.complex128)
    _twiddle_transpose(columns, coarse, fine, plan.size, False, rows)
    del columns
    return np.asarray(scipy.fft.fft(rows, axis=1, workers=1, overwrite_x=True), dtype=np.complex128)


def convolution_parities(
    bits: NDArray[np.bool_],
    spectrum: NDArray[np.complex128],
    plan: ConvolutionPlan,
    start: int,
    count: int,
) -> tuple[NDArray[np.bool_], float]:
    """Parities of entries ``start .. start + count`` of the cyclic convolution of ``bits`` and a seed.

    ``spectrum`` is :func:`bit_spectrum` of the seed under the same plan. Also returns the largest
    distance of those entries to the nearest integer, which the caller must check.
    """
    product = bit_spectrum(bits, plan)
    product *= spectrum
    parities = np.empty(count, dtype=np.bool_)
    if plan.rows == 1:
        sums = scipy.fft.irfft(product, plan.cols, overwrite_x=True, workers=1)
        return parities, float(_round_parities(sums.reshape(1, -1), 1, start, parities))
    rows = scipy.fft.ifft(product, axis=1, workers=1, overwrite_x=True)
    del product
    coarse, fine = _twiddles(plan.size)
    columns = np.empty((plan.rows, plan.cols // 2 + 1), dtype=np.complex128)
    _twiddle_transpose(rows, coarse, fine, plan.size, True, columns)
    del rows
    strided = scipy.fft.irfft(columns, plan.cols, axis=1, workers=1, overwrite_x=True)
    return parities, float(_round_parities(strided, plan.rows, start, parities))


@functools.lru_cache(maxsize=4)
def _twiddles(size: int) -> tuple[NDArray[np.complex128], NDArray[np.complex128]]:
    """``W_size^m = coarse[m >> 12] * fine[m & 4095]`` with ``W = exp(-2 pi i / size)``."""
    step = 1 << _FINE_BITS
    fine = np.exp(-2j * np.pi * np.arange(step) / size)
    coarse = np.exp(-2j * np.pi * (np.arange((size - 1) // step + 1) * step) / size)
    fine.flags.writeable = False
    coarse.flags.writeable = False
    return coarse, fine


@njit(cache=True, nogil=True)
def _spread(bits: NDArray[np.bool_], out: NDArray[np.float64]) -> None:  # pragma: no cover - numba
    """``out[n1, n2] = bits[n1 + rows * n2]`` (zero past the end), by tiles."""
    rows = out.shape[0]
    used = -(-bits.size // rows)
    out[:, used:] = 0.0
    for b2 in range(0, used, _TILE):
        for n1 in range(rows):
            for n2 in range(b2, min(b2 + _TILE, used)):
                i = n1 + rows * n2
                out[n1, n2] = 1.0 if i < bits.size and bits[i] else 0.0


@njit(cache=True, nogil=True)
def _twiddle_transpose(
    src: NDArray[np.complex128],
    coarse: NDArray[np.complex128],
    fine: NDArray[np.complex128],
    size: int,
    conjugate: bool,
    out: NDArray[np.complex128],
) -> None:  # pragma: no cover - numba
    """``out[j, i] = src[i, j] * W_size^(i j)`` (conjugate twiddle when asked), by tiles."""
    a, b = src.shape
    mask = (1 << _FINE_BITS) - 1
    for bi in range(0, a, _TILE):
        for bj in range(0, b, _TILE):
            for j in range(bj, min(bj + _TILE, b)):
                m = (bi * j) % size
                for i in range(bi, min(bi + _TILE, a)):
                    w = coarse[m >> _FINE_BITS] * fine[m & mask]
                    out[j, i] = src[i, j] * (w.conjugate() if conjugate else w)
                    m += j
                    if m >= size:
                        m -= size


@njit(cache=True, nogil=True)
def _round_parities(
    strided: NDArray[np.float64], rows: int, start: int, out: NDArray[np.bool_]
) -> float:  # pragma: no cover - numba
    """``out[t]`` = parity of the rounded entry ``i = start + t`` at ``strided[i % rows, i // rows]``.

    Returns the largest distance of a read entry to its nearest integer.
    """
    worst = 0.0
    first, last = start // rows, (start + out.size - 1) // rows + 1
    for b2 in range(first, last, _TILE):
        for n1 in range(rows):
            for n2 in range(b2, min(b2 + _TILE, last)):
                t = n1 + rows * n2 - start
                if 0 <= t < out.size:
                    value = strided[n1, n2]
                    nearest = np.rint(value)
                    worst = max(worst, abs(value - nearest))
                    out[t] = (np.int64(nearest) & 1) == 1
    return worst
