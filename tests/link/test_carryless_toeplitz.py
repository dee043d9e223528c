"""The carry-less Toeplitz product against direct sums, the FFT backend, and hosts without it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.link import _carryless_toeplitz
from openqci.link._carryless_toeplitz import (
    LEAF_VECTORS,
    VECTOR_WORDS,
    block_words,
    leaf_sizes,
    leaf_words,
    toeplitz_product,
)
from openqci.link.errors import InvalidLinkParameterError
from openqci.link.privacy import ToeplitzFamily, default_backend, toeplitz_hash, toeplitz_seed

needs_carryless = pytest.mark.skipif(
    not _carryless_toeplitz.AVAILABLE, reason="no carry-less multiplication on this CPU: path not run"
)

WIDTHS = [
    pytest.param(
        width,
        marks=pytest.mark.skipif(
            width not in VECTOR_WORDS, reason=f"this CPU has no {64 * width}-bit carry-less"
        ),
    )
    for width in (8, 4, 2)
]


def _direct(seed: np.ndarray, vector: np.ndarray, rows: int, offset: int) -> np.ndarray:
    index = np.arange(rows)[:, None] - np.arange(vector.size)[None, :] + offset
    inside = (index >= 0) & (index < seed.size)
    entries = np.where(inside, seed[np.clip(index, 0, seed.size - 1)], False)
    return (entries.astype(np.int64) @ vector.astype(np.int64)) % 2 == 1


@pytest.mark.parametrize("width", WIDTHS)
@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 2600),
    columns=st.integers(1, 2600),
    tall=st.booleans(),
    offset_shift=st.integers(-3000, 3000),
    seed=st.integers(0, 2**32),
    leaf=st.sampled_from(LEAF_VECTORS),
)
def test_product_matches_direct_sums(
    width: int, rows: int, columns: int, tall: bool, offset_shift: int, seed: int, leaf: int
) -> None:
    # One side short, the other up to several blocks of 2048 bits: both directions of block cutting.
    rows, columns = (rows, max(1, columns // 8)) if tall else (max(1, rows // 8), columns)
    rng = np.random.default_rng(seed)
    vector = rng.random(columns) < 0.5
    seed_bits = rng.random(rows + columns - 1) < 0.5
    offset = columns - 1 + offset_shift  # shifted offsets read seed indices out of range as zeros
    product = toeplitz_product(seed_bits, vector, rows, offset, vector_words=width, leaf_vectors=leaf)
    assert np.array_equal(product, _direct(seed_bits, vector, rows, offset))


@needs_carryless
@pytest.mark.parametrize("family", list(ToeplitzFamily))
def test_large_blocks_match_the_fft_backend(family: ToeplitzFamily, rng: np.random.Generator) -> None:
    key = rng.random((1 << 20) + 12345) < 0.5
    for output in (1 << 19, 300_001):
        seed = toeplitz_seed(key.size, output, rng=rng, family=family)
        carryless = toeplitz_hash(key, seed, output, family=family, backend="carryless")
        assert np.array_equal(carryless, toeplitz_hash(key, seed, output, family=family, backend="fft"))


@settings(max_examples=200, deadline=None)
@given(min_words=st.integers(1, 1 << 20), lanes=st.sampled_from([2, 4, 8]))
def test_block_sizes_cover_the_request_with_little_padding(min_words: int, lanes: int) -> None:
    sizes = leaf_sizes(lanes)
    assert all(size % lanes == 0 for size in sizes)
    words = block_words(min_words, lanes)
    assert words >= min_words
    assert words <= max(4 * lanes, int(min_words * 1.25) + 1)
    for most in LEAF_VECTORS:
        leaf = leaf_words(words, lanes, most)
        assert leaf in sizes
        assert leaf <= most * lanes or (leaf // lanes) % 2 == 1  # five or seven vectors stay whole
        assert words % leaf == 0
        assert (words // leaf) & (words // leaf - 1) == 0  # a power of two: halvings only
    assert leaf_words(words, lanes) == next(w for w in [words >> k for k in range(40)] if w in sizes[2:])


@needs_carryless
def test_every_width_gives_the_same_large_product(rng: np.random.Generator) -> None:
    vector = rng.random(300_000) < 0.5
    seed = rng.random(vector.size + 200_000 - 1) < 0.5
    products = [
        toeplitz_product(seed, vector, 200_000, vector.size - 1, vector_words=w, leaf_vectors=leaf)
        for w in VECTOR_WORDS
        for leaf in LEAF_VECTORS
    ]
    assert all(np.array_equal(products[0], other) for other in products[1:])
    with pytest.raises(RuntimeError, match="not 3"):
        toeplitz_product(seed, vector, 10, vector.size - 1, vector_words=3)
    with pytest.raises(RuntimeError, match="not 3"):
        toeplitz_product(seed, vector, 10, vector.size - 1, leaf_vectors=3)


def test_hosts_without_the_instructions_use_the_fft(
    monkeypatch: pytest.MonkeyPatch, rng: np.random.Generator
) -> None:
    monkeypatch.setattr(_carryless_toeplitz, "AVAILABLE", False)
    monkeypatch.setattr(_carryless_toeplitz, "VECTOR_WORDS", ())
    assert default_backend() == "fft"
    key = rng.random(5000) < 0.5
    seed = toeplitz_seed(key.size, 1000, rng=rng)
    assert np.array_equal(toeplitz_hash(key, seed, 1000), toeplitz_hash(key, seed, 1000, backend="fft"))
    with pytest.raises(InvalidLinkParameterError, match="PCLMULQDQ"):
        toeplitz_hash(key, seed, 1000, backend="carryless")
    with pytest.raises(RuntimeError):
        toeplitz_product(seed, key, 1000, key.size - 1)


def test_widths_follow_the_features_numba_was_told(monkeypatch: pytest.MonkeyPatch) -> None:
    import numba

    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+pclmul,+avx,-vpclmulqdq,+avx512f", raising=False)
    assert _carryless_toeplitz._host_vector_words() == (2,)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+pclmul,+avx,+vpclmulqdq,-avx512f", raising=False)
    assert _carryless_toeplitz._host_vector_words() == (4, 2)
    monkeypatch.setattr(numba.config, "CPU_NAME", "generic", raising=False)
    assert _carryless_toeplitz._host_vector_words() == ()
