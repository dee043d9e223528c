"""``run_link`` (behind ``openqci link run``): its record, eavesdroppers, the model's rate, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from openqci.link.errors import InvalidLinkParameterError
from openqci.link.eve import parse_eavesdropper
from openqci.link.run import make_reconciler, run_link
from openqci.physics.channels import fibre_transmittance
from openqci.physics.detection import expected_detection
from openqci.physics.entropy import binary_entropy
from openqci.physics.finite_key import DecoyCounts, finite_key_rate, lim2014_key_length
from openqci.physics.presets import get_preset

FIELDS = {
    "pulses_sent",
    "detections",
    "sifted_bits",
    "qber",
    "reconciliation",
    "ec_efficiency",
    "leaked_ec_bits",
    "auth_key_consumed_bits",
    "final_key_bits",
    "secret_key_rate_bps",
    "keys_identical",
    "aborted",
    "abort_reason",
    "wall_s",
    "real_time_factor",
}


def test_record_has_the_contract_fields(rng: np.random.Generator) -> None:
    record = run_link(preset="lim2014", distance_km=25, duration_s=0.2, rng=rng).record()
    assert record.keys() >= FIELDS
    assert record["keys_identical"] is True
    assert record["aborted"] is False
    assert record["final_key_bits"] > 0
    assert record["secret_key_rate_bps"] == pytest.approx(record["final_key_bits"] / 0.2)


@pytest.mark.parametrize(
    ("eve", "reason"),
    [
        ("intercept-resend:0.3", "no-secret-key"),
        ("pns", "decoy-bounds-inconsistent"),
        ("tamper", "authentication-failure"),
    ],
)
def test_eavesdroppers_abort_with_their_reason(eve: str, reason: str, rng: np.random.Generator) -> None:
    record = run_link(preset="lim2014", distance_km=25, duration_s=0.05, eve=eve, rng=rng).record()
    assert record["aborted"]
    assert record["abort_reason"] == reason
    assert record["final_key_bits"] == 0


def test_bad_names_list_valid_ones() -> None:
    with pytest.raises(InvalidLinkParameterError, match="cascade"):
        make_reconciler("turbo")
    with pytest.raises(InvalidLinkParameterError, match="pns"):
        parse_eavesdropper("photon-splitting")
    with pytest.raises(InvalidLinkParameterError):
        parse_eavesdropper("intercept-resend:lots")


def _model_at_link_parameters(preset: str, distance_km: float, n_x: float, ec_efficiency: float) -> float:
    """Lim et al.'s bound on the counts the physics model expects at the preset's own parameters, in bit/s."""
    system = get_preset(preset)
    eta = fibre_transmittance(distance_km, system.fibre_attenuation_db_per_km)
    mu = np.array(system.source.intensities)
    p = np.array(system.source.probabilities)
    px = system.basis_prob_x
    stats = expected_detection(system, eta, mu)
    pulses = n_x / (px**2 * float(np.dot(p, stats.gain)))
    qber = float(np.dot(p, stats.error) / np.dot(p, stats.gain))
    counts = DecoyCounts(
        mu,
        p,
        pulses * p * px**2 * stats.gain,
        pulses * p * (1 - px) ** 2 * stats.gain,
        pulses * p * (1 - px) ** 2 * stats.error,
    )
    leaked = ec_efficiency * float(binary_entropy(qber)) * n_x
    bound = lim2014_key_length(counts, leaked_ec_bits=leaked, epsilon_sec=1e-10, epsilon_cor=1e-15)
    return float(bound.key_length_bits) / pulses * system.source.repetition_rate_hz


@pytest.mark.slow
def test_long_run_approaches_finite_key_model(rng: np.random.Generator) -> None:
    report = run_link(preset="lim2014", distance_km=25, duration_s=3.0, block_bits=1 << 22, rng=rng)
    assert report.keys_identical
    n_x = report.sifted_bits / report.blocks
    at_link = _model_at_link_parameters("lim2014", 25, n_x, report.ec_efficiency)
    assert report.secret_key_rate_bps == pytest.approx(at_link, rel=0.1)
    # The optimised model (basis bias and intensities free) bounds the fixed-parameter link from above.
    system = get_preset("lim2014")
    optimised = finite_key_rate(
        system, fibre_transmittance(25, 0.2), block_size=n_x, epsilon_sec=1e-10
    ).rate_per_pulse[0]
    assert report.secret_key_rate_bps < float(optimised) * system.source.repetition_rate_hz


def test_cli_prints_one_json_object() -> None:
    from typer.testing import CliRunner

    from openqci.commands.link import app

    result = CliRunner().invoke(
        app,
        [
            "run",
            "--preset",
            "lim2014",
            "--distance-km",
            "25",
            "--duration-s",
            "0.2",
            "--seed",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record.keys() >= FIELDS
    assert record["keys_identical"] is True
