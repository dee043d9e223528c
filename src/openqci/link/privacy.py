"""Privacy amplification by Toeplitz hashing: carry-less GF(2) arithmetic, or an exact float64 FFT.

Two 2-universal families are offered (:class:`ToeplitzFamily`). The ``l x n`` Toeplitz matrix
``T[j, i] = s[j - i + n - 1]`` takes ``n + l - 1`` seed bits (Krawczyk, CRYPTO '94). The modified
Toeplitz matrix ``[I_l | T']``, with ``T'[j, i] = s[j - i + m - 1]`` an ``l x m`` Toeplitz matrix and
``m = n - l``, takes ``n - 1`` seed bits (Hayashi and Tsurumaru, IEEE TIT 62, 2213 (2016), Sec. VI):
two inputs differing by ``(d_1, d_2)`` collide when ``d_1 = T' d_2``, which never happens for
``d_2 = 0, d_1 != 0`` and has probability ``2^-l`` otherwise, since ``T' d_2`` is uniform for a uniform
seed and ``d_2 != 0``. So both are universal_2, the leftover hash lemma holds for either, and the
output length of the finite-key bound (Lim et al., PRA 89, 022307 (2014), Eq. (2), built on that
lemma; Tomamichel et al., IEEE TIT 57, 5524 (2011)) is secure for both: the session uses the modified
family, whose convolution is about ``n`` points long instead of ``n + l``.

The product ``T x`` is a window of the linear convolution ``s * x``. Two ways compute it, with the
same result bit for bit (``backend``):

- ``carryless`` (:mod:`openqci.link._carryless_toeplitz`): the window of the polynomial product over
  GF(2), by Karatsuba's recursion down to carry-less multiplications (PCLMULQDQ, or VPCLMULQDQ on
  256- or 512-bit vectors). Exact by construction and 2-4.5 times faster than the FFT at
  ``2^24`` bits, depending on the CPU and the vector width; x86-64 only.
- ``fft`` (:mod:`openqci.link._privacy_convolution`): a cyclic convolution over the integers of
  length ``L`` at least the seed's length, which only wraps terms onto indices below the window
  (one real FFT when short, a four-step FFT of cache-sized transforms when long), then parities.
  It runs anywhere numpy does.

``auto``, the default, takes whichever of them runs fastest on this CPU (:func:`default_backend`),
and ``carryless`` the fastest of its vector widths and leaf sizes: the widest is not always the
fastest. They are measured once per CPU target and source version, at first use, and the figures
stored with numba's compiled code; ``OPENQCI_PA_BACKEND`` forces a choice
(:mod:`openqci.link._hash_backend`).

Exactness of the FFT. Every output is an integer sum of at most ``min(n, l)`` products of bits, and only its
parity is kept, so the float64 result must round to the right integer. Percival's bound on the error of
an FFT convolution (Math. Comp. 72, 387 (2003), Theorem 5.1, radix 2, accurate twiddles) is about
``||s||_2 ||x||_2 (12 log2 L + 3) 2^-53``: about ``2^-20`` for ``n = 2^24``, ``l = 2^23``, far below the
1/2 that would flip a bit. The same bound in float32 exceeds 1/2 from ``n`` of about ``2^14``, so float32
is not used. pocketfft's mixed-radix transforms and the four-step twiddles (each a product of two
correctly rounded table entries) are in the same accuracy class, and every call checks the distance of
each output to the nearest integer and refuses results beyond 1/4 rather than trusting the bound.

For the FFT the seed's spectrum depends on the seed alone, so :func:`seed_spectrum` can be computed
ahead (while the block is still being reconciled) and reused by the other end when it received the
same seed.

The CuPy path (``backend="cupy"``) runs the same convolution on a GPU and is imported only when asked.
"""

from __future__ import annotations

import enum
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from openqci.link import _carryless_toeplitz, _hash_backend
from openqci.link._privacy_convolution import (
    ConvolutionPlan,
    bit_spectrum,
    convolution_parities,
    plan_convolution,
)
from openqci.link.errors import InvalidLinkParameterError, LinkError

__all__ = [
    "HashBackend",
    "ToeplitzFamily",
    "amplify_privacy",
    "default_backend",
    "seed_bits",
    "seed_spectrum",
    "toeplitz_hash",
    "toeplitz_seed",
]

_ROUNDING_LIMIT = 0.25

HashBackend = Literal["auto", "carryless", "fft", "cupy"]
"""How the Toeplitz product is computed; every backend gives the same bits."""


class ToeplitzFamily(enum.Enum):
    """The 2-universal hash family: plain Toeplitz (``n + l - 1`` seed bits) or modified (``n - 1``)."""

    TOEPLITZ = "toeplitz"
    MODIFIED = "modified"


def amplify_privacy(
    key: NDArray[np.bool_],
    output_bits: int,
    *,
    rng: np.random.Generator,
    backend: HashBackend = "auto",
    family: ToeplitzFamily = ToeplitzFamily.TOEPLITZ,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Compress ``key`` to ``output_bits`` bits with a fresh matrix of ``family`` drawn from ``rng``.

    Returns the final key and the public seed (:func:`seed_bits` bits) that the other end needs to
    compute the same hash.
    """
    seed = toeplitz_seed(key.size, output_bits, rng=rng, family=family)
    return toeplitz_hash(key, seed, output_bits, backend=backend, family=family), seed


def default_backend() -> Literal["carryless", "fft"]:
    """The backend ``auto`` stands for on this host: the faster of ``carryless`` and ``fft``.

    The first call in a process measures both (and every carry-less width) unless figures for this
    CPU target are stored already, or ``OPENQCI_PA_BACKEND`` forces one; see
    :mod:`openqci.link._hash_backend`. A CPU without carry-less multiplication gets ``fft``.

    Raises
    ------
    InvalidLinkParameterError
        If ``OPENQCI_PA_BACKEND`` names no backend this CPU runs (the message lists those it does).
    """
    return _hash_backend.choose_backend().backend


def seed_bits(key_bits: int, output_bits: int, family: ToeplitzFamily = ToeplitzFamily.TOEPLITZ) -> int:
    """Seed length of a ``key_bits`` to ``output_bits`` hash: ``n + l - 1`` bits, or ``n - 1`` modified."""
    return key_bits - 1 + (output_bits if family is ToeplitzFamily.TOEPLITZ else 0)


def toeplitz_seed(
    key_bits: int,
    output_bits: int,
    *,
    rng: np.random.Generator,
    family: ToeplitzFamily = ToeplitzFamily.TOEPLITZ,
) -> NDArray[np.bool_]:
    """The :func:`seed_bits` random bits of a matrix of ``family``, drawn as bytes from ``rng``."""
    if not 0 < output_bits <= key_bits:
        raise InvalidLinkParameterError(f"output_bits must lie in [1, {key_bits}], got {output_bits}")
    size = seed_bits(key_bits, output_bits, family)
    raw = np.frombuffer(rng.bytes((size + 7) // 8), dtype=np.uint8)
    return np.unpackbits(raw, count=size).view(np.bool_)


def seed_spectrum(
    seed: NDArray[np.bool_],
    key_bits: int,
    output_bits: int,
    *,
    family: ToeplitzFamily = ToeplitzFamily.TOEPLITZ,
) -> NDArray[np.complex128]:
    """The transform of the seed at the convolution size of a ``key_bits`` to ``output_bits`` hash."""
    _check_seed(seed, key_bits, output_bits, family)
    return bit_spectrum(seed, _plan(key_bits, output_bits, family))


def toeplitz_hash(
    key: NDArray[np.bool_],
    seed: NDArray[np.bool_],
    output_bits: int,
    *,
    backend: HashBackend = "auto",
    spectrum: NDArray[np.complex128] | None = None,
    family: ToeplitzFamily = ToeplitzFamily.TOEPLITZ,
) -> NDArray[np.bool_]:
    """``M x mod 2`` for the ``output_bits``-row matrix ``M`` of ``family`` fixed by ``seed``.

    ``M[j, i] = seed[j - i + n - 1]`` (Toeplitz), or ``M = [I | T']`` with
    ``T'[j, i] = seed[j - i + n - l - 1]`` (modified). ``spectrum``, when given, is
    :func:`seed_spectrum` of this very seed and family, computed ahead; only the ``fft`` backend
    uses it, and ``auto`` with a spectrum means ``fft``. ``carryless`` runs the fastest vector width and
    leaf size measured on this CPU (or the one ``OPENQCI_PA_BACKEND`` names).

    Raises
    ------
    InvalidLinkParameterError
        If the seed does not hold :func:`seed_bits` bits, the spectrum has the wrong shape, the
        backend is unknown or cannot run on this host, or ``OPENQCI_PA_BACKEND`` is not one this host
        runs.
    LinkError
        If the rounding error of the convolution came within 1/4 of flipping a bit.
    """
    n = key.size
    _check_seed(seed, n, output_bits, family)
    modified = family is ToeplitzFamily.MODIFIED
    vector = key[output_bits:] if modified else key
    if vector.size == 0:  # modified family with output_bits == n: the identity
        return key.copy()
    start = vector.size - 1
    choice = None
    if backend == "auto" and spectrum is None:
        choice = _hash_backend.choose_backend()
        backend = choice.backend
    elif backend == "auto":  # a spectrum computed ahead asks for the FFT it was computed for
        backend = "fft"
    elif backend == "carryless":
        choice = _hash_backend.choose_backend(carryless=True)
    if backend == "carryless":
        assert choice is not None
        parities = _carryless_toeplitz.toeplitz_product(
            seed,
            vector,
            output_bits,
            start,
            vector_words=choice.vector_words,
            leaf_vectors=choice.leaf_vectors,
        )
        return parities ^ key[:output_bits] if modified else parities
    plan = _plan(n, output_bits, family)
    if backend == "cupy":
        sums = _convolve_cupy(vector, seed, plan.size)[start : start + output_bits]
        rounded = np.rint(sums)
        parities, worst = (rounded.astype(np.int64) & 1).astype(np.bool_), _worst(sums, rounded)
    elif backend == "fft":
        if spectrum is None:
            spectrum = bit_spectrum(seed, plan)
        if spectrum.shape != plan.spectrum_shape:
            raise InvalidLinkParameterError("the seed spectrum does not match this key and output size")
        parities, worst = convolution_parities(vector, spectrum, plan, start, output_bits)
    else:
        raise InvalidLinkParameterError(f"unknown backend {backend!r}; choose auto, carryless, fft or cupy")
    if worst > _ROUNDING_LIMIT:
        raise LinkError("FFT rounding too large for an exact Toeplitz product; use smaller blocks")
    return parities ^ key[:output_bits] if modified else parities


def _check_seed(seed: NDArray[np.bool_], key_bits: int, output_bits: int, family: ToeplitzFamily) -> None:
    expected = seed_bits(key_bits, output_bits, family)
    if seed.size != expected:
        raise InvalidLinkParameterError(f"the seed must hold {expected} bits, got {seed.size}")


def _plan(key_bits: int, output_bits: int, family: ToeplitzFamily) -> ConvolutionPlan:
    """Cyclic convolution plan: at least the seed's length, so wrapped terms miss the window."""
    return plan_convolution(seed_bits(key_bits, output_bits, family))


def _worst(sums: NDArray[np.float64], rounded: NDArray[np.float64]) -> float:
    return float(np.max(np.abs(sums - rounded))) if sums.size else 0.0


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
