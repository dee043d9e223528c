"""``run_link`` (behind ``openqci link run``): its record, eavesdroppers, the model's rate, the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from openqci.link.errors import InvalidLinkParameterError
from openqci.link.eve import parse_eavesdropper
from openqci.link.run import LinkRunReport, make_reconciler, run_link
from openqci.link.settings import expected_counts
from openqci.physics.channels import fibre_transmittance
from openqci.physics.devices import QkdSystem
from openqci.physics.entropy import binary_entropy
from openqci.physics.finite_key import finite_key_rate, lim2014_key_length
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
    ("eve", "optimise_settings", "reason"),
    [
        # At the preset's balanced bases, 30 % intercept-resend adds ~7.5 points of QBER: below the
        # threshold, so the finite-key bound refuses. At the optimised settings Eve, like Alice and
        # Bob, measures mostly in the key basis, and the test-basis QBER crosses the threshold.
        ("intercept-resend:0.3", False, "no-secret-key"),
        ("intercept-resend:0.3", True, "qber-above-threshold"),
        ("pns", True, "decoy-bounds-inconsistent"),
        ("tamper", True, "authentication-failure"),
    ],
)
def test_eavesdroppers_abort_with_their_reason(
    eve: str, optimise_settings: bool, reason: str, rng: np.random.Generator
) -> None:
    record = run_link(
        preset="lim2014",
        distance_km=25,
        duration_s=0.05,
        eve=eve,
        rng=rng,
        optimise_settings=optimise_settings,
    ).record()
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


def _link_system(report: LinkRunReport) -> QkdSystem:
    """The preset with the source settings the run reported."""
    system = get_preset(report.preset)
    source = replace(
        system.source,
        intensities=report.intensities,
        probabilities=report.intensity_probabilities,
    )
    return replace(system, source=source, basis_prob_x=report.basis_prob_x)


def _model_at_link_settings(report: LinkRunReport) -> float:
    """Lim et al.'s bound on the counts the physics model expects at the run's settings and f, in bit/s."""
    system = _link_system(report)
    eta = float(fibre_transmittance(report.distance_km, system.fibre_attenuation_db_per_km))
    n_x = report.sifted_bits / report.blocks
    expected = expected_counts(system, eta, n_x)
    leaked = report.ec_efficiency * float(binary_entropy(expected.qber)) * n_x
    bound = lim2014_key_length(expected.counts, leaked_ec_bits=leaked, epsilon_sec=1e-10, epsilon_cor=1e-15)
    return float(bound.key_length_bits) / float(expected.pulses) * system.source.repetition_rate_hz


def _optimised_model(report: LinkRunReport, ec_efficiency: float | None = None) -> float:
    """physics.finite_key_rate for the run's block size, in bit/s (at the preset's f unless given)."""
    system = get_preset(report.preset)
    if ec_efficiency is not None:
        system = replace(system, ec_efficiency=ec_efficiency)
    eta = fibre_transmittance(report.distance_km, system.fibre_attenuation_db_per_km)
    n_x = report.sifted_bits / report.blocks
    rate = finite_key_rate(system, eta, block_size=n_x, epsilon_sec=1e-10).rate_per_pulse[0]
    return float(rate) * system.source.repetition_rate_hz


@pytest.mark.slow
def test_long_run_approaches_finite_key_model(rng: np.random.Generator) -> None:
    report = run_link(preset="lim2014", distance_km=25, duration_s=3.0, block_bits=1 << 22, rng=rng)
    assert report.keys_identical
    assert report.secret_key_rate_bps == pytest.approx(_model_at_link_settings(report), rel=0.05)
    # The link runs the optimised settings, so with its own f it meets the optimised model.
    optimised = _optimised_model(report, ec_efficiency=report.ec_efficiency)
    assert report.secret_key_rate_bps == pytest.approx(optimised, rel=0.05)


def test_biased_basis_preset_makes_key(rng: np.random.Generator) -> None:
    # yuan2018 sends the test basis 1/16 of the time and each decoy 10 % of the time: at 2^20-bit
    # blocks its test basis holds too few decoy detections to bound the single photons.
    preset = run_link(preset="yuan2018", distance_km=10, duration_s=0.1, rng=rng, optimise_settings=False)
    assert preset.abort_reasons == {"decoy-bounds-inconsistent": preset.blocks}
    report = run_link(preset="yuan2018", distance_km=10, duration_s=0.3, rng=rng)
    assert report.keys_identical
    assert report.blocks >= 2
    assert report.blocks_aborted == 0
    assert report.basis_prob_x < 15 / 16
    # Within 5 % of the model at the link's settings and measured f; within 10 % of the optimised
    # model at the preset's f = 1.10 (the link's Cascade leaks less, f ~ 1.05: ~5 % more key).
    assert report.secret_key_rate_bps == pytest.approx(_model_at_link_settings(report), rel=0.05)
    assert report.secret_key_rate_bps == pytest.approx(_optimised_model(report), rel=0.1)


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


@pytest.mark.slow
def test_cli_biased_basis_preset_makes_key_at_the_model_rate() -> None:
    from typer.testing import CliRunner

    from openqci.commands.link import app

    arguments = ["run", "--preset", "yuan2018", "--distance-km", "10", "--duration-s", "2", "--json"]
    result = CliRunner().invoke(app, [*arguments, "--seed", "3"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["keys_identical"] is True
    assert record["abort_reasons"] == {}
    report = LinkRunReport(**{**record, "intensities": tuple(record["intensities"])})
    report = replace(report, intensity_probabilities=tuple(record["intensity_probabilities"]))
    assert record["secret_key_rate_bps"] == pytest.approx(_optimised_model(report), rel=0.1)
