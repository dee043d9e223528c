"""Cost of one layered sum-product sweep of the LDPC decoder, per edge and lane, on one core.

Run as ``.venv/bin/python benchmarks/bench_ldpc_sweep.py``. The sweep is the decoder's inner loop: every
check of the 131,072-bit rate-0.84 PEG code refreshed once in each of the 32 frames decoded side by side
(:mod:`openqci.link._sum_product_lanes`, posteriors and messages in half precision), and in the narrower
sweeps of the last frames. Printed beside it, in the same run: a numba loop with the same loads, stores and
prefetches and a plain product in place of the check rule on float32 tables (what the memory walk costs
when written the way numba vectorises it), and a copy of the float32 message array (the memory bandwidth
this core has). 10 Mbit/s of sifted key at about 20 iterations needs about 0.8 ns per edge and lane for
the whole decoder.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numba
import numpy as np
from numpy.typing import NDArray

from openqci.link._lane_tables import half_lane_table, lane_table
from openqci.link._prefetch import prefetch_row
from openqci.link._sum_product_lanes import WIDTHS, first_touch_ranks, sweep_lanes_sum_product
from openqci.link.ldpc_codes import PEG_LONG_CODES, build_code
from timing import best_of


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _sweep_without_check_rule(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    llr: NDArray[np.float32],
    messages: NDArray[np.float32],
) -> None:  # pragma: no cover - numba
    """The sweep's loads, stores and prefetches with a plain product in place of the tanh rule."""
    width = llr.shape[1]
    inputs = np.empty((int(np.max(np.diff(row_ptr))), width), dtype=np.float32)
    product = np.empty(width, np.float32)
    for c in range(row_ptr.size - 1):
        first, degree = row_ptr[c], row_ptr[c + 1] - row_ptr[c]
        product[:] = 1.0
        for j in range(degree):
            v, e = col_idx[first + j], first + j
            prefetch_row(llr, col_idx, e + degree)
            for f in range(width):
                q = llr[v, f] - messages[e, f]
                inputs[j, f] = q
                product[f] *= np.float32(0.5) + np.float32(0.01) * q
        for j in range(degree):
            v, e = col_idx[first + j], first + j
            for f in range(width):
                message = product[f] * inputs[j, f]
                messages[e, f] = message
                llr[v, f] = inputs[j, f] + message


def main() -> None:
    spec = next(s for s in PEG_LONG_CODES if abs(s.rate - 0.84) < 1e-9)
    code = build_code(spec)
    edges = code.col_idx.size
    print(f"PEG code {code.n_bits} bits, rate {spec.rate}, {edges} edges ({edges / code.n_bits:.2f} per bit)")
    rng = np.random.default_rng(1)
    for width in WIDTHS:
        llr = lane_table(code.n_bits, width)
        llr[:] = rng.standard_normal((code.n_bits, width)) * 3 + 4
        messages = lane_table(edges, width)
        half_llr = half_lane_table(code.n_bits, width)
        half_llr[:] = llr.astype(np.float16).view(np.uint16)
        half_messages = half_lane_table(edges, width)
        targets = rng.integers(0, 2**width, size=code.n_checks, dtype=np.uint64).astype(np.uint32)
        state = (
            half_llr,
            half_messages,
            targets,
            np.ones(width, np.float32),
            np.zeros(width, np.int32),
            np.zeros(code.n_bits, np.uint32),
        )
        priors = (first_touch_ranks(code.col_idx, np.arange(code.n_bits, dtype=np.int32)), 3.9)
        unsatisfied = np.zeros(width, np.int64)
        rule_s = best_of(
            5,
            lambda: sweep_lanes_sum_product(code.row_ptr, code.col_idx, priors, state, unsatisfied),  # noqa: B023
        )
        walk_s = best_of(5, lambda: _sweep_without_check_rule(code.row_ptr, code.col_idx, llr, messages))  # noqa: B023
        target = np.empty_like(messages)
        copy_s = best_of(5, lambda: np.copyto(target, messages))  # noqa: B023
        per = 1e9 / (edges * width)
        print(
            f"  {width} lanes: sum-product sweep {rule_s * per:5.2f} ns per edge and lane; "
            f"numba loop with a plain product instead of the rule {walk_s * per:5.2f}; "
            f"copying the messages {copy_s * per:5.2f} "
            f"({messages.nbytes / copy_s / 1e9:.1f} GB/s); sweep / plain-product loop {rule_s / walk_s:.2f}"
        )


if __name__ == "__main__":
    main()
