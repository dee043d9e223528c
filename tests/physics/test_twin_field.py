"""Sending-or-not-sending twin-field QKD against the figures it is known for.

Analysis: Wang, Yu, Hu, PRA 98, 062323 (2018), with active odd-parity pairing of Xu, Yu, Jiang, Hu, Wang,
PRA 101, 042330 (2020). Presets after Lucamarini et al., Nature 557, 400 (2018) and Liu et al., PRL 130,
210801 (2023).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.physics import InvalidParameterError, fibre_transmittance, plob_bound
from openqci.physics.twin_field import (
    LIU2023,
    LUCAMARINI2018,
    TwinFieldParameters,
    sns_key_rate,
    twin_field_rate,
    twin_field_settings,
)

GRID_KM = np.arange(0.0, 500.5, 0.5)


def _crossing_km(params: TwinFieldParameters) -> float:
    """First distance where the twin-field rate beats the repeaterless bound over the same fibre."""
    rate = twin_field_rate(params, GRID_KM)
    bound = plob_bound(fibre_transmittance(GRID_KM, params.fibre_attenuation_db_per_km))
    above = rate > bound
    assert above.any(), "the twin-field rate never beats the repeaterless bound"
    return float(GRID_KM[np.argmax(above)])


def test_lucamarini_parameters_beat_the_repeaterless_bound_between_200_and_350_km() -> None:
    # Lucamarini et al., Nature 557, 400 (2018), Fig. 3: with realistic devices TF-QKD overtakes the
    # repeaterless secret-key capacity (Pirandola et al. 2017) at a few hundred km of 0.2 dB/km fibre.
    crossing = _crossing_km(LUCAMARINI2018)
    print(f"SNS-AOPP with the Lucamarini 2018 devices crosses PLOB at {crossing:.1f} km")
    assert 200.0 < crossing < 350.0
    beyond = np.arange(crossing + 0.5, 450.5, 0.5)
    rate = twin_field_rate(LUCAMARINI2018, beyond)
    assert np.all(rate > plob_bound(fibre_transmittance(beyond, 0.2)))


def test_beyond_the_crossing_the_rate_falls_at_half_the_fibre_loss() -> None:
    # Lucamarini et al. 2018, abstract: the key rate scales with the square root of the channel
    # transmittance, so log10(R) falls by alpha / 20 per km instead of the alpha / 10 of a direct link.
    crossing = _crossing_km(LUCAMARINI2018)
    distance = np.arange(crossing, crossing + 50.5, 0.5)
    slope = np.polyfit(distance, np.log10(twin_field_rate(LUCAMARINI2018, distance)), 1)[0]
    print(f"slope {slope:.5f} per km over {crossing:.0f}-{crossing + 50:.0f} km (sqrt(eta): -0.01)")
    assert slope == pytest.approx(-LUCAMARINI2018.fibre_attenuation_db_per_km / 20.0, rel=0.03)


def test_liu2023_gives_a_key_at_1002_km_of_the_order_published() -> None:
    # Liu et al., PRL 130, 210801 (2023), abstract: 9.53e-12 bits per pulse through 1002 km (asymptotic,
    # 3 decoy intensities). The model has infinitely many decoys and no test windows, and some device
    # figures are assumed (see the preset), so only the order of magnitude is checked.
    rate = float(twin_field_rate(LIU2023, 1002.0))
    print(f"SNS-AOPP, Liu 2023 devices, 1002 km: {rate:.3e} bits per pulse (published 9.53e-12)")
    assert 1e-12 < rate < 1e-9


def test_at_1002_km_the_key_needs_odd_parity_pairing() -> None:
    # Liu et al. 2023 ran SNS with AOPP (abstract): without pairing, windows where nobody sent but a dark
    # count fired are all bit errors, and at 1002 km they leave no key.
    plain = replace(LIU2023, odd_parity_pairing=False)
    assert float(twin_field_rate(plain, 1002.0)) == 0.0
    assert float(twin_field_rate(plain, 500.0)) > 0.0


def test_pairing_helps_at_every_distance_with_the_presets() -> None:
    distance = np.arange(0.0, 1001.0, 25.0)
    for params in (LUCAMARINI2018, LIU2023):
        paired = twin_field_rate(params, distance)
        plain = twin_field_rate(replace(params, odd_parity_pairing=False), distance)
        assert np.all(paired >= plain)


def test_settings_are_inside_their_ranges_and_optimal() -> None:
    rate, epsilon, mu = twin_field_settings(LUCAMARINI2018, np.array([100.0, 300.0]))
    assert np.all((epsilon > 0) & (epsilon <= 0.5) & (mu > 0) & (mu <= 2.0))
    eta = LUCAMARINI2018.arm_efficiency(np.array([100.0, 300.0]))
    for factor in (0.8, 1.25):
        assert np.all(sns_key_rate(LUCAMARINI2018, eta, epsilon * factor, mu) <= rate * (1 + 1e-9))
        assert np.all(sns_key_rate(LUCAMARINI2018, eta, epsilon, mu * factor) <= rate * (1 + 1e-9))


def test_rates_broadcast_over_shapes() -> None:
    grid = np.full((3, 2), 250.0)
    rates = twin_field_rate(LIU2023, grid)
    assert rates.shape == (3, 2)
    assert np.allclose(rates, float(twin_field_rate(LIU2023, 250.0)), rtol=1e-6)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InvalidParameterError):
        twin_field_rate(LIU2023, -1.0)
    with pytest.raises(InvalidParameterError):
        replace(LIU2023, detector_efficiency=0.0)
    with pytest.raises(InvalidParameterError):
        replace(LIU2023, phase_error=1.5)
    with pytest.raises(InvalidParameterError):
        replace(LIU2023, ec_efficiency=0.9)


devices = st.builds(
    TwinFieldParameters,
    name=st.just("random"),
    detector_efficiency=st.floats(0.05, 1.0),
    dark_count_prob=st.floats(0.0, 1e-5),
    phase_error=st.floats(0.0, 0.1),
    ec_efficiency=st.floats(1.0, 1.3),
    fibre_attenuation_db_per_km=st.floats(0.15, 0.25),
    odd_parity_pairing=st.booleans(),
)


@settings(max_examples=40, deadline=None)
@given(
    st.one_of(st.sampled_from([LUCAMARINI2018, LIU2023]), devices),
    st.lists(st.floats(0.0, 500.0), min_size=1),
)
def test_twin_field_never_beats_a_single_repeater(params: TwinFieldParameters, points: list[float]) -> None:
    # Pirandola et al., Nat. Commun. 8, 15043 (2017): a middle node splits the link into two segments of
    # transmittance sqrt(eta), and no protocol through it beats -log2(1 - sqrt(eta)).
    distance = np.array(points)
    rate = twin_field_rate(params, distance)
    eta = fibre_transmittance(distance, params.fibre_attenuation_db_per_km)
    assert np.all(rate >= 0)
    assert np.all(rate <= plob_bound(np.sqrt(eta)))
