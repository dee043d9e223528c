"""Sum-product decoding of frames in lanes (16 side by side), each lane's bookkeeping off its column.

The sweep (:mod:`openqci.link._sum_product_lanes`) refreshes every check in 16 frames at once; what is
left is starting frames in lanes and checking finished ones. Done on the lane columns of the posterior
table, both would walk a strided column of 131,072 rows, a cache line per row: about 5 ms per frame, a
fifth of its decoding when it was measured. Here they touch packed words instead:

- targets: each check's syndrome bits (Alice's xor Bob's) are one ``uint32`` per check with a bit per
  lane; Bob's syndromes are computed 32 frames per pass over the code (:func:`packed_syndromes`), 32
  per word;
- priors: a frame new to its lane reads each bit's prior on the bit's first edge of the sweep instead of
  having its column filled in advance;
- decisions: the sweep stores each bit's hard decisions as one word, so one pass over the edges checks
  every lane's syndrome at once.

A lane whose frame reaches the syndrome (verified exactly, on the decisions after the sweep) or the
iteration limit takes the next frame at once. When no frame is left to start and half the lanes are idle,
the frames still decoding move to a sweep half as wide, down to 8 lanes (:data:`_NARROWEST`). A call with
fewer frames starts in the widest sweep they fill, down to one lane, which still decodes a frame faster
than the former scalar numba loop.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from openqci.link._lane_tables import half_lane_table
from openqci.link._sum_product_lanes import (
    LANE_WIDTH,
    WIDTHS,
    LaneState,
    first_touch_ranks,
    sweep_lanes_sum_product,
)

__all__ = ["PackedFrames", "decode_in_lanes", "error_syndromes", "packed_syndromes", "unpack_syndrome"]

_ONE = np.uint32(1)
_WIDEST = 16
"""Frames decoded side by side while frames are left to start. The sweep supports 32, but 16 runs faster
per frame (``benchmarks/bench_ldpc_sweep.py``: 0.55 against 0.62 ns per edge and lane with AVX-512, where
a 32-lane row takes two registers for every value and the sweep runs out of them) and leaves a shorter
tail of last frames: 2^24 bits at QBER 2 % decoded 5-8 % faster (``benchmarks/bench_ldpc.py``)."""
_NARROWEST = 8
"""The last frames move to narrower sweeps down to this width and no further: a sweep of 8 lanes takes
about as long as one of 4, 2 or 1 (``benchmarks/bench_ldpc_sweep.py``: 6.1, 5.8, 6.1 and 6.7 ms on the
131,072-bit code), and each move copies the tables."""


@numba.njit(cache=True, nogil=True)
def packed_syndromes(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    bits: NDArray[np.bool_],
    positions: NDArray[np.int32],
    starts: NDArray[np.int64],
) -> NDArray[np.uint32]:  # pragma: no cover - numba
    """Syndromes of every frame, 32 per word: bit ``i`` of ``out[b, c]`` is check ``c`` of frame ``32 b + i``.

    Frame ``i`` holds ``bits[starts[i]:starts[i + 1]]`` at the last positions of ``positions``; its first
    positions are shortened (value 0). One pass over the edges serves 32 frames.
    """
    n_bits, n_checks, n_frames = positions.size, row_ptr.size - 1, starts.size - 1
    out = np.zeros(((n_frames + LANE_WIDTH - 1) // LANE_WIDTH, n_checks), dtype=np.uint32)
    words = np.zeros(n_bits, dtype=np.uint32)
    for batch in range(out.shape[0]):
        low, high = batch * LANE_WIDTH, min(n_frames, (batch + 1) * LANE_WIDTH)
        firsts = n_bits - (starts[low + 1 : high + 1] - starts[low:high])
        bases = starts[low:high] - firsts  # bit p of frame low + f is bits[bases[f] + p], from firsts[f] on
        all_key = int(np.max(firsts))
        for p in range(all_key):
            word = np.uint32(0)
            for f in range(high - low):
                if p >= firsts[f] and bits[bases[f] + p]:
                    word |= _ONE << np.uint32(f)
            words[positions[p]] = word
        for p in range(all_key, n_bits):  # position-major: the frames' bits are 32 sequential streams
            word = np.uint32(0)
            for f in range(high - low):
                word |= np.uint32(bits[bases[f] + p]) << np.uint32(f)
            words[positions[p]] = word
        for c in range(n_checks):
            parity = np.uint32(0)
            for e in range(row_ptr[c], row_ptr[c + 1]):
                parity ^= words[col_idx[e]]
            out[batch, c] = parity
    return out


@numba.njit(cache=True, nogil=True)
def unpack_syndrome(packed: NDArray[np.uint32], i: int, out: NDArray[np.bool_]) -> None:  # pragma: no cover
    """Frame ``i``'s bits of :func:`packed_syndromes` or :func:`error_syndromes`, unpacked into ``out``."""
    shift = np.uint32(i % LANE_WIDTH)
    for c in range(out.size):
        out[c] = (packed[i // LANE_WIDTH, c] >> shift) & _ONE


@numba.njit(cache=True, nogil=True)
def error_syndromes(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    bits: NDArray[np.bool_],
    syndromes: NDArray[np.bool_],
    positions: NDArray[np.int32],
    starts: NDArray[np.int64],
) -> tuple[NDArray[np.uint32], NDArray[np.bool_]]:  # pragma: no cover - numba
    """Syndromes of the error patterns (``s_A xor H x_B``), packed, and which frames have any error."""
    targets = packed_syndromes(row_ptr, col_idx, bits, positions, starts)
    n_frames = starts.size - 1
    for i in range(n_frames):
        bit = _ONE << np.uint32(i % LANE_WIDTH)
        for c in range(row_ptr.size - 1):
            if syndromes[i, c]:
                targets[i // LANE_WIDTH, c] ^= bit
    seen = np.zeros(targets.shape[0], dtype=np.uint32)  # per word, the frames with any target bit
    for batch in range(targets.shape[0]):
        for c in range(targets.shape[1]):
            seen[batch] |= targets[batch, c]
    has_errors = np.zeros(n_frames, dtype=np.bool_)
    for i in range(n_frames):
        has_errors[i] = (seen[i // LANE_WIDTH] >> np.uint32(i % LANE_WIDTH)) & _ONE
    return targets, has_errors


@numba.njit(cache=True, nogil=True)
def _lanes_matching(
    row_ptr: NDArray[np.int32], col_idx: NDArray[np.int32], state: LaneState
) -> np.uint32:  # pragma: no cover - numba
    """Bit ``i`` set where lane ``i``'s hard decisions satisfy every check against its target."""
    targets, decisions = state[2], state[5]
    mismatch = np.uint32(0)
    for c in range(row_ptr.size - 1):
        parity = targets[c]
        for e in range(row_ptr[c], row_ptr[c + 1]):
            parity ^= decisions[col_idx[e]]
        mismatch |= parity
    return ~mismatch


PackedFrames = tuple[NDArray[np.int32], NDArray[np.int64], NDArray[np.uint32], NDArray[np.bool_]]
"""The shortening order, the first key bit of each frame, and :func:`error_syndromes`: the packed
syndromes of the error patterns and which frames have any error."""


@numba.njit(cache=True, nogil=True)
def _load_lane(
    lane: int,
    next_frame: int,
    frames: PackedFrames,
    state: LaneState,
    holding: tuple[NDArray[np.int64], NDArray[np.int64]],
    iterations: NDArray[np.int32],
) -> int:  # pragma: no cover - numba
    """Put the next frame that has errors into ``lane`` (frames without errors are done on the way)."""
    positions, starts, packed, has_errors = frames
    targets, reuse, n_short = state[2], state[3], state[4]
    lane_frame, lane_used = holding
    keep = ~(_ONE << np.uint32(lane))
    while next_frame < starts.size - 1:
        i = next_frame
        next_frame += 1
        if not has_errors[i]:
            iterations[i] = 0
            continue
        shift = np.uint32(i % LANE_WIDTH)
        for c in range(targets.size):
            bit = (packed[i // LANE_WIDTH, c] >> shift) & _ONE
            targets[c] = (targets[c] & keep) | (bit << np.uint32(lane))
        reuse[lane] = 0.0
        n_short[lane] = positions.size - (starts[i + 1] - starts[i])
        lane_frame[lane], lane_used[lane] = i, 0
        return next_frame
    for c in range(targets.size):
        targets[c] &= keep
    lane_frame[lane] = -1
    return next_frame


@numba.njit(cache=True, nogil=True)
def _record(
    lane: int, i: int, frames: PackedFrames, state: LaneState, corrected: NDArray[np.bool_]
) -> None:  # pragma: no cover - numba
    """Flip the key bits of frame ``i`` that ``lane`` decided are errors."""
    positions, starts, decisions = frames[0], frames[1], state[5]
    n_key = starts[i + 1] - starts[i]
    first = positions.size - n_key
    shift = np.uint32(lane)
    for j in range(n_key):
        if (decisions[positions[first + j]] >> shift) & _ONE:
            corrected[starts[i] + j] = not corrected[starts[i] + j]


@numba.njit(cache=True, nogil=True)
def _narrow(
    state: LaneState, holding: tuple[NDArray[np.int64], NDArray[np.int64]], width: int
) -> tuple[LaneState, tuple[NDArray[np.int64], NDArray[np.int64]]]:  # pragma: no cover - numba
    """The busy lanes (at most ``width``) moved into arrays ``width`` lanes wide; idle lanes hold zeros."""
    llr, messages, targets, reuse, n_short, _ = state
    lane_frame, lane_used = holding
    kept = np.flatnonzero(lane_frame >= 0)
    narrow: LaneState = (
        half_lane_table(llr.shape[0], width),
        half_lane_table(messages.shape[0], width),
        np.zeros(targets.size, dtype=np.uint32),
        np.ones(width, dtype=np.float32),
        np.zeros(width, dtype=np.int32),
        np.zeros(llr.shape[0], dtype=np.uint32),
    )
    new_frame, new_used = np.full(width, -1, dtype=np.int64), np.zeros(width, dtype=np.int64)
    for k in range(kept.size):
        lane = kept[k]
        narrow[3][k], narrow[4][k] = reuse[lane], n_short[lane]
        new_frame[k], new_used[k] = lane_frame[lane], lane_used[lane]
    for r in range(llr.shape[0]):
        for k in range(kept.size):
            narrow[0][r, k] = llr[r, kept[k]]
    for e in range(messages.shape[0]):
        for k in range(kept.size):
            narrow[1][e, k] = messages[e, kept[k]]
    for c in range(targets.size):
        for k in range(kept.size):
            narrow[2][c] |= ((targets[c] >> np.uint32(kept[k])) & _ONE) << np.uint32(k)
    return narrow, (new_frame, new_used)


@numba.njit(cache=True, nogil=True)
def decode_in_lanes(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    received: tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.int32], NDArray[np.int64]],
    prior: float,
    max_iterations: int,
    corrected: NDArray[np.bool_],
    iterations: NDArray[np.int32],
) -> None:  # pragma: no cover - numba
    """Decode every frame, 16 at a time (fewer frames: in the widest sweep they fill).

    ``received`` is Bob's bits, Alice's syndromes ``(frames, m)``, the shortening order and the first key
    bit of each frame (``starts``, one more entry than frames). Frames are corrected in place and their
    iterations recorded in ``iterations`` (0: no error; -1: the limit was reached, bits left as they were).
    """
    bits, syndromes, positions, starts = received
    n_bits = positions.size
    n_frames = starts.size - 1
    width = WIDTHS[-1]  # the widest sweep the frames fill
    for candidate in WIDTHS[::-1]:
        if candidate <= min(n_frames, _WIDEST):
            width = candidate
    packed, has_errors = error_syndromes(row_ptr, col_idx, bits, syndromes, positions, starts)
    frames = (positions, starts, packed, has_errors)
    state: LaneState = (
        half_lane_table(n_bits, width),
        half_lane_table(col_idx.size, width),
        np.zeros(row_ptr.size - 1, dtype=np.uint32),
        np.zeros(width, dtype=np.float32),
        np.zeros(width, dtype=np.int32),
        np.zeros(n_bits, dtype=np.uint32),
    )
    holding = (np.full(width, -1, dtype=np.int64), np.zeros(width, dtype=np.int64))
    lane_frame, lane_used = holding
    rank = np.empty(n_bits, dtype=np.int32)
    for j in range(n_bits):
        rank[positions[j]] = j
    priors = (first_touch_ranks(col_idx, rank), prior)
    next_frame = 0
    for lane in range(width):
        next_frame = _load_lane(lane, next_frame, frames, state, holding, iterations)
    while np.any(lane_frame >= 0):
        width = lane_frame.size
        busy = np.count_nonzero(lane_frame >= 0)
        if next_frame == n_frames and width > _NARROWEST and busy <= width // 2:
            state, holding = _narrow(state, holding, width // 2)
            lane_frame, lane_used = holding
            continue
        unsatisfied = np.zeros(width, dtype=np.int64)
        sweep_lanes_sum_product(row_ptr, col_idx, priors, state, unsatisfied)
        candidates = np.any((unsatisfied == 0) & (lane_frame >= 0))
        matching = _lanes_matching(row_ptr, col_idx, state) if candidates else np.uint32(0)
        for lane in range(width):
            i = lane_frame[lane]
            if i < 0:
                continue
            lane_used[lane] += 1
            if unsatisfied[lane] == 0 and (matching >> np.uint32(lane)) & _ONE:
                iterations[i] = lane_used[lane]
                _record(lane, i, frames, state, corrected)
            elif lane_used[lane] < max_iterations:
                continue
            next_frame = _load_lane(lane, next_frame, frames, state, holding, iterations)
