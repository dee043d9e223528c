"""Toeplitz hashing (privacy amplification, verification) and Wegman-Carter tags against direct maths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.link import _carryless_toeplitz
from openqci.link.auth import MERSENNE_61, AuthKeyPool, wegman_carter_tag
from openqci.link.errors import AuthenticationKeyError
from openqci.link.privacy import HashBackend, amplify_privacy, toeplitz_hash
from openqci.link.verification import verification_tag


def _toeplitz_direct(key: np.ndarray, seed: np.ndarray, rows: int) -> np.ndarray:
    n = key.size
    matrix = np.array([[seed[j - i + n - 1] for i in range(n)] for j in range(rows)], dtype=np.int64)
    return (matrix @ key.astype(np.int64)) % 2 == 1


BACKENDS = [
    "fft",
    pytest.param(
        "carryless",
        marks=pytest.mark.skipif(
            not _carryless_toeplitz.AVAILABLE, reason="no carry-less multiplication on this CPU"
        ),
    ),
]


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 300), rows_fraction=st.floats(0.01, 1.0), seed=st.integers(0, 2**32))
def test_toeplitz_matches_matrix_product(
    backend: HashBackend, n: int, rows_fraction: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    rows = max(1, int(n * rows_fraction))
    key = rng.random(n) < 0.5
    seed_bits = rng.random(n + rows - 1) < 0.5
    expected = _toeplitz_direct(key, seed_bits, rows)
    assert np.array_equal(toeplitz_hash(key, seed_bits, rows, backend=backend), expected)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 500), seed=st.integers(0, 2**32))
def test_verification_tag_matches_matrix_product(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    key = rng.random(n) < 0.5
    words = rng.integers(0, 2**63, size=n // 64 + 2, dtype=np.uint64)
    bits = np.unpackbits(words.view(np.uint8), bitorder="little").astype(np.int64)
    expected = sum(int(np.dot(bits[j : j + n], key) % 2) << j for j in range(50))
    assert verification_tag(key, words, 50) == expected


def test_amplify_privacy_large_block_is_exact(rng: np.random.Generator) -> None:
    key = rng.random(1 << 20) < 0.5
    out, seed = amplify_privacy(key, 1 << 19, rng=rng)
    assert out.size == 1 << 19
    assert seed.size == key.size + out.size - 1
    # Spot-check rows against the direct definition.
    n = key.size
    for j in (0, 1, 12345, out.size - 1):
        row = seed[j + n - 1 - np.arange(n)]
        assert out[j] == bool(np.count_nonzero(row & key) % 2)


def _tag_direct(message: bytes, key: int, pad: int) -> int:
    padded = message + b"\x00" * (-len(message) % 4)
    acc = 0
    for i in range(0, len(padded), 4):
        acc = (acc * key + int.from_bytes(padded[i : i + 4], "little")) % MERSENNE_61
    acc = (acc * key + len(message)) % MERSENNE_61
    return (acc + pad) % MERSENNE_61


@settings(max_examples=100, deadline=None)
@given(
    message=st.binary(max_size=200), key=st.integers(0, MERSENNE_61 - 1), pad=st.integers(0, MERSENNE_61 - 1)
)
def test_wegman_carter_tag_matches_python_integers(message: bytes, key: int, pad: int) -> None:
    assert wegman_carter_tag(message, key, pad) == _tag_direct(message, key, pad)


def test_pool_consumes_and_runs_out(rng: np.random.Generator) -> None:
    pool = AuthKeyPool(rng.random(130) < 0.5)
    pool.take_word()
    pool.take_word()
    assert pool.consumed_bits == 122
    assert pool.size == 8
    with pytest.raises(AuthenticationKeyError):
        pool.take_word()
    pool.replenish(rng.random(61) < 0.5)
    assert pool.take_word() < MERSENNE_61


def test_seed_spectrum_computed_ahead_gives_the_same_hash(rng: np.random.Generator) -> None:
    from openqci.link.errors import InvalidLinkParameterError
    from openqci.link.privacy import seed_spectrum, toeplitz_seed

    key = rng.random(4099) < 0.5
    seed = toeplitz_seed(key.size, 1000, rng=rng)
    spectrum = seed_spectrum(seed, key.size, 1000)
    expected = _toeplitz_direct(key, seed, 1000)
    assert np.array_equal(toeplitz_hash(key, seed, 1000, spectrum=spectrum), expected)
    with pytest.raises(InvalidLinkParameterError):
        toeplitz_hash(key, seed[:-990], 10, spectrum=spectrum)


def _modified_direct(key: np.ndarray, seed: np.ndarray, rows: int) -> np.ndarray:
    m = key.size - rows
    tail = np.array([[seed[j - i + m - 1] for i in range(m)] for j in range(rows)], dtype=np.int64)
    return key[:rows] ^ ((tail.reshape(rows, m) @ key[rows:].astype(np.int64)) % 2 == 1)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 300), rows_fraction=st.floats(0.01, 1.0), seed=st.integers(0, 2**32))
def test_modified_toeplitz_matches_matrix_product(
    backend: HashBackend, n: int, rows_fraction: float, seed: int
) -> None:
    from openqci.link.privacy import ToeplitzFamily, seed_bits

    rng = np.random.default_rng(seed)
    rows = max(1, int(n * rows_fraction))
    key = rng.random(n) < 0.5
    seed_bits_ = rng.random(seed_bits(n, rows, ToeplitzFamily.MODIFIED)) < 0.5
    assert seed_bits_.size == n - 1
    out = toeplitz_hash(key, seed_bits_, rows, family=ToeplitzFamily.MODIFIED, backend=backend)
    assert np.array_equal(out, _modified_direct(key, seed_bits_, rows))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(17, 2000),
    k=st.integers(1, 2000),
    start_fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
)
def test_four_step_convolution_matches_direct_cyclic_sums(
    n: int, k: int, start_fraction: float, seed: int
) -> None:
    from openqci.link._privacy_convolution import bit_spectrum, convolution_parities, plan_convolution

    rng = np.random.default_rng(seed)
    bits, other = rng.random(n) < 0.5, rng.random(k) < 0.5
    plan = plan_convolution(max(n, k), four_step_from=16)
    assert plan.rows > 1
    start = int(start_fraction * (plan.size - 1))
    count = plan.size - start
    linear = np.convolve(other.astype(np.int64), bits.astype(np.int64))
    cyclic = np.bincount(np.arange(linear.size) % plan.size, weights=linear, minlength=plan.size)
    parities, worst = convolution_parities(bits, bit_spectrum(other, plan), plan, start, count)
    assert worst < 1e-6
    assert np.array_equal(parities, cyclic[start:].astype(np.int64) % 2 == 1)


def test_modified_large_block_is_exact_and_spectrum_ahead_agrees(rng: np.random.Generator) -> None:
    from openqci.link.privacy import ToeplitzFamily, seed_spectrum, toeplitz_seed

    modified = ToeplitzFamily.MODIFIED
    key = rng.random(1 << 20) < 0.5
    out, seed = amplify_privacy(key, 3 << 18, rng=rng, family=modified)
    n, m = key.size, key.size - out.size
    assert seed.size == n - 1
    for j in (0, 1, 54321, out.size - 1):
        row = seed[j + m - 1 - np.arange(m)]
        assert out[j] == key[j] ^ bool(np.count_nonzero(row & key[out.size :]) % 2)
    seed = toeplitz_seed(n, 1 << 19, rng=rng, family=modified)
    spectrum = seed_spectrum(seed, n, 1 << 19, family=modified)
    ahead = toeplitz_hash(key, seed, 1 << 19, spectrum=spectrum, family=modified)
    assert np.array_equal(ahead, toeplitz_hash(key, seed, 1 << 19, family=modified))
    assert np.array_equal(toeplitz_hash(key, seed, n, family=modified), key)  # l = n: the identity


@pytest.mark.parametrize("key_bits", [4099, 1 << 19])
def test_rounding_beyond_a_quarter_is_refused(key_bits: int, rng: np.random.Generator) -> None:
    from openqci.link._privacy_convolution import plan_convolution
    from openqci.link.errors import LinkError
    from openqci.link.privacy import seed_spectrum, toeplitz_seed

    key = rng.random(key_bits) < 0.5
    seed = toeplitz_seed(key.size, 1000, rng=rng)
    spectrum = seed_spectrum(seed, key.size, 1000)
    assert np.array_equal(toeplitz_hash(key, seed, 1000, spectrum=spectrum), toeplitz_hash(key, seed, 1000))
    # A zero-frequency error shifts every sum by 0.3: each output would still round right, but the
    # margin check must refuse it.
    spectrum.flat[0] += 0.3 * plan_convolution(seed.size).size / np.count_nonzero(key)
    with pytest.raises(LinkError):
        toeplitz_hash(key, seed, 1000, spectrum=spectrum)
