"""Exact repeater-chain waiting times and fidelities against closed forms and against the Monte Carlo."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.qin import ChainParameters, QinParameterError, solve_chain
from openqci.qin.montecarlo import sample_chain


def expected_max_of_geometrics(count: int, p: float) -> float:
    """E[max of `count` independent geometric waiting times], sum over t of P(max > t)."""
    q = 1.0 - p
    t = np.arange(0, 20_000)
    return float(np.sum(1.0 - (1.0 - q**t) ** count))


@pytest.mark.parametrize("p", [1.0, 0.5, 0.1, 0.01, 1e-3])
def test_two_segments_wait_for_the_later_of_two_geometric_links(p: float) -> None:
    # Deterministic swapping, perfect memories: E[max(G1, G2)] = (3 - 2p) / (p (2 - p)).
    result = solve_chain(ChainParameters(segments=2, p_gen=p))
    assert result.mean_waiting_time_attempts == pytest.approx((3 - 2 * p) / (p * (2 - p)), rel=1e-14)
    assert float(result.waiting_time.pmf @ np.arange(result.waiting_time.pmf.size)) == pytest.approx(
        (3 - 2 * p) / (p * (2 - p)), rel=1e-12
    )


@pytest.mark.parametrize("segments", [4, 8, 16, 1024])
def test_a_power_of_two_chain_with_certain_swaps_waits_for_its_last_link(segments: int) -> None:
    result = solve_chain(ChainParameters(segments=segments, p_gen=0.05))
    assert result.mean_waiting_time_attempts == pytest.approx(
        expected_max_of_geometrics(segments, 0.05), rel=1e-12
    )


def test_a_failed_swap_repeats_the_whole_round() -> None:
    # Two segments: every round lasts max(G1, G2) and succeeds with p_swap, so the mean is E[max] / p_swap.
    p, p_swap = 0.2, 0.4
    result = solve_chain(ChainParameters(segments=2, p_gen=p, p_swap=p_swap))
    assert result.mean_waiting_time_attempts == pytest.approx((3 - 2 * p) / (p * (2 - p)) / p_swap, rel=1e-13)


def test_the_distribution_is_complete_and_its_mean_matches_the_moments() -> None:
    result = solve_chain(ChainParameters(segments=6, p_gen=0.1, p_swap=0.8, cutoff_attempts=15))
    pmf = result.waiting_time.pmf
    assert pmf.sum() == pytest.approx(1.0, abs=1e-12)
    assert float(pmf @ np.arange(pmf.size)) == pytest.approx(result.mean_waiting_time_attempts, rel=1e-9)
    assert np.all(pmf >= 0)


def test_perfect_links_and_memories_give_perfect_pairs_and_decay_lowers_fidelity() -> None:
    perfect = solve_chain(ChainParameters(segments=4, p_gen=0.1))
    assert perfect.mean_fidelity == pytest.approx(1.0)
    decaying = solve_chain(ChainParameters(segments=4, p_gen=0.1, coherence_attempts=50.0))
    assert 0.25 < decaying.mean_fidelity < 1.0


def test_a_cutoff_trades_waiting_time_for_fidelity() -> None:
    base = {"segments": 4, "p_gen": 0.05, "coherence_attempts": 40.0, "werner_elementary": 0.99}
    free = solve_chain(ChainParameters(**base))  # type: ignore[arg-type]
    cut = solve_chain(ChainParameters(**base, cutoff_attempts=20))  # type: ignore[arg-type]
    assert cut.mean_waiting_time_attempts > free.mean_waiting_time_attempts
    assert cut.mean_fidelity > free.mean_fidelity


CASES = [
    {"p_gen": 0.3},
    {"p_gen": 0.2, "p_swap": 0.6},
    {
        "p_gen": 0.25,
        "p_swap": 0.8,
        "cutoff_attempts": 5,
        "coherence_attempts": 15.0,
        "werner_elementary": 0.97,
    },
]


@pytest.mark.parametrize("segments", [2, 3, 5, 8])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_the_monte_carlo_agrees_within_its_error(segments: int, case: int) -> None:
    parameters = ChainParameters(segments=segments, **CASES[case])  # type: ignore[arg-type]
    exact = solve_chain(parameters)
    sampled = sample_chain(parameters, runs=20_000, seed=1000 * segments + case)
    error = exact.mean_waiting_time_attempts - sampled.mean_waiting_time_attempts
    assert abs(error) < 4.5 * sampled.standard_error_attempts
    if sampled.fidelity_standard_error > 0:
        assert abs(exact.mean_fidelity - sampled.mean_fidelity) < 4.5 * sampled.fidelity_standard_error
    else:
        assert exact.mean_fidelity == pytest.approx(sampled.mean_fidelity)


@settings(max_examples=25, deadline=None)
@given(
    segments=st.integers(1, 40),
    p_gen=st.floats(0.1, 1.0),
    p_swap=st.floats(0.7, 1.0),
)
def test_more_segments_never_wait_less(segments: int, p_gen: float, p_swap: float) -> None:
    shorter = solve_chain(ChainParameters(segments=segments, p_gen=p_gen, p_swap=p_swap))
    longer = solve_chain(ChainParameters(segments=segments + 1, p_gen=p_gen, p_swap=p_swap))
    assert longer.mean_waiting_time_attempts >= shorter.mean_waiting_time_attempts * (1 - 1e-12)


def test_attempts_convert_to_seconds_and_a_rate() -> None:
    result = solve_chain(ChainParameters(segments=2, p_gen=0.5, attempt_duration_s=1e-3))
    assert result.mean_waiting_time_s == pytest.approx(result.mean_waiting_time_attempts * 1e-3)
    assert result.pair_rate_hz == pytest.approx(1.0 / result.mean_waiting_time_s)


@pytest.mark.parametrize(
    ("field", "value"),
    [("segments", 0), ("p_gen", 0.0), ("p_gen", 1.5), ("p_swap", 0.0), ("cutoff_attempts", -1)],
)
def test_parameters_outside_their_range_are_refused(field: str, value: float) -> None:
    arguments: dict[str, float] = {"segments": 2, "p_gen": 0.5}
    arguments[field] = value
    with pytest.raises(QinParameterError, match=field.split("_")[0]):
        ChainParameters(**arguments)  # type: ignore[arg-type]


def test_a_chain_too_long_for_memory_is_refused_with_its_mean() -> None:
    with pytest.raises(QinParameterError, match="mean"):
        solve_chain(ChainParameters(segments=4096, p_gen=1e-4, p_swap=0.1))


def test_a_cutoff_of_zero_with_rare_links_still_terminates() -> None:
    result = solve_chain(ChainParameters(segments=2, p_gen=0.3, cutoff_attempts=0))
    # Both halves must arrive in the same attempt: a round succeeds with p^2 / (1 - (1-p)^2) per round.
    assert math.isfinite(result.mean_waiting_time_attempts)
    assert result.mean_waiting_time_attempts > solve_chain(ChainParameters(2, 0.3)).mean_waiting_time_attempts
