"""Decoy BB84 finite keys with Chernoff decoy estimates (openqci.physics.finite_key_tight).

Sources: Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014), Eqs. (1)-(5) (the structure and the
baseline); the Chernoff bounds of Zhang, Zhao, Razavi, Ma, PRA 95, 012333 (2017) in the closed form of Yin et
al., Sci. Rep. 10, 14312 (2020); the one-decoy protocol of Rusca et al., APL 112, 171104 (2018); and the
published system of Yuan et al., J. Lightwave Technol. 36, 3427 (2018): 13.72 Mbit/s over a 2 dB channel
with blocks of about 1e8 bits.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.physics import (
    DecoyCounts,
    QkdSystem,
    decoy_bb84_rate,
    expected_detection,
    fibre_transmittance,
    finite_key_rate,
    get_preset,
    lim2014_key_length,
    photon_number_yield,
    secret_key_rate,
)
from openqci.physics.entropy import binary_entropy
from openqci.physics.finite_key_tight import (
    chernoff_interval,
    one_decoy_key_length,
    tight_finite_key_rate,
    tight_key_length,
)

YUAN = get_preset("yuan2018")
EPSILON = 1e-10
PUBLISHED_YUAN_MBPS = 13.72  # Yuan et al. 2018: secret key rate over the 2 dB channel.
# Both finite-key optimisers let q_x go up to 0.999; the asymptotic rate they must stay below is that of
# the same system with that basis bias (efficient BB84), as in tests/physics/test_finite_key.py.
EFFICIENT_Q_X = 0.999


def asymptotic_ceiling(system: QkdSystem, eta: np.ndarray) -> np.ndarray:
    """Infinite-decoy asymptotic key per pulse, plus the vacuum detections Lim's Eq. (1) counts as key.

    ``decoy_bb84_rate`` is GLLP (Lo-Ma-Chen Eq. 11), which leaves out the vacuum term ``Q_0``; Lim's key
    length adds the vacuum events ``s_X,0``, which makes the finite-key rates of both Lim's bound and this
    one exceed plain GLLP within ~15 km of the reach (130 km and beyond for yuan2018). The true ceiling of a
    Lim-type bound is ``max_mu q^2 [Q_0 + Q_1 (1 - h(e_1)) - f Q h(E)]`` (leakage from the mixed QBER is
    never below the mixture's, by concavity of h), taken here on a fine grid of ``mu``.
    """
    efficient = dataclasses.replace(system, basis_prob_x=EFFICIENT_Q_X)
    mu = np.geomspace(1e-3, 1.5, 600)[:, None]
    vacuum = efficient.sifting_factor * np.exp(-mu) * photon_number_yield(efficient, eta, 0).gain
    return np.asarray(np.max(decoy_bb84_rate(efficient, eta, mu) + vacuum, axis=0))


def test_yuan2018_at_2_db_gets_at_least_10_percent_more_key_than_lim_2014() -> None:
    # Yuan et al. 2018: 2 dB channel, blocks of about 1e8 bits, 13.72 Mbit/s published. 10 km of the preset's
    # 0.2 dB/km fibre is exactly that channel, so the asymptotic rate of keyrate.secret_key_rate applies too.
    eta = np.array([10 ** (-2.0 / 10.0)])
    assert fibre_transmittance(10.0, YUAN.fibre_attenuation_db_per_km) == pytest.approx(eta[0])
    clock = YUAN.source.repetition_rate_hz
    lim = float(finite_key_rate(YUAN, eta, block_size=1e8, epsilon_sec=EPSILON).rate_per_pulse[0]) * clock
    tight = float(tight_finite_key_rate(YUAN, eta, block_size=1e8, epsilon_sec=EPSILON).rate_per_pulse[0])
    tight *= clock
    efficient = dataclasses.replace(YUAN, basis_prob_x=EFFICIENT_Q_X)
    asymptotic = float(secret_key_rate(efficient, 10.0).secret_key_rate_bps)
    print(
        f"\nyuan2018, 2 dB, n_X = 1e8, epsilon_sec = {EPSILON:g}: Lim 2014 {lim / 1e6:.2f} Mbit/s, "
        f"Chernoff {tight / 1e6:.2f} Mbit/s, asymptotic (q_x = {EFFICIENT_Q_X}) {asymptotic / 1e6:.2f} "
        f"Mbit/s, published {PUBLISHED_YUAN_MBPS} Mbit/s"
    )
    assert tight >= 1.10 * lim
    # Recorded on this commit: 5.64 (Lim) and 7.84 Mbit/s (Chernoff); the published 13.72 Mbit/s lies
    # between the rigorous finite-key figure and the asymptotic ceiling of the preset (14.05 Mbit/s).
    assert tight < PUBLISHED_YUAN_MBPS * 1e6 < asymptotic


def test_tight_rate_stays_below_the_asymptotic_rate_and_tends_to_it() -> None:
    # Any finite-key rate is at most the asymptotic one; with 1e14 detections the statistical margins
    # vanish and only the finite number of decoys is left (vacuum plus a weak decoy of ~0.01).
    distance = np.array([20.0])
    eta = fibre_transmittance(distance, YUAN.fibre_attenuation_db_per_km)
    efficient = dataclasses.replace(YUAN, basis_prob_x=EFFICIENT_Q_X)
    gllp = secret_key_rate(efficient, distance).secret_key_rate_per_pulse
    ceiling = asymptotic_ceiling(YUAN, eta)
    rates = [
        float(tight_finite_key_rate(YUAN, eta, block_size=n, epsilon_sec=EPSILON).rate_per_pulse[0])
        for n in (1e8, 1e11, 1e14)
    ]
    assert rates[0] < rates[1] < rates[2] <= float(ceiling[0])
    # At 20 km the vacuum term is negligible, so the plain asymptotic decoy-BB84 rate is the target too.
    assert rates[2] <= float(gllp[0])
    assert rates[2] == pytest.approx(float(gllp[0]), rel=0.10)


@settings(max_examples=12, deadline=None)
@given(
    st.lists(st.floats(0.0, 200.0), min_size=1, max_size=6),
    st.sampled_from([1e5, 1e7, 1e9, 1e11, 1e13]),
    st.sampled_from([1, 2]),
)
def test_tight_rates_are_non_negative_and_never_above_the_asymptotic_rate(
    distances: list[float], block_size: float, decoys: int
) -> None:
    eta = fibre_transmittance(np.array(distances), YUAN.fibre_attenuation_db_per_km)
    rate = tight_finite_key_rate(
        YUAN, eta, block_size=block_size, epsilon_sec=EPSILON, decoys=2 if decoys == 2 else 1
    ).rate_per_pulse
    assert np.all(rate >= 0)
    assert np.all(rate <= np.maximum(asymptotic_ceiling(YUAN, eta), 0.0) * (1 + 1e-9))


def test_chernoff_interval_covers_the_mean_as_often_as_promised() -> None:
    # The inequality itself (Yin et al. 2020's expected-from-observed variant of the Chernoff bound): sums of
    # independent, non-identical Bernoulli variables, as the count of one intensity among detections is.
    rng = np.random.default_rng(2024)
    failure = 0.01
    for mean_size in (3.0, 40.0, 500.0):
        probabilities = rng.uniform(0.0, 1.0, 400)
        probabilities *= mean_size / probabilities.sum()
        probabilities = np.minimum(probabilities, 1.0)
        mean = probabilities.sum()
        draws = (rng.random((20000, probabilities.size)) < probabilities).sum(axis=1)
        low, high = chernoff_interval(draws, failure)
        assert np.mean(low > mean) <= failure
        assert np.mean(high < mean) <= failure
        # ...and it is not vacuous: the interval is at most a few standard deviations wide.
        assert np.median(high - low) < 12.0 * np.sqrt(mean) + 6.0 * np.log(1 / failure)


def test_chernoff_width_follows_the_count_of_one_intensity_not_the_whole_basis() -> None:
    # The reason for the gain over Lim et al.: Hoeffding's deviation sqrt(n_X / 2 ln(21/eps)) is charged to
    # every intensity, the Chernoff deviation ~ sqrt(2 n_k ln(21/eps)) only to its own count.
    n_total, n_decoy = 1e8, 1e6
    log_term = np.log(21 / EPSILON)
    hoeffding = np.sqrt(n_total / 2 * log_term)
    low, high = chernoff_interval(n_decoy, EPSILON / 21)
    assert high - n_decoy < hoeffding / 3
    assert n_decoy - low < hoeffding / 3


def expected_counts(system: QkdSystem, distance_km: float, pulses: float) -> tuple[DecoyCounts, float]:
    intensities = np.array([0.45, 0.1, 0.0])
    probabilities = np.array([0.8, 0.1, 0.1])
    px = 0.9
    stats = expected_detection(system, fibre_transmittance(distance_km), intensities)
    n_x = pulses * probabilities * px**2 * stats.gain
    n_z = pulses * probabilities * (1 - px) ** 2 * stats.gain
    m_z = pulses * probabilities * (1 - px) ** 2 * stats.error
    qber = float(np.sum(probabilities * stats.error) / np.sum(probabilities * stats.gain))
    return DecoyCounts(intensities, probabilities, n_x, n_z, m_z), qber


def test_on_the_same_observed_counts_the_chernoff_bound_gives_the_longer_key() -> None:
    # yuan2018's own intensities and probabilities (0.45/0.1/0 sent 80/10/10 %), 10 km, 1e10 pulses: the
    # decoys hold a fifth of the detections, where Hoeffding's margin is widest.
    counts, qber = expected_counts(YUAN, 10.0, 1e10)
    leaked = 1.1 * float(binary_entropy(qber)) * counts.n_x.sum()
    lim = lim2014_key_length(counts, leaked_ec_bits=leaked, epsilon_sec=EPSILON, epsilon_cor=1e-15)
    tight = tight_key_length(counts, leaked_ec_bits=leaked, epsilon_sec=EPSILON, epsilon_cor=1e-15)
    assert float(tight.single_photon_bits) > float(lim.single_photon_bits)
    assert float(tight.phase_error) < float(lim.phase_error)
    assert float(tight.key_length_bits) > float(lim.key_length_bits) > 0


def test_too_many_errors_leave_no_key() -> None:
    counts, _ = expected_counts(YUAN, 10.0, 1e10)
    noisy = DecoyCounts(counts.intensities, counts.probabilities, counts.n_x, counts.n_z, counts.n_z * 0.3)
    leaked = float(binary_entropy(0.3)) * counts.n_x.sum()
    bound = tight_key_length(noisy, leaked_ec_bits=leaked, epsilon_sec=EPSILON, epsilon_cor=1e-15)
    # 30 % errors in every intensity: the single-photon phase error can be no better than that.
    assert float(bound.key_length_bits) <= 0
    assert float(bound.phase_error) >= 0.3


def test_one_decoy_bound_on_observed_counts_grows_with_the_data() -> None:
    # Rusca et al. 2018: signal and one decoy only; key-basis errors per intensity bound the vacuum from
    # above.
    lengths = []
    for pulses in (1e9, 1e10, 1e11):
        intensities, probabilities, px = np.array([0.5, 0.15]), np.array([0.8, 0.2]), 0.9
        stats = expected_detection(YUAN, fibre_transmittance(10.0), intensities)
        n_x = pulses * probabilities * px**2 * stats.gain
        m_x = pulses * probabilities * px**2 * stats.error
        n_z = pulses * probabilities * (1 - px) ** 2 * stats.gain
        m_z = pulses * probabilities * (1 - px) ** 2 * stats.error
        qber = float(np.sum(probabilities * stats.error) / np.sum(probabilities * stats.gain))
        counts = DecoyCounts(intensities, probabilities, n_x, n_z, m_z)
        bound = one_decoy_key_length(
            counts,
            m_x=m_x,
            leaked_ec_bits=1.1 * float(binary_entropy(qber)) * n_x.sum(),
            epsilon_sec=EPSILON,
            epsilon_cor=1e-15,
        )
        lengths.append(float(bound.key_length_bits) / pulses)
    assert 0 < lengths[0] < lengths[1] < lengths[2]


def test_one_decoy_makes_key_at_2_db_but_less_than_two_decoys_on_this_noisy_system() -> None:
    # Rusca et al. 2018 bound the single-photon phase error from the *signal* and decoy errors, so
    # multi-photon errors of the signal count against it; with yuan2018's 3 % QBER (afterpulsing) that costs
    # key. Recorded on this commit: 5.77 against 7.84 Mbit/s.
    eta = np.array([10 ** (-0.2)])
    one = tight_finite_key_rate(YUAN, eta, block_size=1e8, epsilon_sec=EPSILON, decoys=1).rate_per_pulse
    two = tight_finite_key_rate(YUAN, eta, block_size=1e8, epsilon_sec=EPSILON).rate_per_pulse
    assert 0 < float(one[0]) < float(two[0])


def test_secret_key_rate_and_the_cli_reach_the_chernoff_bound() -> None:
    from openqci.physics import get_preset, secret_key_rate

    system = get_preset("yuan2018")
    lim = secret_key_rate(system, 10.0, block_size=1e8)
    tight = secret_key_rate(system, 10.0, block_size=1e8, finite_bound="chernoff")
    assert (lim.finite_bound, tight.finite_bound) == ("lim2014", "chernoff")
    assert float(tight.secret_key_rate_bps) > 1.1 * float(lim.secret_key_rate_bps)
    assert tight.records()[0]["finite_bound"] == "chernoff"
