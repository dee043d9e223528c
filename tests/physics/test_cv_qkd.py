"""GG02 CV-QKD (reverse reconciliation, trusted detector) against published experiments and first principles.

Sources: Lodewyck et al., PRA 76, 042305 (2007), arXiv 0706.4255; Zhang et al., PRL 125, 010502 (2020),
arXiv 2001.02555, Table I; Leverrier, Grosshans, Grangier, PRA 81, 062343 (2010); Pirandola et al.,
Nat. Commun. 8, 15043 (2017) for the repeaterless bound.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from openqci.physics import InvalidParameterError, fibre_transmittance, plob_bound
from openqci.physics.cv_qkd import (
    ZHANG2020,
    CvDetection,
    CvQkdSystem,
    cv_qkd_finite_rate,
    cv_qkd_rate,
    cv_qkd_rate_at_transmittance,
    holevo_bound_be,
    mutual_information_ab,
    worst_case_channel,
)

# Lodewyck 2007: V_A 18.5, T 0.302 (25 km), xi 0.005, eta 0.606, v_el 0.041, beta 0.898, 350 kHz
# of symbols; they print I_AB = 365 kb/s, chi_BE = 316 kb/s and a collective-attack key of 12.3 kb/s.
# (Their parameters and printed rates as quoted from the e-print by a third-party validation suite; the
# paper itself was not re-opened.)
LODEWYCK = CvQkdSystem("lodewyck2007", 18.5, 0.005, 0.606, 0.041, 0.898, symbol_rate_hz=350e3)
LODEWYCK_T = 0.302


def perfect_receiver(modulation: float, detection: CvDetection, excess: float = 0.0) -> CvQkdSystem:
    return CvQkdSystem("ideal", modulation, excess, 1.0, 0.0, 1.0, detection=detection)


def test_lodewyck_2007_rates_per_second() -> None:
    rate = LODEWYCK.symbol_rate_hz
    assert float(mutual_information_ab(LODEWYCK, LODEWYCK_T)) * rate == pytest.approx(365e3, rel=3e-3)
    assert float(holevo_bound_be(LODEWYCK, LODEWYCK_T)) * rate == pytest.approx(316e3, rel=3e-3)
    assert float(cv_qkd_rate_at_transmittance(LODEWYCK, LODEWYCK_T)) * rate == pytest.approx(12.3e3, rel=5e-3)


def test_zhang_2020_keeps_a_positive_key_at_202_81_km() -> None:
    # Zhang 2020: 6.214 bit/s at 202.81 km (32.45 dB of 0.16 dB/km fibre) with finite size.
    asymptotic_bps = float(cv_qkd_rate(ZHANG2020, 202.81)) * ZHANG2020.symbol_rate_hz
    print(
        f"\nZhang 2020 preset at 202.81 km: asymptotic {asymptotic_bps:.2f} bit/s (published finite: 6.214)"
    )
    assert asymptotic_bps > 6.214


def test_zhang_2020_worst_case_excess_noise_is_leverriers_estimator() -> None:
    # Table I prints xi = 0.0081 and the worst-case estimator xi' = 0.0383 at 202.81 km. Leverrier's
    # estimator at epsilon_PE = 1e-10 gives 0.0383 for m = 1e12 estimation symbols; the block size was not
    # read from the paper: 1e12 is the round number this published xi' implies.
    t_min, xi_max = worst_case_channel(ZHANG2020, 10**-3.245, 1e12)
    assert float(xi_max) == pytest.approx(0.0383, rel=5e-3)
    assert float(t_min) < 10**-3.245


def test_zhang_2020_finite_size_rate_is_close_to_the_published_one() -> None:
    # With n = m = 1e12, Zhang's own prefactor f (1 - alpha)(1 - FER) charges no symbol to estimation, so
    # the Leverrier rate (which does, by n/N) is scaled back by N/n before comparing with 6.214 bit/s.
    block = 2e12
    finite = float(cv_qkd_finite_rate(ZHANG2020, 202.81, block, estimation_fraction=0.5))
    bps = finite * ZHANG2020.symbol_rate_hz
    print(f"\nZhang 2020 preset at 202.81 km, N = 2e12: {bps:.2f} bit/s ({2 * bps:.2f} in their convention)")
    assert bps > 0
    assert 2 * bps == pytest.approx(6.214, rel=0.1)


def test_zhang_2020_finite_key_vanishes_far_beyond_the_experiment() -> None:
    rates = cv_qkd_finite_rate(ZHANG2020, np.array([260.0, 300.0, 400.0]), 2e12)
    assert np.all(rates < 0)


def test_no_key_is_claimed_where_a_double_cannot_resolve_it() -> None:
    assert np.all(np.isneginf(cv_qkd_rate(ZHANG2020, np.array([800.0, 2000.0]))))


def test_finite_size_rate_approaches_the_asymptotic_one_from_below() -> None:
    asymptotic = float(cv_qkd_rate(ZHANG2020, 100.0))
    blocks = [1e8, 1e10, 1e12, 1e14]
    finite = [float(cv_qkd_finite_rate(ZHANG2020, 100.0, n, estimation_fraction=0.5)) for n in blocks]
    assert finite[0] < 0
    assert np.all(np.diff(finite) > 0)
    assert finite[-1] < 0.5 * asymptotic
    assert finite[-1] == pytest.approx(0.5 * asymptotic, rel=0.05)


@pytest.mark.parametrize("detection", list(CvDetection))
@pytest.mark.parametrize("distance", [5.0, 50.0, 150.0, 300.0])
def test_pure_loss_channel_with_perfect_devices_stays_below_plob(
    detection: CvDetection, distance: float
) -> None:
    # Pirandola et al. 2017: -log2(1 - T) is the capacity; a large-modulation homodyne RR key tends to half of
    # it, -log2(1 - T)/2 (the coherent-state RR rate 1/2 log2(1/(1 - T)) of Grosshans et al.'s limit).
    system = perfect_receiver(1e6, detection)
    rate = float(cv_qkd_rate(system, distance))
    bound = float(plob_bound(fibre_transmittance(distance)))
    assert 0 < rate < bound
    if detection is CvDetection.HOMODYNE:
        assert rate == pytest.approx(0.5 * bound, rel=1e-3)


def _symplectic_entropy(cm: NDArray[np.float64]) -> float:
    """Von Neumann entropy of a Gaussian state from its covariance matrix (vacuum = identity)."""
    modes = cm.shape[0] // 2
    omega = np.kron(np.eye(modes), np.array([[0.0, 1.0], [-1.0, 0.0]]))
    nus = np.sort(np.abs(np.linalg.eigvals(1j * omega @ cm)))[::2]
    x = np.maximum((nus - 1.0) / 2.0, 0.0)
    return float(sum((v + 1) * np.log2(v + 1) - (v * np.log2(v) if v > 0 else 0.0) for v in x))


def _holevo_from_covariance(modulation: float, t: float, xi: float, detection: CvDetection) -> float:
    """chi_BE = S(AB) - S(A | Bob's outcome) in the EPR picture, eta = 1, v_el = 0, written from scratch."""
    v = modulation + 1.0
    cross = np.sqrt(t * (v**2 - 1.0)) * np.diag([1.0, -1.0])
    bob = (t * (v - 1.0) + 1.0 + t * xi) * np.eye(2)
    alice = v * np.eye(2)
    joint = np.block([[alice, cross], [cross.T, bob]])
    if detection is CvDetection.HOMODYNE:
        conditional = alice - cross @ np.diag([1.0 / bob[0, 0], 0.0]) @ cross.T
    else:
        conditional = alice - cross @ np.linalg.inv(bob + np.eye(2)) @ cross.T
    return _symplectic_entropy(joint) - _symplectic_entropy(conditional)


@pytest.mark.parametrize("detection", list(CvDetection))
@pytest.mark.parametrize(
    ("modulation", "transmittance", "excess"), [(4.0, 0.5, 0.0), (20.0, 0.1, 0.0), (10.0, 0.3, 0.02)]
)
def test_holevo_bound_matches_a_direct_covariance_matrix_computation(
    detection: CvDetection, modulation: float, transmittance: float, excess: float
) -> None:
    system = perfect_receiver(modulation, detection, excess)
    expected = _holevo_from_covariance(modulation, transmittance, excess, detection)
    assert float(holevo_bound_be(system, transmittance)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_textbook_pure_loss_key_at_zero_excess_noise() -> None:
    # Homodyne, beta = 1, xi = 0, V_A = 4, T = 0.5: I_AB = 1/2 log2(1 + T V_A) = 1/2 log2(3), and Eve's
    # Holevo information from the symplectic eigenvalues written out independently above.
    system = perfect_receiver(4.0, CvDetection.HOMODYNE)
    expected = 0.5 * np.log2(3.0) - _holevo_from_covariance(4.0, 0.5, 0.0, CvDetection.HOMODYNE)
    assert float(cv_qkd_rate_at_transmittance(system, 0.5)) == pytest.approx(expected, rel=1e-9)
    assert expected > 0


def test_more_excess_noise_means_less_key() -> None:
    noisy = replace(ZHANG2020, excess_noise=0.0383)
    assert float(cv_qkd_rate(noisy, 202.81)) < float(cv_qkd_rate(ZHANG2020, 202.81))


def test_rate_broadcasts_over_a_distance_grid() -> None:
    grid = np.linspace(0.0, 300.0, 12).reshape(3, 4)
    assert cv_qkd_rate(ZHANG2020, grid).shape == (3, 4)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InvalidParameterError):
        CvQkdSystem("bad", -1.0, 0.0, 0.5, 0.0, 0.9)
    with pytest.raises(InvalidParameterError):
        CvQkdSystem("bad", 5.0, -0.1, 0.5, 0.0, 0.9)
    with pytest.raises(InvalidParameterError):
        CvQkdSystem("bad", 5.0, 0.01, 0.0, 0.0, 0.9)
    with pytest.raises(InvalidParameterError):
        cv_qkd_rate(ZHANG2020, -1.0)
    with pytest.raises(InvalidParameterError):
        cv_qkd_finite_rate(replace(ZHANG2020, detection=CvDetection.HETERODYNE), 50.0, 1e10)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 500.0), min_size=1, max_size=20),
    st.floats(1.0, 1e5),
    st.floats(0.0, 0.05),
    st.sampled_from(list(CvDetection)),
    st.floats(0.14, 0.25),
)
def test_no_cv_rate_exceeds_the_repeaterless_bound(
    points: list[float], modulation: float, excess: float, detection: CvDetection, attenuation: float
) -> None:
    # Pirandola et al. 2017: no point-to-point protocol beats -log2(1 - T), devices perfect or not.
    system = CvQkdSystem("any", modulation, excess, 1.0, 0.0, 1.0, attenuation, detection=detection)
    distance = np.array(points)
    bound = plob_bound(fibre_transmittance(distance, attenuation))
    assert np.all(cv_qkd_rate(system, distance) <= bound)
    assert np.all(cv_qkd_rate(ZHANG2020, distance) <= plob_bound(fibre_transmittance(distance, 0.16)))
