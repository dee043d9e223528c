"""Properties every key-rate model must have, over random presets, protocols and distances."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.physics import PRESETS, DecoyMethod, Protocol, fibre_transmittance, plob_bound, secret_key_rate

presets = st.sampled_from(sorted(PRESETS))
protocols = st.sampled_from([Protocol.DECOY_BB84, Protocol.BBM92])
decoy_methods = st.sampled_from(list(DecoyMethod))
distances = st.lists(st.floats(0.0, 400.0), min_size=2, max_size=20)


@settings(max_examples=40, deadline=None)
@given(presets, protocols, decoy_methods, distances)
def test_rates_are_non_negative_and_fall_with_distance(
    preset: str, protocol: Protocol, decoys: DecoyMethod, points: list[float]
) -> None:
    ordered = np.sort(np.array(points))
    result = secret_key_rate(PRESETS[preset], ordered, protocol=protocol, decoys=decoys)
    rates = result.secret_key_rate_per_pulse
    assert np.all(rates >= 0)
    assert np.all(np.diff(rates) <= 1e-12 + 1e-9 * rates[:-1])


@settings(max_examples=40, deadline=None)
@given(presets, protocols, decoy_methods, distances)
def test_no_rate_exceeds_the_repeaterless_bound(
    preset: str, protocol: Protocol, decoys: DecoyMethod, points: list[float]
) -> None:
    system = PRESETS[preset]
    distance = np.array(points)
    result = secret_key_rate(system, distance, protocol=protocol, decoys=decoys)
    bound = plob_bound(fibre_transmittance(distance, system.fibre_attenuation_db_per_km))
    assert np.all(result.secret_key_rate_per_pulse <= bound)


@settings(max_examples=10, deadline=None)
@given(presets, st.sampled_from([1e5, 1e7, 1e9]), distances)
def test_finite_key_rates_are_non_negative_and_below_the_bound(
    preset: str, block_size: float, points: list[float]
) -> None:
    system = PRESETS[preset]
    distance = np.sort(np.array(points))
    result = secret_key_rate(system, distance, block_size=block_size, epsilon=1e-10)
    rates = result.secret_key_rate_per_pulse
    assert np.all(rates >= 0)
    assert np.all(rates <= plob_bound(fibre_transmittance(distance, system.fibre_attenuation_db_per_km)))


@settings(max_examples=20, deadline=None)
@given(presets, st.floats(0.0, 300.0), st.integers(1, 5))
def test_models_broadcast_over_any_shape(preset: str, distance: float, copies: int) -> None:
    grid = np.full((copies, 2), distance)
    result = secret_key_rate(PRESETS[preset], grid)
    assert result.secret_key_rate_per_pulse.shape == (copies, 2)
    single = secret_key_rate(PRESETS[preset], distance)
    assert np.allclose(result.secret_key_rate_per_pulse, float(single.secret_key_rate_per_pulse), rtol=1e-6)
