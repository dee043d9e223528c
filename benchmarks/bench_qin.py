"""Repeater chains: a 1,000-segment chain solved exactly, against a Monte Carlo of the same chain.

The exact solver (:func:`openqci.qin.solve_chain`) costs O(log n) levels of FFTs; a Monte Carlo needs
many samples for one digit more. Both run here in the same process on the same chain, so the ratio of
their times (for the Monte Carlo's stated standard error) is the figure to quote. The same chain with its
elementary links distilled (DEJMPS) is solved last.
"""

from __future__ import annotations

import time
from dataclasses import replace

from openqci.qin import ChainParameters, solve_chain
from openqci.qin.montecarlo import sample_chain
from timing import best_of, cpu_name


def main() -> None:
    chain = ChainParameters(
        segments=1000,
        p_gen=0.1,
        p_swap=0.9,
        cutoff_attempts=400,
        coherence_attempts=2e6,
        werner_elementary=0.99,
    )
    print(f"CPU: {cpu_name()}")
    exact_s = best_of(3, lambda: solve_chain(chain))
    exact = solve_chain(chain)
    runs = 200
    start = time.perf_counter()
    sampled = sample_chain(chain, runs=runs, seed=7)
    monte_carlo_s = time.perf_counter() - start
    print(
        f"exact:       {exact_s * 1e3:9.1f} ms   mean wait {exact.mean_waiting_time_attempts:10.2f} "
        f"attempts, fidelity {exact.mean_fidelity:.5f}"
    )
    print(
        f"Monte Carlo: {monte_carlo_s * 1e3:9.1f} ms   mean wait {sampled.mean_waiting_time_attempts:10.2f} "
        f"+/- {sampled.standard_error_attempts:.2f} ({runs} runs), fidelity {sampled.mean_fidelity:.5f}"
    )
    print(f"Monte Carlo / exact time: {monte_carlo_s / exact_s:.1f}x")
    # The same chain with its elementary links distilled (DEJMPS, Bell-diagonal state tracked exactly):
    # three correlation rows instead of one Werner row, and one more level of rounds.
    distilled = replace(chain, distil_levels=(0,))
    distilled_s = best_of(3, lambda: solve_chain(distilled))
    result = solve_chain(distilled)
    print(
        f"distilled:   {distilled_s * 1e3:9.1f} ms   mean wait {result.mean_waiting_time_attempts:10.2f} "
        f"attempts, fidelity {result.mean_fidelity:.5f}"
    )


if __name__ == "__main__":
    main()
