"""DEJMPS distillation between nesting levels: the map itself, the exact solver, and the Monte Carlo.

Independent references computed here: the DEJMPS circuit on 16 x 16 density matrices (Deutsch et al., PRL
77, 2818 (1996)); the textbook Werner-input formula in the fidelity ``F``; closed forms of one distillation
level (Wald's identity for the mean, a geometric sum for the memory decay); and a brute-force solver that
enumerates every pair of arrival times and runs the renewal equation step by step, for the parameter sets
of Brand, Coopmans and Elkouss's published example script.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from openqci.qin import ChainParameters, QinParameterError, dejmps, solve_chain
from openqci.qin.chain import _as_bell_diagonal, _swap
from openqci.qin.montecarlo import sample_chain

# --- the DEJMPS circuit, on density matrices -----------------------------------------------------------

_S = 1 / math.sqrt(2)
_BELL = {  # Phi+, Psi-, Psi+, Phi- in the basis |00>, |01>, |10>, |11>: DEJMPS's A, B, C, D
    "A": np.array([_S, 0, 0, _S]),
    "B": np.array([0, _S, -_S, 0]),
    "C": np.array([0, _S, _S, 0]),
    "D": np.array([_S, 0, 0, -_S]),
}


def _bell_diagonal(coefficients: NDArray[np.float64]) -> NDArray[np.complex128]:
    return sum(c * np.outer(v, v) for c, v in zip(coefficients, _BELL.values(), strict=True))  # type: ignore[return-value]


def _rx(angle: float) -> NDArray[np.complex128]:
    c, s = math.cos(angle / 2), math.sin(angle / 2)
    return np.array([[c, -1j * s], [-1j * s, c]])


def _cnot(control: int, target: int) -> NDArray[np.float64]:
    """CNOT on four qubits ordered a1 b1 a2 b2 (Alice's and Bob's halves of pair 1, then pair 2)."""
    matrix = np.zeros((16, 16))
    for index in range(16):
        bits = [(index >> (3 - k)) & 1 for k in range(4)]
        bits[target] ^= bits[control]
        matrix[sum(b << (3 - k) for k, b in enumerate(bits)), index] = 1
    return matrix


def circuit_dejmps(
    first: NDArray[np.float64], second: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64]]:
    """DEJMPS as Deutsch et al. describe it: Alice Rx(pi/2), Bob Rx(-pi/2), bilateral CNOT, keep if equal."""
    rho = np.kron(_bell_diagonal(first), _bell_diagonal(second))
    rotation = np.kron(
        np.kron(_rx(math.pi / 2), _rx(-math.pi / 2)), np.kron(_rx(math.pi / 2), _rx(-math.pi / 2))
    )
    rho = rotation @ rho @ rotation.conj().T
    both_cnots = _cnot(0, 2) @ _cnot(1, 3)
    rho = both_cnots @ rho @ both_cnots.T
    tensor = rho.reshape([2] * 8)
    kept = sum(tensor[:, :, m, m, :, :, m, m].reshape(4, 4) for m in (0, 1))
    probability = float(np.trace(kept).real)
    out = kept / probability
    return probability, np.array([float((v.conj() @ out @ v).real) for v in _BELL.values()])


def correlations(coefficients: NDArray[np.float64]) -> NDArray[np.float64]:
    """(<ZZ>, <XX>, -<YY>) of the Bell-diagonal state with coefficients A, B, C, D."""
    a, b, c, d = coefficients
    return np.array([a - b - c + d, a - b + c - d, a + b - c - d])


bell_coefficients = st.lists(st.floats(0.01, 1.0), min_size=4, max_size=4).map(lambda x: np.array(x) / sum(x))


@settings(max_examples=30, deadline=None)
@given(first=bell_coefficients, second=bell_coefficients)
def test_the_dejmps_map_is_the_circuit_of_deutsch_et_al(
    first: NDArray[np.float64], second: NDArray[np.float64]
) -> None:
    probability, after = circuit_dejmps(first, second)
    success, mapped = dejmps(correlations(first), correlations(second))
    assert float(success) == pytest.approx(probability, abs=1e-12)
    np.testing.assert_allclose(mapped, correlations(after), atol=1e-11)


@pytest.mark.parametrize("fidelity", [0.55, 0.7, 0.9, 0.99])
def test_werner_inputs_give_the_textbook_success_probability_and_fidelity(fidelity: float) -> None:
    # Two Werner pairs of fidelity F: N = F^2 + 2F(1-F)/3 + 5((1-F)/3)^2, F' = (F^2 + ((1-F)/3)^2) / N.
    g = (1 - fidelity) / 3
    expected_n = fidelity**2 + 2 * fidelity * g + 5 * g**2
    expected_f = (fidelity**2 + g**2) / expected_n
    w = (4 * fidelity - 1) / 3
    success, after = dejmps(np.full(3, w), np.full(3, w))
    assert float(success) == pytest.approx(expected_n, rel=1e-14)
    assert (1 + after.sum()) / 4 == pytest.approx(expected_f, rel=1e-14)
    # The exact solver, one segment distilled once with perfect memories: every round waits for the later
    # of two geometric links, so (Wald) the mean is E[max] / N; the fidelity is F' whatever the times.
    p = 0.15
    result = solve_chain(ChainParameters(segments=1, p_gen=p, werner_elementary=w, distil_levels=(0,)))
    assert result.mean_waiting_time_attempts == pytest.approx(
        (3 - 2 * p) / (p * (2 - p)) / expected_n, rel=1e-13
    )
    assert result.mean_fidelity == pytest.approx(expected_f, rel=1e-12)
    _, circuit_after = circuit_dejmps(*(np.array([fidelity, g, g, g]),) * 2)
    np.testing.assert_allclose(result.mean_bell_coefficients, circuit_after, atol=1e-11)


@pytest.mark.parametrize(("p", "coherence"), [(0.3, 5.0), (0.1, 40.0), (0.02, 300.0)])
def test_one_distillation_level_with_decaying_memories_matches_its_closed_form(
    p: float, coherence: float
) -> None:
    # The delay d = |G1 - G2| of two geometric links: P(0) = p/(2-p), P(d) = 2p q^d/(2-p); the earlier pair
    # decays by e^-d/T, so E[e^-d/T] = p/(2-p) (1 + 2 q e / (1 - q e)) with e = e^(-1/T).
    w, q, e = 0.93, 1 - p, math.exp(-1 / coherence)
    mean_decay = p / (2 - p) * (1 + 2 * q * e / (1 - q * e))
    success = (1 + w * w * mean_decay) / 2
    # Success weighted fidelity: (1 + w + w e^-d + 5 w^2 e^-d) / 8, averaged over d.
    weighted_fidelity = (1 + w + w * mean_decay + 5 * w * w * mean_decay) / 8
    parameters = ChainParameters(segments=1, p_gen=p, werner_elementary=w, coherence_attempts=coherence)
    for twirl in (False, True):
        result = solve_chain(
            ChainParameters(**{**parameters.__dict__, "distil_levels": (0,), "distil_twirl": twirl})
        )
        assert result.mean_waiting_time_attempts == pytest.approx(
            (3 - 2 * p) / (p * (2 - p)) / success, rel=1e-12
        )
        assert result.mean_fidelity == pytest.approx(weighted_fidelity / success, rel=1e-12)


# --- off changes nothing; on raises fidelity and waiting time ------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        {"segments": 5, "p_gen": 0.3},
        {"segments": 6, "p_gen": 0.2, "p_swap": 0.6, "coherence_attempts": 30.0, "werner_elementary": 0.9},
        {"segments": 3, "p_gen": 0.25, "p_swap": 0.8, "cutoff_attempts": 5, "coherence_attempts": 15.0},
    ],
)
def test_without_distillation_the_bell_diagonal_path_is_the_werner_path(case: dict[str, float]) -> None:
    # The solver carries a Werner pair as one row; written as three equal correlations, a swap must give
    # the same law and the same fidelity: the generalisation leaves the distillation-free chain as it was.
    parameters = ChainParameters(**case)  # type: ignore[arg-type]
    assert parameters.distil_levels == ()
    left = solve_chain(ChainParameters(**{**parameters.__dict__, "segments": (parameters.segments + 1) // 2}))
    right = solve_chain(ChainParameters(**{**parameters.__dict__, "segments": parameters.segments // 2}))
    werner = _swap(left.waiting_time, right.waiting_time, parameters, parameters.p_swap)
    bell = _swap(
        _as_bell_diagonal(left.waiting_time),
        _as_bell_diagonal(right.waiting_time),
        parameters,
        parameters.p_swap,
    )
    whole = solve_chain(parameters)
    assert whole.waiting_time.correlations is None
    np.testing.assert_array_equal(werner.pmf, whole.waiting_time.pmf)
    np.testing.assert_allclose(bell.pmf, werner.pmf, rtol=0, atol=1e-16)
    assert bell.correlations is not None
    for row in bell.correlations:
        np.testing.assert_allclose(row, werner.werner, rtol=1e-13, atol=1e-17)
    assert whole.records()["distil_levels"] == []
    assert whole.records()["distil_twirl"] is False


def test_distilling_only_the_end_to_end_pair_distils_two_copies_of_the_plain_chain() -> None:
    # Perfect memories: every delivered pair of the plain chain has w^4, so DEJMPS on two copies succeeds
    # with the constant N = (1 + w^8) / 2, and (Wald) the mean is E[max(T1, T2)] / N, the two copies
    # independent with the plain chain's law.
    w = 0.9
    base = ChainParameters(segments=4, p_gen=0.2, p_swap=0.7, werner_elementary=w)
    plain = solve_chain(base)
    top = solve_chain(ChainParameters(**{**base.__dict__, "distil_levels": (2,)}))
    cdf = np.cumsum(plain.waiting_time.pmf)
    expected_max = float(np.sum(1.0 - cdf**2))
    success, after = dejmps(np.full(3, w**4), np.full(3, w**4))
    assert top.mean_waiting_time_attempts == pytest.approx(expected_max / float(success), rel=1e-10)
    assert top.mean_fidelity == pytest.approx((1 + after.sum()) / 4, rel=1e-12)
    assert top.mean_fidelity > plain.mean_fidelity


@settings(max_examples=20, deadline=None)
@given(
    segments=st.integers(1, 9),
    p_gen=st.floats(0.1, 0.9),
    p_swap=st.floats(0.5, 1.0),
    werner=st.floats(0.4, 0.99),
    twirl=st.booleans(),
)
def test_distilling_the_elementary_links_raises_fidelity_and_waiting_time(
    segments: int, p_gen: float, p_swap: float, werner: float, twirl: bool
) -> None:
    # Perfect memories, Werner links above w = 1/3: DEJMPS raises the sum of the correlations, and the
    # chain's correlations are products of n such triples, whose sum the power-mean inequality bounds from
    # below by 3 (mean)^n. Two copies per link can only be later than one.
    plain = ChainParameters(segments=segments, p_gen=p_gen, p_swap=p_swap, werner_elementary=werner)
    distilled = ChainParameters(**{**plain.__dict__, "distil_levels": (0,), "distil_twirl": twirl})
    before, after = solve_chain(plain), solve_chain(distilled)
    assert after.mean_fidelity > before.mean_fidelity
    assert after.mean_waiting_time_attempts > before.mean_waiting_time_attempts


def test_tracking_the_bell_diagonal_state_beats_twirling_it_after_a_swap() -> None:
    # Twirling keeps a pair's fidelity but throws away which Pauli error it carries: after one distillation
    # the two are equally good, after a swap of two distilled pairs (1 + x^2 + y^2 + z^2) / 4 beats
    # (1 + 3 ((x + y + z) / 3)^2) / 4.
    w = 0.8
    _, (x, y, z) = dejmps(np.full(3, w), np.full(3, w))
    exact = solve_chain(ChainParameters(segments=2, p_gen=0.3, werner_elementary=w, distil_levels=(0,)))
    twirled = solve_chain(
        ChainParameters(segments=2, p_gen=0.3, werner_elementary=w, distil_levels=(0,), distil_twirl=True)
    )
    assert exact.mean_fidelity == pytest.approx((1 + x * x + y * y + z * z) / 4, rel=1e-12)
    assert twirled.mean_fidelity == pytest.approx((1 + 3 * ((x + y + z) / 3) ** 2) / 4, rel=1e-12)
    assert exact.mean_fidelity > twirled.mean_fidelity


# --- the Monte Carlo -----------------------------------------------------------------------------------

MC_CASES = [
    {"segments": 1, "distil_levels": (0,)},
    {"segments": 2, "distil_levels": (0,), "p_swap": 0.7},
    {"segments": 2, "distil_levels": (0, 1), "distil_twirl": True, "cutoff_attempts": 6},
    {"segments": 3, "distil_levels": (0, 0)},
    {"segments": 4, "distil_levels": (1,), "p_swap": 0.6, "cutoff_attempts": 8},
    {"segments": 4, "distil_levels": (0, 1), "p_swap": 0.8, "distil_twirl": True},
]


@pytest.mark.parametrize("case", range(len(MC_CASES)))
def test_the_monte_carlo_agrees_within_its_error_with_distillation(case: int) -> None:
    parameters = ChainParameters(
        p_gen=0.3,
        werner_elementary=0.9,
        coherence_attempts=20.0,
        **MC_CASES[case],  # type: ignore[arg-type]
    )
    exact = solve_chain(parameters)
    sampled = sample_chain(parameters, runs=20_000, seed=500 + case)
    assert abs(exact.mean_waiting_time_attempts - sampled.mean_waiting_time_attempts) < (
        4.5 * sampled.standard_error_attempts
    )
    assert abs(exact.mean_fidelity - sampled.mean_fidelity) < 4.5 * sampled.fidelity_standard_error
    assert (sampled.correlations is None) == bool(parameters.distil_twirl)


# --- Brand, Coopmans and Elkouss -----------------------------------------------------------------------


def brute_force(
    segments: int,
    p_gen: float,
    p_swap: float,
    werner: float,
    coherence: float,
    distil: tuple[int, ...],
    size: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``P(T = t)`` and ``E[F; T = t]`` for ``t < size``, power-of-two chains, no cutoff, BCE's protocol.

    Every pair of arrival times is enumerated, the earlier pair decayed, the operation applied with
    :func:`dejmps` or the product of correlations; the law of "failed rounds, then a successful one" comes
    from the renewal equation solved step by step. Values for ``t < size`` are exact: nothing later enters.
    """
    t = np.arange(size)
    pmf = np.where(t >= 1, p_gen * (1 - p_gen) ** np.maximum(t - 1, 0), 0.0)
    state = np.outer(pmf, np.full(3, werner))  # E[correlations; T = t]

    def round_of(
        pmf: NDArray[np.float64], state: NDArray[np.float64], distilling: bool
    ) -> tuple[NDArray, ...]:
        ta, tb = np.meshgrid(t, t, indexing="ij")
        joint = np.outer(pmf, pmf)
        decay = np.exp(-np.abs(ta - tb) / coherence)
        given = state / np.where(pmf > 0, pmf, 1.0)[:, None]  # E[correlations | T = t]
        ca = given[:, None, :] * np.where(ta < tb, decay, 1.0)[..., None]
        cb = given[None, :, :] * np.where(tb < ta, decay, 1.0)[..., None]
        later = np.maximum(ta, tb).ravel()
        if distilling:
            # Bilinear in the two pairs' correlations (N times the output), so conditional means suffice.
            success_p, after = dejmps(ca, cb)
            success = joint * success_p
            success_state = (success[..., None] * after).reshape(-1, 3)
        else:
            success = p_swap * joint
            success_state = (success[..., None] * ca * cb).reshape(-1, 3)
        s = np.bincount(later, success.ravel(), size)
        f = np.bincount(later, (joint - success).ravel(), size)
        s_state = np.stack([np.bincount(later, success_state[:, k], size) for k in range(3)], axis=1)
        out, out_state = np.zeros(size), np.zeros((size, 3))
        for now in range(size):
            out[now] = s[now] + f[1 : now + 1] @ out[now - 1 :: -1][:now]
            out_state[now] = s_state[now] + f[1 : now + 1] @ out_state[now - 1 :: -1][:now]
        return out, out_state

    for level in range(int(math.log2(segments)) + 1):
        for _ in range(distil.count(level)):
            pmf, state = round_of(pmf, state, distilling=True)
        if level < math.log2(segments):
            pmf, state = round_of(pmf, state, distilling=False)
    return pmf, (pmf + state.sum(axis=1)) / 4


@pytest.mark.parametrize(
    ("segments", "coherence", "distil", "size"),
    [
        # BCE's example 1a: 2^3 segments, p_gen 0.1, p_swap 0.5, waiting time only (w = 1).
        (8, math.inf, (), 160),
        # BCE's example 2a: 2^2 segments, F0 = 0.95, T_coh = 50 attempts.
        (4, 50.0, (), 220),
        # BCE's examples 3a/3b: 2^2 segments, F0 = 0.95, one distillation round on every level below the top
        # (their n_dist = 1), T_coh = 250 and 1000 attempts.
        (4, 250.0, (0, 1), 220),
        (4, 1000.0, (0, 1), 220),
    ],
)
def test_bce_example_parameters_against_brute_force_enumeration(
    segments: int, coherence: float, distil: tuple[int, ...], size: int
) -> None:
    # Parameters of the example script (main.py) of BCE's published code, github.com/sebastiaanbrand/
    # waiting-time-quantum-repeater-chains; the values of their figures could not be read, so the whole
    # distribution and the fidelity per delivery time are checked against an independent enumeration.
    w = 1.0 if math.isinf(coherence) else (4 * 0.95 - 1) / 3
    result = solve_chain(
        ChainParameters(
            segments=segments,
            p_gen=0.1,
            p_swap=0.5,
            werner_elementary=w,
            coherence_attempts=coherence,
            distil_levels=distil,
        )
    )
    pmf, weighted_fidelity = brute_force(segments, 0.1, 0.5, w, coherence, distil, size)
    assert pmf.sum() > 0.3  # the enumeration reaches well into the distribution
    np.testing.assert_allclose(result.waiting_time.pmf[:size], pmf, rtol=0, atol=1e-14)
    fidelity = (result.waiting_time.pmf + 3 * result.waiting_time.werner)[:size] / 4
    np.testing.assert_allclose(fidelity, weighted_fidelity, rtol=0, atol=1e-14)


@pytest.mark.parametrize("p_swap", [1.0, 0.5, 0.2])
@pytest.mark.parametrize("levels", [1, 2, 3, 4])
def test_the_mean_stays_below_bces_bound_from_the_number_of_links_made(p_swap: float, levels: int) -> None:
    # BCE bound the mean waiting time of 2^n segments by the mean total number of elementary attempts,
    # (2 / p_swap)^n / p_gen (their code's mean_upper_bound): the links of a level are made one after the
    # other in that count, in parallel in the protocol.
    p_gen = 0.1
    result = solve_chain(ChainParameters(segments=2**levels, p_gen=p_gen, p_swap=p_swap))
    assert result.mean_waiting_time_attempts <= (2 / p_swap) ** levels / p_gen


def test_bces_werner_distillation_formula_is_the_twirled_model() -> None:
    # BCE's wern_after_distillation: p = (1 + wA wB) / 2, w' = (1 + wA + wB + 5 wA wB) / (6 p) - 1/3.
    w = (4 * 0.95 - 1) / 3
    p = (1 + w * w) / 2
    expected_w = (1 + 2 * w + 5 * w * w) / (6 * p) - 1 / 3
    result = solve_chain(
        ChainParameters(segments=1, p_gen=0.1, werner_elementary=w, distil_levels=(0,), distil_twirl=True)
    )
    assert result.mean_werner == pytest.approx(expected_w, rel=1e-13)
    assert result.waiting_time.correlations is None


# --- parameters and the command line -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"segments": 4, "distil_levels": (3,)}, "distil levels must be integers from 0 to 2"),
        ({"segments": 1, "distil_levels": (-1,)}, "distil levels"),
        ({"segments": 2, "distil_levels": (0.5,)}, "distil levels"),
        ({"segments": 2, "distil_twirl": True}, "distil_twirl applies only"),
    ],
)
def test_bad_distillation_parameters_are_refused(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(QinParameterError, match=message):
        ChainParameters(p_gen=0.5, **arguments)  # type: ignore[arg-type]


def openqci(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openqci", "qin", "chain", *args], capture_output=True, text=True, check=False
    )


def test_the_chain_command_distils_and_refuses_bad_levels() -> None:
    common = ["--segments", "4", "--p-gen", "0.1", "--p-swap", "0.5", "--werner", "0.9", "--json"]
    done = openqci(*common, "--distil", "all")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["distil_levels"] == [0, 1]
    expected = solve_chain(
        ChainParameters(segments=4, p_gen=0.1, p_swap=0.5, werner_elementary=0.9, distil_levels=(0, 1))
    )
    assert record["mean_fidelity"] == pytest.approx(expected.mean_fidelity, rel=1e-12)
    for bad, message in [
        (["--distil", "x"], "--distil must be 'all' or comma-separated levels"),
        (["--distil", "3"], "--distil levels must be from 0 to 2 for 4 segments"),
        (["--twirl"], "--twirl applies with --distil only"),
    ]:
        refused = openqci(*common, *bad)
        assert refused.returncode != 0
        assert message in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
