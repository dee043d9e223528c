"""Throughput, efficiency and frame error rate of LDPC reconciliation on one core.

Run as ``.venv/bin/python benchmarks/bench_ldpc.py [--bits N] [--seed S]``. For each QBER the same sifted key
goes through :class:`openqci.link.ldpc.LdpcReconciler`; printed are Mbit/s of sifted key, the efficiency
``f = leaked / (n h(QBER))``, the frame error rate and mean iterations (time: the best of two calls). The
machine is shared, so two baselines on the same data are timed in the same run and the ratios printed
beside the absolute figures: ``numpy.packbits`` of the key, and Alice's syndromes as a scipy sparse matrix
product (the least work any syndrome-based method does).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from openqci.link.ldpc import LdpcReconciler, plan_frames, shortening_order
from openqci.link.ldpc_codes import SHORT_CODES, LdpcCode, build_code
from openqci.link.ldpc_decoder import LANES, decode_frames, encode_frames
from openqci.physics.entropy import binary_entropy

QBERS = (0.01, 0.02, 0.03, 0.05)


def _best_of(repeats: int, work: object) -> float:
    """Shortest wall time of ``repeats`` calls, in seconds."""
    assert callable(work)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def _sparse_syndromes(code: LdpcCode, frames: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Syndromes of a (frames, n) array as ``H @ x mod 2`` with scipy."""
    data = np.ones(code.col_idx.size, dtype=np.int64)
    matrix = scipy.sparse.csr_matrix((data, code.col_idx, code.row_ptr), shape=(code.n_checks, code.n_bits))
    return np.asarray(matrix @ frames.T.astype(np.int64)) & 1


def _one_qber(qber: float, n_bits: int, seed: int) -> None:
    """Reconcile one key at ``qber`` and print the figures and ratios."""
    rng = np.random.default_rng(seed)
    alice = rng.random(n_bits) < 0.5
    bob = alice ^ (rng.random(n_bits) < qber)
    reconciler = LdpcReconciler()
    ldpc_s = float("inf")
    for _ in range(2):  # best of two: the machine is shared
        start = time.perf_counter()
        result, report = reconciler.reconcile_frames(alice, bob, qber, rng=rng)
        ldpc_s = min(ldpc_s, time.perf_counter() - start)
    spec, frame_bits = plan_frames(n_bits, qber, reconciler.parameters.efficiency_target)[0]
    code = build_code(spec)
    frames = np.zeros((frame_bits.size, code.n_bits), dtype=np.bool_)
    order = shortening_order(code.n_bits, seed)
    frames[:, order[code.n_bits - int(frame_bits.min()) :]] = True
    sparse_s = _best_of(3, lambda: _sparse_syndromes(code, frames))
    pack_s = _best_of(3, lambda: np.packbits(alice))
    residual = int(np.count_nonzero(result.corrected_bits != alice))
    converged = report.iterations[report.iterations > 0]
    print(
        f"QBER {qber:.2%}: {n_bits / ldpc_s / 1e6:6.2f} Mbit/s  f = {result.efficiency(qber):.3f}  "
        f"FER = {report.frame_errors}/{report.iterations.size}  mean iterations {converged.mean():.1f}  "
        f"code rate {report.code_rates[0]:.2f}  residual bit errors {residual}"
    )
    print(
        f"    baselines: packbits {n_bits / pack_s / 1e6:9.1f} Mbit/s (LDPC {pack_s / ldpc_s:.2e} of it), "
        f"sparse syndrome {n_bits / sparse_s / 1e6:7.1f} Mbit/s (LDPC {sparse_s / ldpc_s:.3f} of it)"
    )


def _warm_up() -> None:
    """Compile (or load from numba's cache) the scalar and the lane kernels outside the timings."""
    code = build_code(SHORT_CODES[0])
    frame_key_bits = np.full(LANES, 64, dtype=np.int64)
    bits = np.zeros(int(frame_key_bits.sum()), dtype=np.bool_)
    order = shortening_order(code.n_bits, 0)
    syndromes = encode_frames(code.row_ptr, code.col_idx, bits, order, frame_key_bits)
    for frames in (frame_key_bits, frame_key_bits[:1]):
        decode_frames(code.row_ptr, code.col_idx, ~bits, syndromes, order, frames, 2.0, 0.8, 2)


def main() -> None:
    """Parse the options and run every QBER."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=1 << 24, help="sifted key bits per QBER")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    h_2pc = float(binary_entropy(0.02))
    print(f"LDPC reconciliation, {args.bits} sifted bits per QBER, one core, h(2 %) = {h_2pc:.4f}")
    _warm_up()
    for qber in QBERS:
        _one_qber(qber, args.bits, args.seed)


if __name__ == "__main__":
    main()
