"""The LLVM IR sum-product lane sweep (openqci.link._sum_product_lanes) against float64 belief propagation.

The lane tables hold half-precision numbers; the reference starts from the same numbers in float64."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from openqci.link._sum_product_lanes import (
    CERTAIN_LLR,
    POLYNOMIAL_ERRORS,
    WIDTHS,
    first_touch_ranks,
    has_avx512,
    sweep_lanes_sum_product,
)

_SATURATION = (1.0 - 6e-8) / (1.0 + 6e-8)  # largest tanh product the kernel turns into a message
_PRIOR = 3.875  # exact in half precision, as a table holds it
_HALF_ULP = 2.0**-11  # half precision rounds to within this fraction of a number


def _half(values: np.ndarray) -> np.ndarray:
    """The half-precision bits the lane tables hold."""
    return np.asarray(values).astype(np.float16).view(np.uint16)


def _float(bits: np.ndarray) -> np.ndarray:
    return bits.view(np.float16).astype(np.float64)


def _random_code(rng: np.random.Generator, n_checks: int, n_bits: int) -> tuple[np.ndarray, np.ndarray]:
    degrees = rng.integers(2, min(n_bits, 40) + 1, size=n_checks)
    rows = [np.sort(rng.choice(n_bits, size=d, replace=False)) for d in degrees]
    row_ptr = np.concatenate(([0], np.cumsum(degrees))).astype(np.int32)
    return row_ptr, np.concatenate(rows).astype(np.int32)


class _Lanes:
    """A random lane state of ``width`` frames on a code, in float64 for the reference and as the kernel's."""

    def __init__(
        self, rng: np.random.Generator, row_ptr: np.ndarray, col_idx: np.ndarray, width: int
    ) -> None:
        n_bits, n_checks = int(col_idx.max()) + 1, row_ptr.size - 1
        self.row_ptr, self.col_idx = row_ptr, col_idx
        self.llr = rng.normal(2.0, 3.0, size=(n_bits, width))
        self.llr[rng.random(self.llr.shape) < 0.05] = CERTAIN_LLR
        self.messages = rng.normal(0.0, 2.0, size=(col_idx.size, width))
        self.odd = rng.random((n_checks, width)) < 0.5  # each lane's target syndrome
        self.reuse = np.where(rng.random(width) < 0.25, 0.0, 1.0)  # a quarter of lanes hold new frames
        self.rank = rng.permutation(n_bits).astype(np.int32)
        self.n_short = rng.integers(0, n_bits + 1, size=width).astype(np.int32)
        self.touch_rank = first_touch_ranks(col_idx, self.rank)
        self.first_touch = self.touch_rank >= 0
        targets = np.zeros(n_checks, dtype=np.uint32)
        for lane in range(width):
            targets |= self.odd[:, lane].astype(np.uint32) << np.uint32(lane)
        self.state = (
            _half(self.llr),
            _half(self.messages),
            targets,
            self.reuse.astype(np.float32),
            self.n_short,
            np.zeros(n_bits, dtype=np.uint32),
        )
        # the reference starts from exactly the kernel's numbers
        self.llr, self.messages = _float(self.state[0]), _float(self.state[1])

    def sweep(self) -> np.ndarray:
        """One kernel sweep; its unsatisfied counts."""
        counted = np.zeros(self.llr.shape[1], np.int64)
        priors = (self.touch_rank, _PRIOR)
        sweep_lanes_sum_product(self.row_ptr, self.col_idx, priors, self.state, counted)
        return counted

    def reference_sweep(self) -> np.ndarray:
        """Layered belief propagation with the tanh rule in float64; the unsatisfied count per lane."""
        width = self.llr.shape[1]
        fresh = self.reuse == 0.0
        unsatisfied = np.zeros(width, dtype=np.int64)
        for c in range(self.row_ptr.size - 1):
            edges = np.arange(self.row_ptr[c], self.row_ptr[c + 1])
            bits = self.col_idx[edges]
            priors = np.where(self.rank[bits, None] < self.n_short[None, :], CERTAIN_LLR, np.float32(_PRIOR))
            first = self.first_touch[edges][:, None] & fresh[None, :]
            posterior = np.where(first, priors, self.llr[bits])
            unsatisfied += (np.sum(posterior < 0, axis=0) + self.odd[c]) % 2
            q = posterior - self.messages[edges] * self.reuse
            t = np.maximum(np.tanh(np.minimum(np.abs(q), 30.0) / 2.0), 1e-7)
            others = np.prod(t, axis=0) / t
            magnitude = 2.0 * np.arctanh(np.minimum(others, _SATURATION))
            negative = ((np.sum(q < 0, axis=0) + self.odd[c]) % 2 == 1) ^ (q < 0)
            message = np.where(negative, -magnitude, magnitude)
            self.messages[edges] = message
            self.llr[bits] = q + message
        self.reuse[:] = 1.0
        return unsatisfied


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), degree=st.integers(2, 45), width=st.sampled_from(WIDTHS))
def test_one_check_matches_float64_belief_propagation(seed: int, degree: int, width: int) -> None:
    """On one check (inputs exactly as the kernel sees them) messages and posteriors follow the tanh rule,
    new frames start from their priors, and the packed decisions are the posteriors' signs."""
    rng = np.random.default_rng(seed)
    row_ptr = np.array([0, degree], dtype=np.int32)
    col_idx = rng.permutation(degree)[:degree].astype(np.int32)
    lanes = _Lanes(rng, row_ptr, col_idx, width)
    assume(np.min(np.abs(lanes.llr)) > 1e-2)  # a posterior at 0 has no sign both sides need agree on
    counted = lanes.sweep()
    expected = lanes.reference_sweep()
    np.testing.assert_array_equal(counted, expected)
    # float32 resolves 1 - T only to about 6e-8, so a message of magnitude m may be off by about
    # 6e-8 e^m (0.1 at m = 14; 1e-4 below m = 7), and half precision stores it to m 2^-11
    magnitude = np.abs(lanes.messages)
    allowance = 2e-4 + _HALF_ULP * magnitude + 3e-7 * np.exp(np.minimum(magnitude, 16.6))
    np.testing.assert_array_less(np.abs(_float(lanes.state[1]) - lanes.messages), allowance)
    on_bits = np.empty_like(allowance)
    on_bits[col_idx] = allowance  # each bit's posterior moved by its one message
    posteriors = _float(lanes.state[0])
    np.testing.assert_array_less(np.abs(posteriors - lanes.llr), on_bits + 1e-3 * np.abs(lanes.llr))
    decided = (lanes.state[5][:, None] >> np.arange(width, dtype=np.uint32)) & 1
    np.testing.assert_array_equal(decided == 1, np.signbit(posteriors))
    assert np.all(lanes.state[3] == 1.0)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_checks=st.integers(1, 40),
    n_bits=st.integers(8, 120),
    width=st.sampled_from(WIDTHS),
)
def test_sweep_is_the_checks_in_turn(seed: int, n_checks: int, n_bits: int, width: int) -> None:
    """A sweep equals its checks applied one after the other (layered), bit for bit, new frames included."""
    rng = np.random.default_rng(seed)
    row_ptr, col_idx = _random_code(rng, n_checks, n_bits)
    whole = _Lanes(rng, row_ptr, col_idx, width)
    before = tuple(np.copy(array) for array in whole.state)
    whole_count = whole.sweep()
    # one check at a time: a new frame's bits are given their priors and its stored messages cleared
    # beforehand, since a single check cannot know which edges are the sweep's first touches
    fresh = before[3] == 0.0
    priors = np.where(whole.rank[:, None] < whole.n_short[None, :], CERTAIN_LLR, np.float32(_PRIOR))
    llr = np.where(fresh[None, :], _half(priors), before[0])
    messages = np.where(fresh[None, :], _half(0.0), before[1])
    state = (llr, messages, before[2], np.ones(width, np.float32), before[4], before[5])
    turn_count = np.zeros(width, np.int64)
    no_first_touch = np.full(col_idx.size, -1, dtype=np.int32)
    for c in range(n_checks):
        first, stop = row_ptr[c], row_ptr[c + 1]
        one = (state[0], state[1][first:stop], state[2][c : c + 1], state[3], state[4], state[5])
        priors_one = (no_first_touch[first:stop], _PRIOR)
        local = np.array([0, stop - first], dtype=np.int32)
        sweep_lanes_sum_product(local, col_idx[first:stop], priors_one, one, turn_count)
    connected = np.unique(col_idx)  # a bit in no check keeps whatever it held
    np.testing.assert_array_equal(whole.state[0][connected], state[0][connected])
    np.testing.assert_array_equal(whole.state[1], state[1])
    np.testing.assert_array_equal(whole.state[5][connected], state[5][connected])
    np.testing.assert_array_equal(whole_count, turn_count)


def test_messages_saturate_near_sixteen_and_a_half() -> None:
    """A check whose other inputs are all certain sends a large but finite message."""
    row_ptr = np.array([0, 3], dtype=np.int32)
    col_idx = np.array([0, 1, 2], dtype=np.int32)
    state = (
        _half(np.full((3, 32), CERTAIN_LLR)),
        _half(np.zeros((3, 32))),
        np.zeros(1, np.uint32),
        np.ones(32, np.float32),
        np.zeros(32, np.int32),
        np.zeros(3, np.uint32),
    )
    priors = (first_touch_ranks(col_idx, np.arange(3, dtype=np.int32)), _PRIOR)
    sweep_lanes_sum_product(row_ptr, col_idx, priors, state, np.zeros(32, np.int64))
    assert np.all(np.isfinite(_float(state[1])))
    np.testing.assert_allclose(_float(state[1]), 16.6, atol=0.05)


def test_polynomials_are_accurate() -> None:
    assert POLYNOMIAL_ERRORS["2^t"] < 1.5e-4
    assert POLYNOMIAL_ERRORS["log2(1 + t)"] < 1.5e-4


def _small_state(width: int, n_edges: int = 2) -> tuple[np.ndarray, ...]:
    return (
        _half(np.ones((3, width))),
        _half(np.zeros((n_edges, width))),
        np.zeros(1, np.uint32),
        np.ones(width, np.float32),
        np.zeros(width, np.int32),
        np.zeros(3, np.uint32),
    )


@pytest.mark.parametrize("width", [3, 24, 64])
def test_other_lane_widths_are_refused(width: int) -> None:
    row_ptr = np.array([0, 2], dtype=np.int32)
    col_idx = np.array([0, 1], dtype=np.int32)
    priors = (first_touch_ranks(col_idx, np.arange(3, dtype=np.int32)), _PRIOR)
    with pytest.raises(ValueError, match="32, 16, 8, 4, 2 or 1 lanes"):
        sweep_lanes_sum_product(row_ptr, col_idx, priors, _small_state(width), np.zeros(width, np.int64))


def test_arrays_that_do_not_match_the_code_are_refused() -> None:
    row_ptr = np.array([0, 2, 4], dtype=np.int32)
    col_idx = np.array([0, 1, 1, 2], dtype=np.int32)
    priors = (first_touch_ranks(col_idx, np.arange(3, dtype=np.int32)), _PRIOR)
    with pytest.raises(ValueError, match="do not match"):
        sweep_lanes_sum_product(row_ptr, col_idx, priors, _small_state(32), np.zeros(32, np.int64))


def test_the_portable_sweep_passes_these_tests_too() -> None:
    """On a host with AVX-512 the tests above exercise its intrinsics; here they run again with numba
    compiling for a generic x86-64 CPU, which takes the target-independent IR."""
    if not has_avx512():
        pytest.skip("this host already runs the portable sweep in the tests above")
    environment = {**os.environ, "NUMBA_CPU_NAME": "generic", "NUMBA_CPU_FEATURES": ""}
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "not portable"],
        env=environment,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
