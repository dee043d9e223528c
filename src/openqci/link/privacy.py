"""Privacy amplification by Toeplitz hashing, computed as one FFT convolution.

The ``l x n`` Toeplitz matrix ``T[j, i] = s[j - i + n - 1]`` is fixed by ``n + l - 1`` random seed bits
and forms a 2-universal family, so by the leftover hash lemma its output is epsilon-close to a uniform
key when ``l`` is the finite-key bound (Krawczyk, CRYPTO '94; Tomamichel et al., IEEE TIT 57, 5524
(2011)). The product ``T x`` is the middle of the linear convolution ``s * x``; a cyclic convolution of
length ``L >= n + l - 1`` only wraps terms onto indices below ``n - 1``, which are not read, so one real
FFT of size ``L`` (rounded up to a fast size) does the work. Sums reach at most ``min(n, l)``: float64
FFT rounding stays far below 1/2 at these sizes, and every call checks the distance to the nearest
integer rather than trusting it.

The CuPy path (``backend="cupy"``) runs the same convolution on a GPU and is imported only when asked.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from openqci.link.errors import InvalidLinkParameterError, LinkError

__all__ = ["amplify_privacy", "toeplitz_hash"]

_ROUNDING_LIMIT = 0.25


def amplify_privacy(
    key: NDArray[np.bool_],
    output_bits: int,
    *,
    rng: np.random.Generator,
    backend: Literal["cpu", "cupy"] = "cpu",
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Compress ``key`` to ``output_bits`` bits with a fresh Toeplitz matrix drawn from ``rng``.

    Returns the final key and the public seed (``key.size + output_bits - 1`` bits) that the other end
    needs to compute the same hash.
    """
    if not 0 < output_bits <= key.size:
        raise InvalidLinkParameterError(f"output_bits must lie in [1, {key.size}], got {output_bits}")
    seed = rng.integers(0, 2, size=key.size + output_bits - 1, dtype=np.uint8).view(np.bool_)
    return toeplitz_hash(key, seed, output_bits, backend=backend), seed


def toeplitz_hash(
    key: NDArray[np.bool_],
    seed: NDArray[np.bool_],
    output_bits: int,
    *,
    backend: Literal["cpu", "cupy"] = "cpu",
) -> NDArray[np.bool_]:
    """``T x mod 2`` for the Toeplitz matrix ``T[j, i] = seed[j - i + n - 1]`` of ``output_bits`` rows.

    Raises
    ------
    InvalidLinkParameterError
        If the seed does not hold ``key.size + output_bits - 1`` bits.
    """
    n = key.size
    if seed.size != n + output_bits - 1:
        raise InvalidLinkParameterError(f"the seed must hold {n + output_bits - 1} bits, got {seed.size}")
    size = scipy.fft.next_fast_len(n + output_bits - 1, real=True)
    if backend == "cupy":
        sums = _convolve_cupy(key, seed, size)
    elif backend == "cpu":
        sums = _convolve_cpu(key, seed, size)
    else:
        raise InvalidLinkParameterError(f"unknown backend {backend!r}; choose cpu or cupy")
    middle = sums[n - 1 : n - 1 + output_bits]
    rounded = np.rint(middle)
    if output_bits and float(np.max(np.abs(middle - rounded))) > _ROUNDING_LIMIT:
        raise LinkError("FFT rounding too large for an exact Toeplitz product; use smaller blocks")
    return (rounded.astype(np.int64) & 1).astype(np.bool_)


def _convolve_cpu(key: NDArray[np.bool_], seed: NDArray[np.bool_], size: int) -> NDArray[np.float64]:
    """Cyclic convolution of the two bit strings, as float64, by real FFT."""
    spectrum = scipy.fft.rfft(key.astype(np.float64), size)
    spectrum *= scipy.fft.rfft(seed.astype(np.float64), size)
    return np.asarray(scipy.fft.irfft(spectrum, size, overwrite_x=True), dtype=np.float64)


def _convolve_cupy(key: NDArray[np.bool_], seed: NDArray[np.bool_], size: int) -> NDArray[np.float64]:
    """The same convolution on a GPU with CuPy."""
    try:
        import cupy
    except ImportError:
        raise InvalidLinkParameterError(
            "the cupy backend needs CuPy and a CUDA GPU: pip install cupy-cuda12x"
        ) from None
    spectrum = cupy.fft.rfft(cupy.asarray(key, dtype=cupy.float64), size)
    spectrum *= cupy.fft.rfft(cupy.asarray(seed, dtype=cupy.float64), size)
    return np.asarray(cupy.asnumpy(cupy.fft.irfft(spectrum, size)), dtype=np.float64)
