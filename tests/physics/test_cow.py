"""Coherent one-way QKD: the Branciard-Gisin-Scarani (2008) collective-attack rate, Walenta 2014 system.

Sources: Walenta et al., NJP 16, 013047 (2014), arXiv 1309.2583 (abstract: 625 MHz, "secret keys with rates
up to 140 kbps and over 25 km of optical fibre", epsilon_QKD = 4e-9); Branciard, Gisin, Scarani, NJP 10,
013031 (2008); Pirandola et al., Nat. Commun. 8, 15043 (2017) for the repeaterless bound.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.physics import InvalidParameterError, fibre_transmittance, plob_bound
from openqci.physics.cow import (
    WALENTA2014,
    CowSystem,
    cow_eve_information,
    cow_key_rate_bps,
    cow_rate,
    cow_statistics,
)
from openqci.physics.entropy import binary_entropy

# Walenta 2014's only figure re-read here is the abstract's: "secret keys with rates up to 140 kbps and over
# 25 km of optical fibre", with finite-key corrections and authentication costs. That is a peak rate and a
# reach; their rate at 25 km itself is at most 140 kbit/s, and their table and key-rate-versus-distance
# figure could not be opened. The band checked is therefore loose: the asymptotic rate at 25 km, which
# drops those costs, lies between 140 kbit/s and three times that (docs/protocols.md names the gap).
WALENTA_KM = 25.0
WALENTA_BPS = 140e3


def test_walenta_2014_rate_at_25_km_lies_in_the_reported_band() -> None:
    bps = float(cow_key_rate_bps(WALENTA2014, WALENTA_KM))
    print(f"\nWalenta 2014 preset at 25 km: {bps / 1e3:.0f} kbit/s asymptotic (published, finite key: 140)")
    assert WALENTA_BPS <= bps <= 3 * WALENTA_BPS


def test_walenta_2014_qber_is_in_the_range_of_a_working_cow_link() -> None:
    stats = cow_statistics(WALENTA2014, fibre_transmittance(WALENTA_KM))
    assert 0.01 <= float(stats.qber) < 0.02


def test_rate_falls_with_distance_and_dies_where_dark_counts_win() -> None:
    distance = np.linspace(0.0, 300.0, 61)
    rate = cow_key_rate_bps(WALENTA2014, distance)
    assert np.all(np.diff(rate) <= 0)
    assert rate[0] > 0
    assert rate[-1] == 0.0


@pytest.mark.parametrize("distance", [0.0, 1.0, 25.0, 50.0, 100.0, 150.0, 200.0, 300.0])
def test_walenta_rate_stays_below_plob(distance: float) -> None:
    assert float(cow_rate(WALENTA2014, distance)) <= float(plob_bound(fibre_transmittance(distance)))


@pytest.mark.parametrize("mu", [0.05, 0.2, 0.7])
def test_eve_information_at_perfect_visibility_is_the_holevo_quantity_of_the_two_bit_states(
    mu: float,
) -> None:
    # BGS 2008: at V = 1 and no errors Eve is left with the two bit states |0, a> and |a, 0>, overlap e^-mu.
    # Their Holevo quantity is the entropy of the equal mixture, from the Gram matrix's eigenvalues.
    overlap = np.exp(-mu)
    eigenvalues = np.linalg.eigvalsh(0.5 * np.array([[1.0, overlap], [overlap, 1.0]]))
    expected = float(-np.sum(eigenvalues * np.log2(eigenvalues)))
    assert float(cow_eve_information(mu, 1.0, 0.0)) == pytest.approx(expected, rel=1e-12)


def test_lower_visibility_gives_eve_more_and_the_ends_less() -> None:
    assert float(cow_eve_information(0.2, 0.95, 0.01)) > float(cow_eve_information(0.2, 0.99, 0.01))
    worse = replace(WALENTA2014, visibility=0.95)
    assert float(cow_rate(worse, 25.0)) < float(cow_rate(WALENTA2014, 25.0))


def test_dead_time_caps_the_short_distance_rate() -> None:
    free = replace(WALENTA2014, dead_time_s=0.0)
    assert float(cow_rate(free, 0.0)) > float(cow_rate(WALENTA2014, 0.0))
    assert float(cow_rate(free, 150.0)) == pytest.approx(float(cow_rate(WALENTA2014, 150.0)), rel=1e-3)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InvalidParameterError):
        replace(WALENTA2014, visibility=0.3)
    with pytest.raises(InvalidParameterError):
        replace(WALENTA2014, mean_photon_number=0.0)
    with pytest.raises(InvalidParameterError):
        replace(WALENTA2014, ec_efficiency=0.9)
    with pytest.raises(InvalidParameterError):
        cow_rate(WALENTA2014, -5.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 500.0), min_size=1, max_size=20),
    st.floats(0.01, 1.0),
    st.floats(0.9, 1.0),
    st.floats(0.05, 1.0),
    st.floats(1e-8, 1e-4),
)
def test_no_cow_rate_exceeds_the_repeaterless_bound(
    points: list[float], mu: float, visibility: float, efficiency: float, dark: float
) -> None:
    # Pirandola et al. 2017: -log2(1 - T) per channel use (time slot) bounds every point-to-point link.
    system = CowSystem("any", 1e9, mu, 0.1, 0.9, efficiency, dark, visibility, 0.005)
    distance = np.array(points)
    bound = plob_bound(fibre_transmittance(distance))
    assert np.all(cow_rate(system, distance) <= bound)
    assert np.all(cow_rate(WALENTA2014, distance) <= bound)


def test_the_low_noise_detectors_reach_30_db_as_korzh_et_al_report() -> None:
    """Korzh et al., APL 104, 081108 (2014): 350 bit/s of secret key through 30 dB (150 km at 0.2 dB/km),
    finite key and authentication included. The asymptotic model must sit above it, by about the same
    factor as at 25 km against Walenta et al. (their finite-key costs), not orders of magnitude."""
    from openqci.physics.cow import KORZH2014

    bps = float(cow_key_rate_bps(KORZH2014, 150.0))
    print(f"COW korzh2014 at 30 dB: {bps:.0f} bit/s (published 350 bit/s, finite key)")
    assert 350.0 <= bps <= 4 * 350.0
    assert float(cow_key_rate_bps(WALENTA2014, 150.0)) < bps  # gated detectors' dark counts cost reach


# Korzh, Lim, Houlmann, Gisin, Li, Nolan, Sanguinetti, Thew, Zbinden, "Provably secure and practical quantum
# key distribution over 307 km of optical fibre", Nat. Photon. 9, 163 (2015), arXiv 1407.7427, Supplementary
# Table I (the 625 MHz COW system with free-running detectors): per distance, the mean photon number, the
# block of sifted bits n, the error-correction efficiency, the visibility, the QBER, the secret fraction of
# a block, the block's duration and the secret key rate; security parameter beta = 1e-9. The table was read
# from a transcription, not the paper; its rows at 153 and 256 km are left out because their rate times
# duration over block (0.38, 0.52) disagrees with their own secret fraction (0.31, 0.23), a sign of a
# misread entry, where the three rows kept agree to 0.001.
KORZH2015_ROWS = {
    # km: (mu, n, f_EC, V, QBER, secret fraction, duration s, rate bit/s)
    104.0: (0.06, 1.97e7, 1.217, 0.983, 0.024, 0.347, 536.8, 1.27e4),
    203.0: (0.10, 1.05e7, 1.271, 0.982, 0.015, 0.301, 3108.0, 1.02e3),
    307.0: (0.07, 6.6e5, 1.287, 0.970, 0.035, 0.084, 17245.0, 3.18),
}
KORZH2015_BETA = 1e-9


def _korzh_fraction(mu: float, n: float, f_ec: float, visibility: float, qber: float) -> float:
    """The collective-attack secret fraction of this module's model on the published measurements, less
    the statistical term 7 sqrt(log2(1/beta) / n) of the finite-size analysis (Scarani and Renner's form)."""
    asymptotic = 1.0 - f_ec * float(binary_entropy(qber)) - float(cow_eve_information(mu, visibility, qber))
    return float(asymptotic - 7.0 * np.sqrt(np.log2(1.0 / KORZH2015_BETA) / n))


@pytest.mark.parametrize("distance", sorted(KORZH2015_ROWS))
def test_the_rows_kept_of_korzh_2015_agree_with_themselves(distance: float) -> None:
    _, n, _, _, _, fraction, duration, rate = KORZH2015_ROWS[distance]
    assert rate * duration / n == pytest.approx(fraction, abs=1.5e-3)


def test_eve_information_reproduces_korzh_2015_secret_fraction_at_104_km() -> None:
    """At 104 km, the largest block, the model's fraction on their measurements is their 0.347 within what
    the printed inputs' rounding allows: the QBER printed to 0.1 % moves it by +-0.003 alone."""
    mu, n, f_ec, visibility, qber, fraction, _, _ = KORZH2015_ROWS[104.0]
    ours = _korzh_fraction(mu, n, f_ec, visibility, qber)
    print(f"\nKorzh 2015 at 104 km: secret fraction {ours:.4f} (published {fraction})")
    assert ours == pytest.approx(fraction, abs=5e-3)


@pytest.mark.parametrize("distance", [203.0, 307.0])
def test_at_smaller_blocks_the_fraction_stays_just_above_korzh_2015(distance: float) -> None:
    """Their finite-size analysis has terms beyond the one written here, which cost more the smaller the
    block: the model's fraction sits above theirs, by 0.007 at 203 km (n = 1.05e7) and 0.032 at 307 km
    (n = 6.6e5), never below (no key the experiment could not have made)."""
    mu, n, f_ec, visibility, qber, fraction, _, _ = KORZH2015_ROWS[distance]
    ours = _korzh_fraction(mu, n, f_ec, visibility, qber)
    print(f"\nKorzh 2015 at {distance:.0f} km: secret fraction {ours:.4f} (published {fraction})")
    assert fraction <= ours <= fraction + 0.035
