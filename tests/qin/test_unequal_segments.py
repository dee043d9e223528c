"""Chains whose segments and swaps differ: exact against closed forms, symmetry and the Monte Carlo."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.qin import ChainParameters, QinParameterError, solve_chain
from openqci.qin.montecarlo import sample_chain


def test_equal_values_given_per_segment_give_the_uniform_chain() -> None:
    uniform = ChainParameters(
        segments=6, p_gen=0.2, p_swap=0.7, cutoff_attempts=25, werner_elementary=0.95, coherence_attempts=80.0
    )
    spelled = ChainParameters(
        segments=6,
        p_gen=0.9,  # overridden by the per-segment values
        p_swap=0.1,
        cutoff_attempts=25,
        werner_elementary=0.5,
        coherence_attempts=80.0,
        segment_p_gen=(0.2,) * 6,
        segment_werner=(0.95,) * 6,
        node_p_swap=(0.7,) * 5,
    )
    a, b = solve_chain(uniform), solve_chain(spelled)
    assert b.mean_waiting_time_attempts == pytest.approx(a.mean_waiting_time_attempts, rel=1e-12)
    assert b.mean_fidelity == pytest.approx(a.mean_fidelity, rel=1e-12)


@pytest.mark.parametrize(("p1", "p2"), [(0.5, 0.1), (0.9, 0.01), (1.0, 0.3), (0.02, 0.05)])
def test_two_unequal_segments_wait_for_the_later_of_two_geometric_links(p1: float, p2: float) -> None:
    # E[max(G1, G2)] = 1/p1 + 1/p2 - E[min(G1, G2)], and min(G1, G2) is geometric with 1 - (1-p1)(1-p2).
    expected = 1 / p1 + 1 / p2 - 1 / (1 - (1 - p1) * (1 - p2))
    chain = solve_chain(ChainParameters(segments=2, p_gen=0.5, segment_p_gen=(p1, p2)))
    assert chain.mean_waiting_time_attempts == pytest.approx(expected, rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(
    level=st.integers(1, 3),
    data=st.data(),
    cutoff=st.one_of(st.none(), st.integers(0, 30)),
)
def test_a_mirrored_chain_of_a_power_of_two_segments_is_the_same_chain(
    level: int, data: st.DataObject, cutoff: int | None
) -> None:
    """The nesting tree of 2^k segments is symmetric: reversing segments and nodes changes nothing, which
    catches a swap or a segment taken from the wrong position."""
    segments = 2**level
    gens = tuple(data.draw(st.lists(st.floats(0.15, 1.0), min_size=segments, max_size=segments)))
    werners = tuple(data.draw(st.lists(st.floats(0.7, 1.0), min_size=segments, max_size=segments)))
    swaps = tuple(data.draw(st.lists(st.floats(0.3, 1.0), min_size=segments - 1, max_size=segments - 1)))

    def chain(reverse: bool) -> ChainParameters:
        flip = (lambda t: t[::-1]) if reverse else (lambda t: t)
        return ChainParameters(
            segments=segments,
            p_gen=0.5,
            cutoff_attempts=cutoff,
            coherence_attempts=40.0,
            segment_p_gen=flip(gens),
            segment_werner=flip(werners),
            node_p_swap=flip(swaps),
        )

    forward, backward = solve_chain(chain(False)), solve_chain(chain(True))
    assert backward.mean_waiting_time_attempts == pytest.approx(forward.mean_waiting_time_attempts, rel=1e-9)
    assert backward.mean_fidelity == pytest.approx(forward.mean_fidelity, rel=1e-9)


@pytest.mark.parametrize("segments", [3, 5, 8])
def test_the_exact_solution_agrees_with_the_monte_carlo(segments: int) -> None:
    parameters = ChainParameters(
        segments=segments,
        p_gen=0.5,
        cutoff_attempts=12,
        coherence_attempts=30.0,
        segment_p_gen=tuple(0.15 + 0.1 * (k % 4) for k in range(segments)),
        segment_werner=tuple(1.0 - 0.02 * k for k in range(segments)),
        node_p_swap=tuple(0.5 + 0.1 * (k % 3) for k in range(segments - 1)),
    )
    exact = solve_chain(parameters)
    sampled = sample_chain(parameters, runs=20_000, seed=77 + segments)
    error = exact.mean_waiting_time_attempts - sampled.mean_waiting_time_attempts
    assert abs(error) < 4.5 * sampled.standard_error_attempts
    assert abs(exact.mean_fidelity - sampled.mean_fidelity) < 4.5 * sampled.fidelity_standard_error


def test_a_slower_segment_slows_the_chain_and_a_worse_swap_too() -> None:
    base = ChainParameters(segments=4, p_gen=0.3, p_swap=0.8)
    slower = ChainParameters(segments=4, p_gen=0.3, p_swap=0.8, segment_p_gen=(0.3, 0.3, 0.1, 0.3))
    worse = ChainParameters(segments=4, p_gen=0.3, p_swap=0.8, node_p_swap=(0.8, 0.4, 0.8))
    wait = solve_chain(base).mean_waiting_time_attempts
    assert solve_chain(slower).mean_waiting_time_attempts > wait
    assert solve_chain(worse).mean_waiting_time_attempts > wait
    assert math.isfinite(solve_chain(worse).mean_fidelity)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"segment_p_gen": (0.5, 0.5)}, "segment_p_gen needs 3 values"),
        ({"node_p_swap": (0.5,)}, "node_p_swap needs 2 values"),
        ({"segment_werner": (1.0, 1.2, 1.0)}, "Werner parameter must be in"),
        ({"segment_p_gen": (0.5, 0.0, 0.5)}, "p_gen and every node's p_swap must be in"),
    ],
)
def test_bad_per_position_values_are_refused(extra: dict[str, tuple[float, ...]], message: str) -> None:
    with pytest.raises(QinParameterError, match=message):
        ChainParameters(segments=3, p_gen=0.5, **extra)  # type: ignore[arg-type]
