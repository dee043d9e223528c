"""Sum-product decoding in lanes (openqci.link.ldpc_lanes): packed syndromes, bookkeeping, the last frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.link._lane_tables import CACHE_LINE, half_lane_table, lane_table
from openqci.link.ldpc import shortening_order
from openqci.link.ldpc_codes import PEG_SHORT_CODES, build_code
from openqci.link.ldpc_decoder import SUM_PRODUCT, decode_frames, encode_frames
from openqci.link.ldpc_lanes import packed_syndromes
from tests.link.test_ldpc import decode_alone, frame_words, sparse_syndromes

_CODE = build_code(PEG_SHORT_CODES[34])  # 32,768 bits, rate 0.84


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_frames=st.integers(1, 70), short=st.integers(0, 3000))
def test_packed_syndromes_are_the_sparse_product(seed: int, n_frames: int, short: int) -> None:
    """32 frames per word, frames of unequal lengths, a last word only partly filled."""
    rng = np.random.default_rng(seed)
    frame_key_bits = _CODE.n_bits - short - rng.integers(0, 2, size=n_frames)
    bits = rng.random(int(frame_key_bits.sum())) < 0.5
    order = shortening_order(_CODE.n_bits, seed)
    starts = np.concatenate(([0], np.cumsum(frame_key_bits))).astype(np.int64)
    packed = packed_syndromes(_CODE.row_ptr, _CODE.col_idx, bits, order, starts)
    expected = sparse_syndromes(_CODE, frame_words(_CODE, bits, order, frame_key_bits))
    frames = np.arange(n_frames)
    unpacked = (packed[frames // 32] >> (frames % 32).astype(np.uint32)[:, None]) & 1
    np.testing.assert_array_equal(unpacked == 1, expected)
    used = n_frames - 32 * (packed.shape[0] - 1)
    if used < 32:  # lanes of the last word that hold no frame stay 0
        assert np.all(packed[-1] >> np.uint32(used) == 0)


@pytest.mark.parametrize("n_frames", [75, 20, 10])
def test_every_frame_reaches_its_syndrome_or_is_left_alone(n_frames: int) -> None:
    """Noisy, clean and hopeless frames mixed: 75 and 20 start in 16 lanes and narrow to 8 once the last
    are handed over, 10 start in 8."""
    rng = np.random.default_rng(7)
    frame_key_bits = np.full(n_frames, 28_500, dtype=np.int64) - rng.integers(0, 2, size=n_frames)
    alice = rng.random(int(frame_key_bits.sum())) < 0.5
    rates = rng.choice([0.0, 0.015, 0.02, 0.06], size=n_frames, p=[0.1, 0.45, 0.4, 0.05])
    flips = rng.random(alice.size) < np.repeat(rates, frame_key_bits)
    bob = alice ^ flips
    order = shortening_order(_CODE.n_bits, 3)
    syndromes = encode_frames(_CODE.row_ptr, _CODE.col_idx, alice, order, frame_key_bits)
    settings = (float(np.log(49.0)), 0.8, 60, SUM_PRODUCT)
    corrected, iterations = decode_frames(
        _CODE.row_ptr, _CODE.col_idx, bob, syndromes, order, frame_key_bits, *settings
    )
    starts = np.concatenate(([0], np.cumsum(frame_key_bits)))
    reached = sparse_syndromes(_CODE, frame_words(_CODE, corrected, order, frame_key_bits)) == syndromes
    for i in range(n_frames):
        piece = slice(starts[i], starts[i + 1])
        if iterations[i] >= 0:
            assert np.all(reached[i]), f"frame {i} reported decoded but misses its syndrome"
        else:
            assert np.array_equal(corrected[piece], bob[piece]), f"failed frame {i} was changed"
        if rates[i] == 0.0:
            assert iterations[i] == 0
    assert np.all(iterations[rates == 0.06] == -1)  # far beyond what rate 0.84 corrects
    assert np.all(iterations[(rates > 0) & (rates <= 0.02)] > 0)
    for i in np.flatnonzero(rates > 0)[:2]:  # the same frame decoded alone (one lane) agrees
        piece = slice(starts[i], starts[i + 1])
        alone, used = decode_alone(_CODE, bob, syndromes, order, frame_key_bits, int(i), settings)
        assert (used[0] >= 0) == (iterations[i] >= 0)
        np.testing.assert_array_equal(alone, corrected[piece])
    decoded = np.repeat(iterations >= 0, frame_key_bits)
    assert np.array_equal(corrected[decoded], alice[decoded])


def test_a_low_iteration_limit_fails_frames_in_lanes() -> None:
    rng = np.random.default_rng(8)
    frame_key_bits = np.full(40, 28_000, dtype=np.int64)
    alice = rng.random(int(frame_key_bits.sum())) < 0.5
    bob = alice ^ (rng.random(alice.size) < 0.02)
    order = shortening_order(_CODE.n_bits, 4)
    syndromes = encode_frames(_CODE.row_ptr, _CODE.col_idx, alice, order, frame_key_bits)
    settings = (float(np.log(49.0)), 0.8, 3, SUM_PRODUCT)
    corrected, iterations = decode_frames(
        _CODE.row_ptr, _CODE.col_idx, bob, syndromes, order, frame_key_bits, *settings
    )
    assert np.all(iterations == -1)
    np.testing.assert_array_equal(corrected, bob)


@pytest.mark.parametrize(("make", "dtype"), [(lane_table, np.float32), (half_lane_table, np.uint16)])
@pytest.mark.parametrize(("rows", "width"), [(1, 1), (3, 8), (1000, 32), (131_072, 32)])
def test_lane_tables_start_on_a_cache_line(make: Any, dtype: type, rows: int, width: int) -> None:
    """Every row of 16 or 32 float32 lanes, or 32 half-precision ones, then lies within whole cache lines,
    as the sweeps prefetch."""
    for _ in range(4):  # allocations land at different offsets
        table = make(rows, width)
        assert table.shape == (rows, width)
        assert table.dtype == dtype
        assert table.flags.c_contiguous
        assert not table.any()
        assert table.ctypes.data % CACHE_LINE == 0
