"""Numba kernels of LDPC reconciliation: syndromes of many frames, and layered belief-propagation decoding.

Bob decodes the *error pattern* ``e = x_A xor x_B`` rather than Alice's word: its syndrome is
``s_A xor H x_B``, and on a binary symmetric channel every bit of ``e`` has the same prior
``log((1 - q) / q)``, while shortened positions (known to both ends) have ``e = 0`` for certain.

The decoder is normalised min-sum or sum-product (``check_rule``) with a row-layered schedule (Hocevar, "A
reduced complexity decoder architecture via layered decoding of LDPC codes", SIPS 2004; Chen, Fossorier et
al., IEEE Trans. Commun. 53(8), 2005 for the normalisation). Layering roughly halves the iterations of the
flooding schedule. Decoding stops as soon as the hard decisions satisfy every check, verified exactly
against the syndrome; a frame that does not get there within ``max_iterations`` is reported as not
converged.

Sum-product decodes frames side by side in lanes of 32 (16, 8, ... for the last ones and for short calls)
in :mod:`openqci.link.ldpc_lanes`, one frame included: its sweep is LLVM IR on lane vectors and beats a
scalar loop even on one lane. Min-sum runs here: one check-to-variable message per edge, running minima
tracked without branches (measured faster than storing messages compressed); with at least :data:`LANES`
frames every array gets a lane axis, so each edge's update is one SIMD operation over the lanes, about
three times cheaper per frame than the scalar path, a lane whose frame finishes takes the next frame at
once, and the last few frames finish on the scalar path. Everything runs on one core (no threads);
arguments are unpacked booleans.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from openqci.link._lane_tables import lane_table
from openqci.link._prefetch import prefetch_row
from openqci.link._sum_product_lanes import CERTAIN_LLR, LANE_WIDTH
from openqci.link.ldpc_lanes import (
    PackedFrames,
    decode_in_lanes,
    error_syndromes,
    packed_syndromes,
    unpack_syndrome,
)

__all__ = ["LANES", "MIN_SUM", "SUM_PRODUCT", "decode_frames", "encode_frames"]

MIN_SUM = 0
"""Check rule: normalised min-sum."""

SUM_PRODUCT = 1
"""Check rule: sum-product (:mod:`openqci.link.ldpc_lanes`); the normalisation is not used."""

_CERTAIN_LLR = np.float32(CERTAIN_LLR)

LANES = LANE_WIDTH
"""Frames decoded side by side: 32, the row the sum-product IR is written for and where the compiler
vectorises the min-sum lane loops."""


@numba.njit(cache=True, nogil=True)
def _syndrome(
    row_ptr: NDArray[np.int32], col_idx: NDArray[np.int32], frame: NDArray[np.bool_], out: NDArray[np.bool_]
) -> None:
    """``out = H frame`` over GF(2)."""
    for c in range(row_ptr.size - 1):
        parity = False
        for e in range(row_ptr[c], row_ptr[c + 1]):
            parity ^= frame[col_idx[e]]
        out[c] = parity


@numba.njit(cache=True, nogil=True)
def encode_frames(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    bits: NDArray[np.bool_],
    positions: NDArray[np.int32],
    frame_key_bits: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """Alice's side: the syndrome of every frame, shape ``(frames, m)``.

    Frame ``i`` holds ``frame_key_bits[i]`` consecutive bits of ``bits`` at the last positions of
    ``positions``; its first positions are shortened (value 0).
    """
    starts = np.zeros(frame_key_bits.size + 1, dtype=np.int64)
    starts[1:] = np.cumsum(frame_key_bits)
    packed = packed_syndromes(row_ptr, col_idx, bits, positions, starts)
    out = np.empty((frame_key_bits.size, row_ptr.size - 1), dtype=np.bool_)
    for i in range(frame_key_bits.size):
        unpack_syndrome(packed, i, out[i])
    return out


@numba.njit(cache=True, nogil=True)
def decode_frames(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    bits: NDArray[np.bool_],
    syndromes: NDArray[np.bool_],
    positions: NDArray[np.int32],
    frame_key_bits: NDArray[np.int64],
    prior_llr: float,
    normalisation: float,
    max_iterations: int,
    check_rule: int = MIN_SUM,
) -> tuple[NDArray[np.bool_], NDArray[np.int32]]:
    """Bob's side: correct every frame of ``bits`` towards the word whose syndrome Alice sent.

    Returns the corrected bits and, per frame, the iterations used (0: no error seen) or ``-1`` when the
    decoder did not reach the syndrome (the frame's bits are then returned uncorrected).
    """
    corrected = bits.copy()
    iterations = np.full(frame_key_bits.size, -1, dtype=np.int32)
    starts = np.zeros(frame_key_bits.size + 1, dtype=np.int64)
    starts[1:] = np.cumsum(frame_key_bits)
    settings = (np.float32(prior_llr), np.float32(normalisation), max_iterations)
    if check_rule == SUM_PRODUCT:
        received = (bits, syndromes, positions, starts)
        decode_in_lanes(row_ptr, col_idx, received, prior_llr, max_iterations, corrected, iterations)
    elif frame_key_bits.size >= LANES:
        _decode_min_sum_in_lanes(
            row_ptr, col_idx, bits, syndromes, positions, starts, settings, corrected, iterations
        )
    else:
        _decode_one_by_one(
            row_ptr, col_idx, bits, syndromes, positions, starts, settings, corrected, iterations
        )
    return corrected, iterations


_Settings = tuple[np.float32, np.float32, int]
"""Prior LLR of a key bit, min-sum normalisation, iteration limit (sum-product needs no settings here)."""


@numba.njit(cache=True, nogil=True)
def _decode_one_by_one(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    bits: NDArray[np.bool_],
    syndromes: NDArray[np.bool_],
    positions: NDArray[np.int32],
    starts: NDArray[np.int64],
    settings: _Settings,
    corrected: NDArray[np.bool_],
    iterations: NDArray[np.int32],
) -> None:
    """Min-sum's scalar path for a handful of frames, where lanes would mostly sit idle."""
    prior, normalisation, max_iterations = settings
    n_bits = positions.size
    packed, has_errors = error_syndromes(row_ptr, col_idx, bits, syndromes, positions, starts)
    target = np.empty(row_ptr.size - 1, dtype=np.bool_)
    state = _new_state(n_bits, col_idx.size, int(np.max(np.diff(row_ptr))))
    for i in range(starts.size - 1):
        n_key = starts[i + 1] - starts[i]
        if not has_errors[i]:
            iterations[i] = 0
            continue
        unpack_syndrome(packed, i, target)
        _init_llr(state[0], positions, n_bits - n_key, prior)
        state[1][:] = 0.0
        iterations[i] = _iterate(row_ptr, col_idx, target, state, (normalisation, max_iterations))
        if iterations[i] > 0:
            _apply_errors(corrected, starts[i], n_key, positions, state[0])


_State = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]
"""Decoder working arrays: posterior LLR per bit, check-to-variable message per edge, a row of scratch."""


@numba.njit(cache=True, nogil=True)
def _new_state(n_bits: int, n_edges: int, max_row: int) -> _State:
    """Working arrays of one frame, reused across frames."""
    return (
        np.empty(n_bits, dtype=np.float32),
        np.zeros(n_edges, dtype=np.float32),
        np.empty(max_row, dtype=np.float32),
    )


@numba.njit(cache=True, nogil=True)
def _init_llr(
    llr: NDArray[np.float32], positions: NDArray[np.int32], n_short: int, prior: np.float32
) -> None:
    """Prior of each error bit: ``prior`` on key positions, certainty of no error on shortened ones."""
    llr[:] = prior
    for j in range(n_short):
        llr[positions[j]] = _CERTAIN_LLR


@numba.njit(cache=True, nogil=True)
def _apply_errors(
    corrected: NDArray[np.bool_],
    start: int,
    n_key: int,
    positions: NDArray[np.int32],
    llr: NDArray[np.float32],
) -> None:
    """Flip the key bits whose decoded error bit is 1 (negative posterior)."""
    first = positions.size - n_key
    for j in range(n_key):
        if llr[positions[first + j]] < 0:
            corrected[start + j] = not corrected[start + j]


@numba.njit(cache=True, nogil=True)
def _hard_decisions_match(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    target: NDArray[np.bool_],
    llr: NDArray[np.float32],
) -> bool:
    """Whether the signs of ``llr`` satisfy every check against ``target``."""
    for c in range(row_ptr.size - 1):
        parity = target[c]
        for e in range(row_ptr[c], row_ptr[c + 1]):
            parity ^= llr[col_idx[e]] < 0
        if parity:
            return False
    return True


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _iterate(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    target: NDArray[np.bool_],
    state: _State,
    rule: tuple[np.float32, int],
) -> int:
    """Layered min-sum decoding from the messages in ``state``; iterations used, or -1 on failure.

    ``rule`` is the normalisation and the iteration limit.
    """
    normalisation, max_iterations = rule
    for iteration in range(1, max_iterations + 1):
        unsatisfied = 0
        for c in range(row_ptr.size - 1):
            unsatisfied += _update_check(row_ptr[c], row_ptr[c + 1], col_idx, target[c], state, normalisation)
        if unsatisfied == 0 and _hard_decisions_match(row_ptr, col_idx, target, state[0]):
            return iteration
    return -1


@numba.njit(cache=True, nogil=True, inline="always")
def _update_check(
    first: int,
    stop: int,
    col_idx: NDArray[np.int32],
    syndrome_bit: bool,
    state: _State,
    normalisation: np.float32,
) -> int:
    """One layer: refresh the messages of the check on edges ``first:stop``; 1 if it was unsatisfied."""
    llr, messages, scratch = state
    min1 = np.float32(np.inf)
    min2 = np.float32(np.inf)
    arg_min = 0
    parity = syndrome_bit
    hard = syndrome_bit
    for j in range(stop - first):
        posterior = llr[col_idx[first + j]]
        hard ^= posterior < 0
        q = posterior - messages[first + j]
        scratch[j] = q
        parity ^= q < 0
        magnitude = abs(q)
        arg_min = j if magnitude < min1 else arg_min
        min2 = min(min2, max(min1, magnitude))
        min1 = min(min1, magnitude)
    min1 *= normalisation
    min2 *= normalisation
    for j in range(stop - first):
        q = scratch[j]
        message = min2 if j == arg_min else min1
        message = -message if parity ^ (q < 0) else message
        messages[first + j] = message
        llr[col_idx[first + j]] = q + message
    return 1 if hard else 0


_Lanes = tuple[
    NDArray[np.float32],
    NDArray[np.float32],
    NDArray[np.float32],
    NDArray[np.int64],
    NDArray[np.int64],
    NDArray[np.float32],
]
"""Lane arrays: posteriors ``(n, LANES)``, messages ``(edges, LANES)``, check signs ``(m, LANES)`` (-1 where
the error pattern's syndrome bit is 1), frame held by each lane (-1: idle), iterations done by each lane, and
per lane 0.0 until its first sweep: its stored messages belong to the previous frame and are read as 0
(clearing a lane's column of messages touches one cache line per edge and cost more than the decoding it
prepares). Messages start at zero, so a stale one is always finite and 0 times it is 0."""


@numba.njit(cache=True, nogil=True)
def _decode_min_sum_in_lanes(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    bits: NDArray[np.bool_],
    syndromes: NDArray[np.bool_],
    positions: NDArray[np.int32],
    starts: NDArray[np.int64],
    settings: _Settings,
    corrected: NDArray[np.bool_],
    iterations: NDArray[np.int32],
) -> None:
    """Decode ``LANES`` frames side by side; a lane whose frame finishes takes the next one at once.

    When no frame is left to start and only a few lanes still work, those frames finish on the scalar
    path, so a slow last frame does not cost a full set of lanes per iteration.
    """
    n_bits, n_checks = positions.size, row_ptr.size - 1
    lanes: _Lanes = (
        lane_table(n_bits, LANES),
        lane_table(col_idx.size, LANES),
        np.ones((n_checks, LANES), dtype=np.float32),
        np.full(LANES, -1, dtype=np.int64),
        np.zeros(LANES, dtype=np.int64),
        np.zeros(LANES, dtype=np.float32),
    )
    target = np.empty(n_checks, dtype=np.bool_)
    frames = (positions, starts, *error_syndromes(row_ptr, col_idx, bits, syndromes, positions, starts))
    next_frame = 0
    for lane in range(LANES):
        next_frame = _load_lane(lane, next_frame, frames, settings, lanes, target, iterations)
    unsatisfied = np.zeros(LANES, dtype=np.int64)
    while np.count_nonzero(lanes[3] >= 0) > (LANES // 4 if next_frame == starts.size - 1 else 0):
        unsatisfied[:] = 0
        _sweep_lanes(row_ptr, col_idx, lanes, settings[1], unsatisfied)
        for lane in range(LANES):
            if lanes[3][lane] >= 0 and _lane_finished(
                lane, row_ptr, col_idx, frames, settings, lanes, unsatisfied[lane], corrected, iterations
            ):
                next_frame = _load_lane(lane, next_frame, frames, settings, lanes, target, iterations)
    _finish_on_scalar_path(row_ptr, col_idx, frames, settings, lanes, corrected, iterations)


@numba.njit(cache=True, nogil=True)
def _load_lane(
    lane: int,
    next_frame: int,
    frames: PackedFrames,
    settings: _Settings,
    lanes: _Lanes,
    target: NDArray[np.bool_],
    iterations: NDArray[np.int32],
) -> int:
    """Put the next frame that has errors into ``lane`` (frames without errors are done on the way)."""
    positions, starts, packed, has_errors = frames
    llr, _, signs, lane_frame, lane_used, reuse = lanes
    while next_frame < starts.size - 1:
        i = next_frame
        next_frame += 1
        n_key = starts[i + 1] - starts[i]
        if not has_errors[i]:
            iterations[i] = 0
            continue
        unpack_syndrome(packed, i, target)
        llr[:, lane] = settings[0]
        for j in range(positions.size - n_key):
            llr[positions[j], lane] = _CERTAIN_LLR
        reuse[lane] = 0.0
        for c in range(signs.shape[0]):
            signs[c, lane] = -1.0 if target[c] else 1.0
        lane_frame[lane], lane_used[lane] = i, 0
        return next_frame
    lane_frame[lane] = -1
    return next_frame


@numba.njit(cache=True, nogil=True)
def _lane_finished(
    lane: int,
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    frames: PackedFrames,
    settings: _Settings,
    lanes: _Lanes,
    unsatisfied: int,
    corrected: NDArray[np.bool_],
    iterations: NDArray[np.int32],
) -> bool:
    """Count one iteration for ``lane``; record its frame if it reached the syndrome or the limit."""
    llr, _, signs, lane_frame, lane_used, _ = lanes
    lane_used[lane] += 1
    i = lane_frame[lane]
    if unsatisfied == 0 and _lane_matches(row_ptr, col_idx, signs, llr, lane):
        iterations[i] = lane_used[lane]
        positions, starts = frames[0], frames[1]
        first = positions.size - (starts[i + 1] - starts[i])
        for j in range(starts[i + 1] - starts[i]):
            if llr[positions[first + j], lane] < 0:
                corrected[starts[i] + j] = not corrected[starts[i] + j]
        return True
    return bool(lane_used[lane] >= settings[2])


@numba.njit(cache=True, nogil=True)
def _lane_matches(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    signs: NDArray[np.float32],
    llr: NDArray[np.float32],
    lane: int,
) -> bool:
    """Whether the hard decisions of ``lane`` satisfy every check (on a contiguous copy of the lane)."""
    hard = llr[:, lane] < 0
    syndrome = np.empty(row_ptr.size - 1, dtype=np.bool_)
    _syndrome(row_ptr, col_idx, hard, syndrome)
    return bool(np.all(syndrome == (signs[:, lane] < 0)))


@numba.njit(cache=True, nogil=True)
def _finish_on_scalar_path(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    frames: PackedFrames,
    settings: _Settings,
    lanes: _Lanes,
    corrected: NDArray[np.bool_],
    iterations: NDArray[np.int32],
) -> None:
    """Carry on, one frame at a time, from where each still-busy lane stopped."""
    positions, starts = frames[0], frames[1]
    llr, messages, signs, lane_frame, lane_used, reuse = lanes
    state = _new_state(positions.size, col_idx.size, int(np.max(np.diff(row_ptr))))
    for lane in range(LANES):
        i = lane_frame[lane]
        if i < 0:
            continue
        state[0][:] = llr[:, lane]
        state[1][:] = messages[:, lane] * reuse[lane]
        target = signs[:, lane] < 0
        used = _iterate(row_ptr, col_idx, target, state, (settings[1], settings[2] - lane_used[lane]))
        if used > 0:
            iterations[i] = used + lane_used[lane]
            _apply_errors(corrected, starts[i], starts[i + 1] - starts[i], positions, state[0])


@numba.njit(cache=True, nogil=True, fastmath=True)
def _sweep_lanes(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    lanes: _Lanes,
    normalisation: np.float32,
    unsatisfied: NDArray[np.int64],
) -> None:
    """One layered min-sum iteration over every lane; counts per lane the checks found unsatisfied.

    Written as one body on purpose: the per-lane minima live in arrays allocated here, which the compiler
    knows alias nothing, and the lane count comes from an array shape (with a constant trip count the lane
    loops get unrolled instead of vectorised). Both are needed for the lane loops to become SIMD code.
    """
    llr, messages, signs, reuse = lanes[0], lanes[1], lanes[2], lanes[5]
    width = llr.shape[1]
    scratch = np.empty((int(np.max(np.diff(row_ptr))), width), dtype=np.float32)
    min1, min2 = np.empty(width, dtype=np.float32), np.empty(width, dtype=np.float32)
    arg_min, sign, hard = (
        np.empty(width, np.float32),
        np.empty(width, np.float32),
        np.empty(width, np.float32),
    )
    for c in range(row_ptr.size - 1):
        first, degree = row_ptr[c], row_ptr[c + 1] - row_ptr[c]
        for f in range(width):
            min1[f], min2[f], arg_min[f] = np.float32(3.0e38), np.float32(3.0e38), np.float32(0.0)
            sign[f], hard[f] = signs[c, f], signs[c, f]
        for j in range(degree):
            v, e, position = col_idx[first + j], first + j, np.float32(j)
            prefetch_row(llr, col_idx, e + degree)  # the next check's j-th bit
            for f in range(width):
                posterior = llr[v, f]
                q = posterior - messages[e, f] * reuse[f]
                scratch[j, f] = q
                hard[f] = -hard[f] if posterior < 0 else hard[f]
                sign[f] = -sign[f] if q < 0 else sign[f]
                magnitude, smallest = abs(q), min1[f]
                arg_min[f] = position if magnitude < smallest else arg_min[f]
                min2[f] = min(min2[f], max(smallest, magnitude))
                min1[f] = min(smallest, magnitude)
        for f in range(width):
            min1[f] *= normalisation
            min2[f] *= normalisation
            unsatisfied[f] += hard[f] < 0
        for j in range(degree):
            v, e, position = col_idx[first + j], first + j, np.float32(j)
            for f in range(width):
                q = scratch[j, f]
                message = min2[f] if position == arg_min[f] else min1[f]
                message = -message if (q < 0) != (sign[f] < 0) else message
                messages[e, f] = message
                llr[v, f] = q + message
    reuse[:] = 1.0
