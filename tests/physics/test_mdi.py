"""Decoy-state MDI-QKD (Lo, Curty, Qi, PRL 108, 130503 (2012)) with the Yin et al. 2016 devices.

Channel model of Ma, Razavi, PRA 86, 062319 (2012), as written in Xu, Curty, Qi, Lo, NJP 15, 113007 (2013).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.physics import InvalidParameterError, fibre_transmittance, plob_bound
from openqci.physics.mdi import YIN2016, MdiParameters, mdi_rate, mdi_signal_statistics, mdi_single_photon


def test_yin2016_gives_a_key_at_404_km() -> None:
    # Yin et al., PRL 117, 190501 (2016), abstract: MDI-QKD over 404 km of ultralow-loss fibre.
    rate = float(mdi_rate(YIN2016, 404.0))
    print(f"MDI, Yin 2016 devices, 404 km: {rate:.3e} bits per pulse")
    assert rate > 0


def test_yin2016_stays_below_the_repeaterless_bound_up_to_500_km() -> None:
    # Pirandola et al., Nat. Commun. 8, 15043 (2017): the relay only measures, so MDI-QKD is repeaterless.
    distance = np.arange(0.0, 500.5, 0.5)
    rate = mdi_rate(YIN2016, distance)
    assert np.all(rate < plob_bound(fibre_transmittance(distance, YIN2016.fibre_attenuation_db_per_km)))


def test_the_rate_falls_with_the_whole_fibre_loss() -> None:
    # Lo, Curty, Qi 2012: both photons must reach the relay, so Y_11 ~ eta_a eta_b / 2 and log10(R) falls by
    # alpha / 10 per km, twice as fast as twin-field QKD.
    distance = np.arange(200.0, 300.5, 0.5)
    slope = np.polyfit(distance, np.log10(mdi_rate(YIN2016, distance)), 1)[0]
    assert slope == pytest.approx(-YIN2016.fibre_attenuation_db_per_km / 10.0, rel=0.03)


def test_single_photon_pairs_without_noise_succeed_half_the_time_with_the_misalignment_error() -> None:
    # Ma, Razavi 2012: with no dark counts only orthogonal polarisations (half the Z pairs) give a Bell-state
    # announcement, so Y_11 = eta_a eta_b / 2, and the only X errors are the misalignment.
    quiet = replace(YIN2016, dark_count_prob=0.0)
    y11, e11 = mdi_single_photon(quiet, 0.3, 0.2)
    assert float(y11) == pytest.approx(0.03)
    assert float(e11) == pytest.approx(YIN2016.misalignment)


def test_without_dark_counts_z_errors_come_only_from_misalignment() -> None:
    quiet = replace(YIN2016, dark_count_prob=0.0)
    gain, qber = mdi_signal_statistics(quiet, 0.1, 0.1, 0.5, 0.5)
    assert float(qber) == pytest.approx(YIN2016.misalignment)
    assert float(gain) == pytest.approx(2.0 * np.exp(-0.05) * (1.0 - np.exp(-0.025)) ** 2)


def test_dark_counts_end_the_key_and_raise_the_error() -> None:
    noisy = replace(YIN2016, dark_count_prob=1e-5)
    assert float(mdi_rate(noisy, 404.0)) == 0.0
    _, qber = mdi_signal_statistics(noisy, 1e-4, 1e-4, 0.5, 0.5)
    assert float(qber) > 0.25


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InvalidParameterError):
        mdi_rate(YIN2016, -5.0)
    with pytest.raises(InvalidParameterError):
        replace(YIN2016, misalignment=-0.1)
    with pytest.raises(InvalidParameterError):
        replace(YIN2016, repetition_rate_hz=0.0)


devices = st.builds(
    MdiParameters,
    name=st.just("random"),
    detector_efficiency=st.floats(0.05, 1.0),
    dark_count_prob=st.floats(0.0, 1e-5),
    misalignment=st.floats(0.0, 0.1),
    ec_efficiency=st.floats(1.0, 1.3),
    fibre_attenuation_db_per_km=st.floats(0.15, 0.25),
)


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.just(YIN2016), devices), st.lists(st.floats(0.0, 500.0), min_size=1))
def test_mdi_never_beats_the_repeaterless_bound(params: MdiParameters, points: list[float]) -> None:
    # Pirandola et al. 2017: no point-to-point protocol without a repeater beats -log2(1 - eta).
    distance = np.array(points)
    rate = mdi_rate(params, distance)
    assert np.all(rate >= 0)
    assert np.all(rate <= plob_bound(fibre_transmittance(distance, params.fibre_attenuation_db_per_km)))
