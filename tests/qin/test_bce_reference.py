"""The exact solver against the published code of Brand, Coopmans and Elkouss (BCE, IEEE JSAC 38, 619 (2020),
arXiv 1912.07688) and of its successor with cutoffs (Li, Coopmans and Elkouss).

The reference values were produced by running, unchanged, the authors' code on the parameter sets of their
own example script:

* BCE: github.com/sebastiaanbrand/waiting-time-quantum-repeater-chains @ ec34e00f (``main.py`` of its first
  commit, cases 1a, 2a, 3a and 3b: 2^n segments, p_gen 0.1, p_swap 0.5; with fresh pairs of fidelity 0.95
  and memories of coherence time 50; with one distillation round per level, coherence time 250 or 1000);
* Li, Coopmans and Elkouss: github.com/BoxiLi/repeater-cut-off-optimization @ c9245ed9 (``repeater_sim`` and
  ``compute_unit``, memory-time cutoffs, halves of unequal size, distillation at chosen levels).

Conventions match: time in attempts, fresh links geometric from 1, a failed swap or distillation discards
the whole subtree, the earlier link decays by ``exp(-delay / coherence)``, and a cutoff lets two links meet
when their arrival times differ by at most the cutoff. BCE's code gives ``E[w | T = t]``; the solver
carries ``E[w; T = t]`` and is divided by the probability here. Their distillation twirls to Werner states
(``distil_twirl``). The figures of the paper itself are plots of these distributions; the values below
are the code's, to the digits it prints.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from openqci.qin import ChainParameters, solve_chain

# BCE case 1a: P(T = t) of the link at each nesting level (2, 4, 8 segments), p_gen 0.1, p_swap 0.5.
BCE_1A = {
    2: {8: 0.028511399931642988, 20: 0.0210284323871132, 50: 0.006522731540921582, 100: 0.0009137713826747231,
        200: 1.793282089432271e-05, 400: 6.906702127420656e-09},
    4: {8: 0.0044098861749727585, 20: 0.010028552834382752, 50: 0.008320583493895289,
        100: 0.004187667844298167, 200: 0.0010381349885107785, 499: 1.603444718617196e-05},
    8: {8: 5.3121845996572027e-05, 20: 0.0010793742065377141, 50: 0.0033639158760669892,
        100: 0.003485299943931759, 200: 0.00223408548625424, 499: 0.0005167109746460796},
}  # fmt: skip
# BCE's bounds on the mean for 8 segments from a grid of 2,000 attempts (the code gives no exact mean).
BCE_1A_MEAN_BOUNDS = (242.2166, 242.3697)

# BCE case 2a: E[w | T = t] at 2 and 4 segments, fresh Werner parameter 0.9333 (fidelity 0.95), coherence 50.
BCE_2A = {
    2: {2: 0.8592378873042246, 10: 0.787958770946167, 30: 0.6933360942805481, 60: 0.6706881387608672,
        99: 0.6688819672810008},
    4: {2: 0.7362879482912557, 10: 0.5991450623115299, 30: 0.40706121995484573, 60: 0.32333478204640315,
        99: 0.29891413873490497},
}  # fmt: skip

# BCE cases 3a and 3b: their Monte Carlo (200,000 samples), 4 segments, one distillation round per level.
BCE_3_MONTE_CARLO = {  # coherence: (E[T], its standard error, E[w], its standard error)
    250.0: (215.70875, 0.39899238278090915, 0.5646215854097713, 0.0002958927146849664),
    1000.0: (191.048, 0.346, 0.78754, 0.00010),
}

# Li, Coopmans and Elkouss: p_gen 0.1, p_swap 0.5, fresh Werner 0.98, coherence 400 attempts.
# name: (segments, cutoff, distil levels, coherence, {t: (P(T = t), E[w | T = t])}, E[T], E[w])
LI = {
    "8 segments, cutoff 30": (8, 30, (), 400.0, {
        10: (1.3497306095e-04, 0.8030010682), 50: (1.7322637564e-03, 0.7048923088),
        200: (1.2907240370e-03, 0.7117846025), 800: (4.3760918504e-04, 0.7117874735),
    }, 569.554544371, 0.7124549717),
    "7 segments (halves of 4 and 3), cutoff 20": (7, 20, (), 400.0, {
        10: (3.5198459060e-04, 0.8239643053), 50: (1.4279054618e-03, 0.7736621922),
        200: (1.1664664921e-03, 0.7720270508), 800: (4.5481488708e-04, 0.7720269954),
    }, None, 0.7723037776),
    "4 segments distilled at levels 0 and 1, cutoff 25, coherence 200": (4, 25, (0, 1), 200.0, {
        10: (1.5300661870e-05, 0.9137953835), 50: (1.3134857455e-03, 0.7758712462),
        200: (1.1480598786e-03, 0.7897179202), 800: (4.6039216887e-04, 0.7897700949),
    }, 670.800677915, 0.7904011486),
}  # fmt: skip


@pytest.mark.parametrize("segments", sorted(BCE_1A))
def test_waiting_time_distribution_of_bce_case_1a(segments: int) -> None:
    law = solve_chain(ChainParameters(segments=segments, p_gen=0.1, p_swap=0.5)).waiting_time
    for t, expected in BCE_1A[segments].items():
        assert law.pmf[t] == pytest.approx(expected, rel=1e-7), t
    if segments == 8:
        low, high = BCE_1A_MEAN_BOUNDS
        assert low <= law.mean <= high


@pytest.mark.parametrize("segments", sorted(BCE_2A))
def test_werner_parameter_by_delivery_time_of_bce_case_2a(segments: int) -> None:
    law = solve_chain(
        ChainParameters(
            segments=segments,
            p_gen=0.1,
            p_swap=0.5,
            werner_elementary=(4 * 0.95 - 1) / 3,
            coherence_attempts=50.0,
        )
    ).waiting_time
    for t, expected in BCE_2A[segments].items():
        assert law.werner[t] / law.pmf[t] == pytest.approx(expected, rel=1e-8), t


@pytest.mark.parametrize("coherence", sorted(BCE_3_MONTE_CARLO))
def test_distillation_at_every_level_agrees_with_bce_s_monte_carlo(coherence: float) -> None:
    chain = solve_chain(
        ChainParameters(
            segments=4,
            p_gen=0.1,
            p_swap=0.5,
            werner_elementary=(4 * 0.95 - 1) / 3,
            coherence_attempts=coherence,
            distil_levels=(0, 1),  # every link before its swap: BCE's one round per level
            distil_twirl=True,
        )
    )
    mean, mean_error, werner, werner_error = BCE_3_MONTE_CARLO[coherence]
    assert abs(chain.mean_waiting_time_attempts - mean) < 3 * mean_error
    assert abs(chain.mean_werner - werner) < 3 * werner_error


@pytest.mark.parametrize("name", sorted(LI))
def test_cutoffs_unequal_halves_and_distillation_against_li_coopmans_elkouss(name: str) -> None:
    segments, cutoff, distil, coherence, points, mean, werner = LI[name]
    chain = solve_chain(
        ChainParameters(
            segments=segments,
            p_gen=0.1,
            p_swap=0.5,
            cutoff_attempts=cutoff,
            werner_elementary=0.98,
            coherence_attempts=coherence,
            distil_levels=distil,
            distil_twirl=bool(distil),
        )
    )
    law = chain.waiting_time
    for t, (probability, expected_werner) in points.items():
        assert law.pmf[t] == pytest.approx(probability, rel=1e-8), t
        assert law.werner[t] / law.pmf[t] == pytest.approx(expected_werner, rel=1e-8), t
    if mean is not None:  # the 7-segment reference's grid leaves 7e-9 of the mass out: its mean is short
        assert chain.mean_waiting_time_attempts == pytest.approx(mean, rel=1e-9)
    assert chain.mean_werner == pytest.approx(werner, rel=1e-9)
    assert math.isfinite(chain.mean_fidelity)
    assert np.isclose(law.pmf.sum(), 1.0, atol=1e-12)
