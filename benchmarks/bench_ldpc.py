"""Throughput, efficiency and frame error rate of LDPC reconciliation on one core.

Run as ``.venv/bin/python benchmarks/bench_ldpc.py [--bits N] [--seed S] [--family F ...] [--rule R ...]
[--qber Q ...] [--efficiency F]``. For each QBER the same sifted key goes through
:class:`openqci.link.ldpc.LdpcReconciler` once per code family and check rule asked for (default: every
combination); printed are Mbit/s of sifted key, the efficiency ``f = leaked / (n h(QBER))``, the frame error
rate and mean iterations (time: the best of two calls). The machine is shared, so baselines on the same data
are timed in the same run and ratios printed beside the absolute figures: the first combination (by
default the staircase family with min-sum, the former default), ``numpy.packbits`` of the key, and Alice's
syndromes as a scipy sparse matrix product (the least work any syndrome-based method does).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from openqci.link.ldpc import (
    CheckRule,
    CodeFamily,
    LdpcParameters,
    LdpcReconciler,
    plan_frames,
    shortening_order,
)
from openqci.link.ldpc_codes import PEG_SHORT_CODES, SHORT_CODES, LdpcCode, build_code
from openqci.link.ldpc_decoder import LANES, MIN_SUM, SUM_PRODUCT, decode_frames, encode_frames
from openqci.physics.entropy import binary_entropy
from timing import best_of

QBERS = (0.01, 0.02, 0.03, 0.05)


def _sparse_syndromes(code: LdpcCode, frames: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Syndromes of a (frames, n) array as ``H @ x mod 2`` with scipy."""
    data = np.ones(code.col_idx.size, dtype=np.int64)
    matrix = scipy.sparse.csr_matrix((data, code.col_idx, code.row_ptr), shape=(code.n_checks, code.n_bits))
    return np.asarray(matrix @ frames.T.astype(np.int64)) & 1


def _one_qber(qber: float, n_bits: int, seed: int, variants: list[LdpcParameters]) -> None:
    """Reconcile one key at ``qber`` with each variant and print the figures and ratios."""
    rng = np.random.default_rng(seed)
    alice = rng.random(n_bits) < 0.5
    bob = alice ^ (rng.random(n_bits) < qber)
    pack_s = best_of(3, lambda: np.packbits(alice))
    print(f"QBER {qber:.2%}: baseline packbits {n_bits / pack_s / 1e6:9.1f} Mbit/s")
    first_s = 0.0
    for parameters in variants:
        reconciler = LdpcReconciler(parameters)
        ldpc_s = float("inf")
        for _ in range(2):  # best of two: the machine is shared
            start = time.perf_counter()
            result, report = reconciler.reconcile_frames(alice, bob, qber, rng=rng)
            ldpc_s = min(ldpc_s, time.perf_counter() - start)
        first_s = first_s or ldpc_s
        spec, frame_bits = plan_frames(n_bits, qber, parameters.efficiency_target, parameters.code_family)[0]
        code = build_code(spec)
        frames = np.zeros((frame_bits.size, code.n_bits), dtype=np.bool_)
        order = shortening_order(code.n_bits, seed)
        frames[:, order[code.n_bits - int(frame_bits.min()) :]] = True
        sparse_s = best_of(3, lambda: _sparse_syndromes(code, frames))  # noqa: B023 (called at once)
        residual = int(np.count_nonzero(result.corrected_bits != alice))
        converged = report.iterations[report.iterations > 0]
        rule = parameters.check_rule.name if parameters.check_rule else "default"
        print(
            f"  {parameters.code_family.value:9s} {rule:11s} {n_bits / ldpc_s / 1e6:6.2f} Mbit/s  "
            f"f = {result.efficiency(qber):.3f}  FER = {report.frame_errors}/{report.iterations.size}  "
            f"mean iterations {converged.mean() if converged.size else float('nan'):.1f}  "
            f"code rate {report.code_rates[0]:.2f}  residual bit errors {residual}"
        )
        print(
            f"      speed vs first variant {first_s / ldpc_s:.3f}, vs packbits {pack_s / ldpc_s:.2e}, "
            f"vs sparse syndrome ({n_bits / sparse_s / 1e6:.1f} Mbit/s) {sparse_s / ldpc_s:.3f}"
        )


def _warm_up() -> None:
    """Compile (or load from numba's cache) the scalar and the lane kernels outside the timings."""
    for code in (build_code(SHORT_CODES[0]), build_code(PEG_SHORT_CODES[0])):
        frame_key_bits = np.full(LANES, 64, dtype=np.int64)
        bits = np.zeros(int(frame_key_bits.sum()), dtype=np.bool_)
        order = shortening_order(code.n_bits, 0)
        syndromes = encode_frames(code.row_ptr, code.col_idx, bits, order, frame_key_bits)
        for frames in (frame_key_bits, frame_key_bits[:1]):
            for rule in (MIN_SUM, SUM_PRODUCT):
                decode_frames(code.row_ptr, code.col_idx, ~bits, syndromes, order, frames, 2.0, 0.8, 2, rule)


def main() -> None:
    """Parse the options and run every QBER."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, default=1 << 24, help="sifted key bits per QBER")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--qber", type=float, nargs="+", default=list(QBERS))
    families = [family.value for family in CodeFamily]
    parser.add_argument("--family", nargs="+", choices=families, default=families, help="code families")
    rules = [rule.name.lower() for rule in CheckRule]
    parser.add_argument("--rule", nargs="+", choices=rules, default=rules, help="check rules")
    parser.add_argument("--efficiency", type=float, default=None, help="f aimed at (default: the codes')")
    args = parser.parse_args()
    variants = [
        LdpcParameters(
            code_family=CodeFamily(family),
            check_rule=CheckRule[rule.upper()],
            efficiency_target=args.efficiency,
        )
        for family in args.family
        for rule in args.rule
    ]
    h_2pc = float(binary_entropy(0.02))
    print(f"LDPC reconciliation, {args.bits} sifted bits per QBER, one core, h(2 %) = {h_2pc:.4f}")
    _warm_up()
    for qber in args.qber:
        _one_qber(qber, args.bits, args.seed, variants)


if __name__ == "__main__":
    main()
