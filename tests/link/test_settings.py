"""Source settings: the link's optimum is the physics layer's, and a hopeless link keeps its preset."""

from __future__ import annotations

import numpy as np
import pytest

from openqci.link.settings import expected_counts, optimal_settings
from openqci.physics.channels import fibre_transmittance
from openqci.physics.entropy import binary_entropy
from openqci.physics.finite_key import finite_key_rate, lim2014_key_length
from openqci.physics.presets import get_preset


def _rate_per_pulse(system, eta: float, key_bits: float) -> float:  # type: ignore[no-untyped-def]
    expected = expected_counts(system, eta, key_bits)
    leaked = system.ec_efficiency * float(binary_entropy(expected.qber)) * key_bits
    bound = lim2014_key_length(expected.counts, leaked_ec_bits=leaked, epsilon_sec=1e-10, epsilon_cor=1e-15)
    return float(bound.key_length_bits) / float(expected.pulses)


@pytest.mark.parametrize(
    ("preset", "distance_km", "key_bits"), [("yuan2018", 10.0, 2.0**20), ("lim2014", 25.0, 2.0**22)]
)
def test_optimal_settings_reach_the_physics_optimum(preset: str, distance_km: float, key_bits: float) -> None:
    system = get_preset(preset)
    eta = float(fibre_transmittance(distance_km, system.fibre_attenuation_db_per_km))
    tuned = optimal_settings(system, eta, key_bits=key_bits, epsilon_sec=1e-10, epsilon_cor=1e-15)
    optimum = float(finite_key_rate(system, eta, block_size=key_bits, epsilon_sec=1e-10).rate_per_pulse[0])
    assert _rate_per_pulse(tuned, eta, key_bits) == pytest.approx(optimum, rel=0.01)
    assert _rate_per_pulse(tuned, eta, key_bits) > max(_rate_per_pulse(system, eta, key_bits), 0.0)
    assert tuned.source.intensities[-1] == system.source.intensities[-1]
    assert sum(tuned.source.probabilities) == pytest.approx(1.0)
    assert tuned.detector == system.detector


def test_expected_counts_hold_the_block() -> None:
    system = get_preset("lim2014")
    expected = expected_counts(system, 0.1, 1e6)
    assert float(np.sum(expected.counts.n_x)) == pytest.approx(1e6)
    ratio = ((1 - system.basis_prob_x) / system.basis_prob_x) ** 2
    assert float(np.sum(expected.counts.n_z)) == pytest.approx(1e6 * ratio)


def test_no_key_anywhere_keeps_the_preset() -> None:
    system = get_preset("lim2014")
    eta = float(fibre_transmittance(300.0, system.fibre_attenuation_db_per_km))
    assert optimal_settings(system, eta, key_bits=2.0**20, epsilon_sec=1e-10, epsilon_cor=1e-15) is system
