"""Elementary entanglement links, Micius's dual downlink, and BBM92 key on distributed pairs."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from openqci.physics.entropy import binary_entropy
from openqci.qin import QinParameterError
from openqci.qin.elementary import FibreEntanglementLink, HeraldingScheme, chsh_value
from openqci.qin.entanglement_qkd import bbm92_key_from_pairs, qber_of_werner
from openqci.qin.presets import MICIUS_DUAL_DOWNLINK, MICIUS_DUAL_DOWNLINK_LOSS_DB


def test_two_photon_heralding_falls_with_the_square_of_the_half_transmittance() -> None:
    short = FibreEntanglementLink(length_km=20.0, dark_count_probability=0.0).elementary()
    long = FibreEntanglementLink(length_km=40.0, dark_count_probability=0.0).elementary()
    # 20 km more fibre is 2 dB more on each half, so the two-photon success drops by 4 dB.
    assert long.p_gen / short.p_gen == pytest.approx(10 ** (-0.4), rel=1e-12)
    assert short.werner == pytest.approx(0.95)


def test_single_photon_heralding_scales_with_one_half_and_pays_alpha_in_fidelity() -> None:
    make = lambda alpha: FibreEntanglementLink(  # noqa: E731
        length_km=50.0, scheme=HeraldingScheme.SINGLE_PHOTON, bright_state=alpha, dark_count_probability=0.0
    ).elementary()
    low, high = make(0.05), make(0.2)
    assert high.p_gen / low.p_gen == pytest.approx(4.0, rel=1e-12)
    assert low.fidelity > high.fidelity
    assert low.fidelity == pytest.approx(0.95 * 0.95, rel=1e-9)


def test_dark_counts_lower_the_fidelity_of_long_links() -> None:
    clean = FibreEntanglementLink(length_km=300.0, dark_count_probability=0.0).elementary()
    noisy = FibreEntanglementLink(length_km=300.0, dark_count_probability=1e-5).elementary()
    assert noisy.werner < clean.werner


def test_an_attempt_lasts_the_round_trip_to_the_midpoint() -> None:
    assert FibreEntanglementLink(length_km=100.0).elementary().attempt_duration_s == pytest.approx(5e-4)


@pytest.mark.parametrize("field", ["length_km", "visibility", "node_efficiency"])
def test_link_parameters_out_of_range_are_refused(field: str) -> None:
    with pytest.raises(QinParameterError):
        FibreEntanglementLink(**{"length_km": 10.0, field: -1.0})  # type: ignore[arg-type]


def test_micius_violates_bell_as_reported_over_1203_km() -> None:
    # Yin et al., Science 356, 1140 (2017): Delingha and Lijiang 1,203 km apart, summed two-downlink loss
    # from 64 to 82 dB over the passes, CHSH S = 2.37 +/- 0.09, pairs arriving at the order of one per
    # second. Across the loss range the model's S stays within two of the paper's standard errors of 2.37
    # in the middle and above the classical 2 everywhere; the pair rate is of the order of 1 Hz.
    low, high = MICIUS_DUAL_DOWNLINK_LOSS_DB
    middle = MICIUS_DUAL_DOWNLINK.at_losses((low + high) / 4, (low + high) / 4)
    assert middle.chsh == pytest.approx(2.37, abs=2 * 0.09)
    for total in (low, high):
        result = MICIUS_DUAL_DOWNLINK.at_losses(total / 2, total / 2)
        assert 2.0 < result.chsh < 2.0 * math.sqrt(2.0)
    best = MICIUS_DUAL_DOWNLINK.at_losses(low / 2, low / 2)
    assert 0.3 < best.coincidence_rate_hz < 10.0


def test_micius_entanglement_based_qkd_makes_about_the_published_finite_key() -> None:
    # Yin et al., Nature 582, 501 (2020), Delingha-Nanshan 1,120 km: error correction inefficiency 1.19,
    # 0.43 bit/s asymptotically and 0.12 bit/s with finite key at epsilon 1e-10, 372 bits in all (so about
    # 3,100 s of data); QBER about 4.5 %. The sifted bits follow from the asymptotic rate; the finite-key
    # bound here must land near 0.12 bit/s.
    qber, f, duration = 0.045, 1.19, 372 / 0.12
    fraction = 1 - float(binary_entropy(qber)) * (1 + f)
    sifted = 0.43 * duration / fraction
    key = bbm92_key_from_pairs(sifted, qber, ec_efficiency=f, epsilon_sec=1e-10)
    rates = key.rates(duration)
    assert rates["asymptotic_key_bps"] == pytest.approx(0.43, rel=1e-9)
    assert rates["finite_key_bps"] == pytest.approx(0.12, rel=0.35)


def test_finite_key_grows_towards_the_asymptotic_key() -> None:
    fractions = [
        bbm92_key_from_pairs(n, 0.03).finite_bits / bbm92_key_from_pairs(n, 0.03).asymptotic_bits
        for n in (1e4, 1e6, 1e8)
    ]
    assert fractions[0] < fractions[1] < fractions[2] < 1.0
    assert fractions[2] > 0.95


def test_werner_pairs_show_their_qber_and_chsh() -> None:
    assert qber_of_werner(1.0) == 0.0
    assert qber_of_werner(0.0) == 0.5
    assert chsh_value(0.0) == pytest.approx(2 * math.sqrt(2))
    assert chsh_value(0.5) == 0.0


def openqci(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openqci", "qin", *args], capture_output=True, text=True, check=False
    )


def test_the_chain_command_prints_the_figures_the_documentation_names() -> None:
    done = openqci(
        "chain", "--segments", "2", "--length-km", "10", "--p-gen", "0.1", "--p-swap", "1", "--json"
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["mean_waiting_time_attempts"] == pytest.approx((3 - 0.2) / (0.1 * 1.9), rel=1e-12)
    assert record["mean_waiting_time_s"] == pytest.approx(record["mean_waiting_time_attempts"] * 10 / 2e5)
    assert record["mean_fidelity"] == pytest.approx(1.0)


def test_the_downlink_command_reports_a_bell_violation() -> None:
    done = openqci("downlink", "--loss-a-db", "33", "--loss-b-db", "34", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["chsh"] > 2.0


def test_the_key_of_a_chain_is_bbm92_on_its_pairs_charged_with_its_worse_basis() -> None:
    from openqci.qin import ChainParameters, solve_chain
    from openqci.qin.entanglement_qkd import bbm92_key_from_pairs, chain_key

    werner_chain = solve_chain(
        ChainParameters(
            segments=2, p_gen=0.2, werner_elementary=0.99, coherence_attempts=500.0, attempt_duration_s=1e-4
        )
    )
    key = chain_key(werner_chain, 3600.0)
    expected = bbm92_key_from_pairs(
        werner_chain.pair_rate_hz * 3600.0 / 2, (1 - werner_chain.mean_werner) / 2
    )
    assert key == expected
    assert key.finite_bits > 0
    # DEJMPS leaves a Bell-diagonal pair whose Z and X bases err differently: the worse one is charged
    distilled = solve_chain(
        ChainParameters(
            segments=2, p_gen=0.2, werner_elementary=0.9, attempt_duration_s=1e-4, distil_levels=(0,)
        )
    )
    zz, xx, _ = distilled.waiting_time.mean_correlations
    assert zz != pytest.approx(xx)
    assert chain_key(distilled, 3600.0).qber == pytest.approx(max(1 - zz, 1 - xx) / 2)


def test_the_chain_command_gives_the_key_only_on_a_time_scale() -> None:
    import json
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            "-m",
            "openqci",
            "qin",
            "chain",
            "--segments",
            "2",
            "--p-gen",
            "0.1",
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True)

    refused = run("--key-duration-s", "60")
    assert refused.returncode != 0
    assert "--key-duration-s needs --length-km" in refused.stderr
    assert "Traceback" not in refused.stderr
    done = run("--length-km", "20", "--key-duration-s", "60", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["key_duration_s"] == 60.0
    assert record["sifted_bps"] == pytest.approx(record["pair_rate_hz"] / 2)
