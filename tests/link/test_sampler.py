"""The sampler agrees with the physics model's gain and QBER within statistical error."""

from __future__ import annotations

import numpy as np
import pytest

from openqci.link.sampler import AFTERPULSE, BASIS_X, sample_detections
from openqci.link.sifting import sift
from openqci.physics.channels import fibre_transmittance
from openqci.physics.detection import expected_detection
from openqci.physics.presets import get_preset


@pytest.mark.parametrize(
    ("preset", "distance_km"), [("lim2014", 10.0), ("gys2004", 40.0), ("yuan2018", 80.0)]
)
def test_gain_and_qber_match_the_model(preset: str, distance_km: float, rng: np.random.Generator) -> None:
    system = get_preset(preset)
    eta = float(fibre_transmittance(distance_km, system.fibre_attenuation_db_per_km))
    pulses = 2 * 10**8 if system.source.repetition_rate_hz > 1e8 else 10**9
    events = sample_detections(system, eta, pulses, rng=rng)
    model = expected_detection(system, eta, np.array(system.source.intensities))
    for k, p_k in enumerate(system.source.probabilities):
        sent = pulses * p_k
        clicks = np.count_nonzero(events.intensity == k)
        gain_sigma = np.sqrt(sent * model.gain[k]) / sent
        assert abs(clicks / sent - model.gain[k]) < 5 * gain_sigma + 1e-12
        same = (events.intensity == k) & (events.alice_basis == events.bob_basis)
        errors = np.count_nonzero(events.alice_bits[same] != events.bob_bits[same])
        n = np.count_nonzero(same)
        q = float(model.qber[k])
        assert abs(errors / n - q) < 5 * np.sqrt(q * (1 - q) / n) + 1e-4


def test_cost_grows_with_detections_not_pulses(rng: np.random.Generator) -> None:
    system = get_preset("lim2014")
    events = sample_detections(system, 1e-6, 10**12, rng=rng)  # a terabit of pulses over ~300 km
    assert events.pulses_sent == 10**12
    assert 0 < events.detections < 10**7


def test_afterpulses_and_bases(rng: np.random.Generator) -> None:
    system = get_preset("yuan2018")
    events = sample_detections(system, 0.5, 10**7, rng=rng)
    share_x = np.mean(events.alice_basis == BASIS_X)
    assert abs(share_x - system.basis_prob_x) < 0.01
    afterpulses = np.count_nonzero(events.photon_number == AFTERPULSE)
    expected = system.detector.afterpulse_prob / (1 + system.detector.afterpulse_prob) * events.detections
    assert abs(afterpulses - expected) < 5 * np.sqrt(expected)


def test_sifting_invariants(rng: np.random.Generator) -> None:
    system = get_preset("lim2014")
    events = sample_detections(system, 0.3, 10**7, rng=rng)
    sifted = sift(events, 3)
    assert sifted.size == int(sifted.n_x.sum()) == sifted.bob_bits.size
    assert int(sifted.n_x.sum() + sifted.n_z.sum()) + sifted.discarded == events.detections
    assert np.all(sifted.m_z <= sifted.n_z)
    assert 0.0 <= sifted.qber_z < 0.5
