"""Privacy amplification by Toeplitz hashing, computed as one FFT convolution.

The ``l x n`` Toeplitz matrix ``T[j, i] = s[j - i + n - 1]`` is fixed by ``n + l - 1`` random seed bits
and forms a 2-universal family, so by the leftover hash lemma its output is epsilon-close to a uniform
key when ``l`` is the finite-key bound (Krawczyk, CRYPTO '94; Tomamichel et al., IEEE TIT 57, 5524
(2011)). The product ``T x`` is the middle of the linear convolution ``s * x``; a cyclic convolution of
length ``L >= n + l - 1`` only wraps terms onto indices below ``n - 1``, which are not read, so one real
FFT of size ``L`` (``scipy.fft.next_fast_len``, one worker, pocketfft's plan cache) does the work.

Exactness. Every output is an integer sum of at most ``min(n, l)`` products of bits, and only its
parity is kept, so the float64 result must round to the right integer. Percival's bound on the error of
an FFT convolution (Math. Comp. 72, 387 (2003), Theorem 5.1, radix 2, accurate twiddles) is about
``||s||_2 ||x||_2 (12 log2 L + 3) 2^-53``: about ``2^-20`` for ``n = 2^24``, ``l = 2^23``, far below the
1/2 that would flip a bit. The same bound in float32 exceeds 1/2 from ``n`` of about ``2^14``, so float32
is not used. pocketfft's mixed-radix transforms are in the same accuracy class, and every call checks
the distance of each output to the nearest integer and refuses results beyond 1/4 rather than
trusting the bound.

The seed's spectrum depends on the seed alone, so :func:`seed_spectrum` can be computed ahead (while
the block is still being reconciled) and reused by the other end when it received the same seed.

The CuPy path (``backend="cupy"``) runs the same convolution on a GPU and is imported only when asked.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.fft
from numpy.typing import NDArray

from openqci.link.errors import InvalidLinkParameterError, LinkError

__all__ = ["amplify_privacy", "seed_spectrum", "toeplitz_hash", "toeplitz_seed"]

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
    seed = toeplitz_seed(key.size, output_bits, rng=rng)
    return toeplitz_hash(key, seed, output_bits, backend=backend), seed


def toeplitz_seed(key_bits: int, output_bits: int, *, rng: np.random.Generator) -> NDArray[np.bool_]:
    """The ``key_bits + output_bits - 1`` random bits of a Toeplitz matrix, drawn as bytes from ``rng``."""
    if not 0 < output_bits <= key_bits:
        raise InvalidLinkParameterError(f"output_bits must lie in [1, {key_bits}], got {output_bits}")
    size = key_bits + output_bits - 1
    raw = np.frombuffer(rng.bytes((size + 7) // 8), dtype=np.uint8)
    return np.unpackbits(raw, count=size).view(np.bool_)


def seed_spectrum(seed: NDArray[np.bool_], key_bits: int, output_bits: int) -> NDArray[np.complex128]:
    """The real FFT of the seed at the convolution size of a ``key_bits`` to ``output_bits`` hash."""
    if seed.size != key_bits + output_bits - 1:
        raise InvalidLinkParameterError(
            f"the seed must hold {key_bits + output_bits - 1} bits, got {seed.size}"
        )
    size = _fft_size(key_bits, output_bits)
    return np.asarray(scipy.fft.rfft(seed.astype(np.float64), size, workers=1), dtype=np.complex128)


def toeplitz_hash(
    key: NDArray[np.bool_],
    seed: NDArray[np.bool_],
    output_bits: int,
    *,
    backend: Literal["cpu", "cupy"] = "cpu",
    spectrum: NDArray[np.complex128] | None = None,
) -> NDArray[np.bool_]:
    """``T x mod 2`` for the Toeplitz matrix ``T[j, i] = seed[j - i + n - 1]`` of ``output_bits`` rows.

    ``spectrum``, when given, is :func:`seed_spectrum` of this very seed, computed ahead.

    Raises
    ------
    InvalidLinkParameterError
        If the seed does not hold ``key.size + output_bits - 1`` bits, or the spectrum has the wrong size.
    """
    n = key.size
    if seed.size != n + output_bits - 1:
        raise InvalidLinkParameterError(f"the seed must hold {n + output_bits - 1} bits, got {seed.size}")
    size = _fft_size(n, output_bits)
    if backend == "cupy":
        sums = _convolve_cupy(key, seed, size)
    elif backend == "cpu":
        if spectrum is None:
            spectrum = seed_spectrum(seed, n, output_bits)
        if spectrum.size != size // 2 + 1:
            raise InvalidLinkParameterError("the seed spectrum does not match this key and output size")
        sums = _convolve_cpu(key, spectrum, size, n - 1, output_bits)
    else:
        raise InvalidLinkParameterError(f"unknown backend {backend!r}; choose cpu or cupy")
    middle = sums if backend == "cpu" else sums[n - 1 : n - 1 + output_bits]
    rounded = np.rint(middle)
    if output_bits and float(np.max(np.abs(middle - rounded))) > _ROUNDING_LIMIT:
        raise LinkError("FFT rounding too large for an exact Toeplitz product; use smaller blocks")
    return (rounded.astype(np.int64) & 1).astype(np.bool_)


def _fft_size(key_bits: int, output_bits: int) -> int:
    """Cyclic convolution length: the next fast real-FFT size from ``key_bits + output_bits - 1``."""
    return int(scipy.fft.next_fast_len(key_bits + output_bits - 1, real=True))


def _convolve_cpu(
    key: NDArray[np.bool_], spectrum: NDArray[np.complex128], size: int, start: int, count: int
) -> NDArray[np.float64]:
    """Entries ``start .. start + count`` of the cyclic convolution of the key with the seed, by real FFT."""
    product = scipy.fft.rfft(key.astype(np.float64), size, workers=1)
    product *= spectrum
    sums = scipy.fft.irfft(product, size, overwrite_x=True, workers=1)
    return np.asarray(sums[start : start + count], dtype=np.float64)


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
