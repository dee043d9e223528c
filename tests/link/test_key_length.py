"""The key length of every block, to the bit, against Lim et al.'s bound computed here from the paper.

The link's one number that must never be wrong is how much key privacy amplification outputs. For each
block this recomputes Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014) (arXiv 1311.7129), Eqs. 1-5
and the definitions of n^pm, tau_n and gamma(a, b, c, d) in its Sec. III, written out again from the
paper in plain Python (scalars, no numpy, no call into :mod:`openqci.physics.finite_key`), from the
block's observed counts and the error-correction leakage the block disclosed, and asserts

    final key bits + authentication key consumed == floor(l)

for blocks of several sizes, presets, distances and QBERs, and that no block ever outputs more.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openqci.link.channel import InProcessChannel
from openqci.link.eve import InterceptResend
from openqci.link.run import continuous_link_config
from openqci.link.session import BlockOutcome, LinkConfig, LinkSession


def _h(x: float) -> float:
    return 0.0 if x <= 0.0 or x >= 1.0 else -x * math.log2(x) - (1 - x) * math.log2(1 - x)


def lim2014_length(
    mu: list[float],
    p: list[float],
    n_x: list[float],
    n_z: list[float],
    m_z: list[float],
    leaked: float,
    eps_sec: float,
    eps_cor: float,
) -> float:
    """l of Lim et al. Eq. 1 (unfloored; -inf when no single photon is provable)."""
    ln21 = math.log(21 / eps_sec)
    tau0 = sum(pk * math.exp(-mk) for mk, pk in zip(mu, p, strict=True))
    tau1 = sum(pk * math.exp(-mk) * mk for mk, pk in zip(mu, p, strict=True))

    def bounds(counts: list[float]) -> tuple[list[float], list[float]]:
        """n^-_k and n^+_k: counts per intensity rescaled by e^mu_k / p_k, widened by Hoeffding."""
        delta = math.sqrt(sum(counts) / 2 * ln21)
        lower = [math.exp(mk) / pk * (c - delta) for mk, pk, c in zip(mu, p, counts, strict=True)]
        upper = [math.exp(mk) / pk * (c + delta) for mk, pk, c in zip(mu, p, counts, strict=True)]
        return lower, upper

    def vacuum_and_single(counts: list[float]) -> tuple[float, float]:
        (_, lo2, lo3), (up1, up2, up3) = bounds(counts)
        mu1, mu2, mu3 = mu
        s0 = tau0 * (mu2 * lo3 - mu3 * up2) / (mu2 - mu3)  # Eq. 2
        s0_kept = max(s0, 0.0)  # a lower bound of a count: never below 0
        s1 = (
            tau1
            * mu1
            * (lo2 - up3 - (mu2**2 - mu3**2) / mu1**2 * (up1 - s0_kept / tau0))
            / (mu1 * (mu2 - mu3) - mu2**2 + mu3**2)
        )  # Eq. 3
        return s0, s1

    s_x0, s_x1 = vacuum_and_single(n_x)
    _, s_z1 = vacuum_and_single(n_z)
    if s_x1 <= 0 or s_z1 <= 0:
        return -math.inf
    (_, _, m_lo3), (_, m_up2, _) = bounds(m_z)
    v_z1 = tau1 * (m_up2 - m_lo3) / (mu[1] - mu[2])  # Eq. 4
    b = min(max(v_z1 / s_z1, 0.0), 0.5)
    c, d = s_z1, s_x1
    gamma = math.sqrt(
        (c + d) * (1 - b) * b / (c * d * math.log(2))
        * math.log2((c + d) / (c * d * (1 - b) * b) * 21**2 / eps_sec**2)
    ) if 0 < b < 1 else 0.0  # fmt: skip
    phase = min(max(b + gamma, 0.0), 0.5)  # Eq. 5
    return (
        max(s_x0, 0.0)
        + s_x1 * (1 - _h(phase))
        - leaked
        - 6 * math.log2(21 / eps_sec)
        - math.log2(2 / eps_cor)
    )  # Eq. 1


def _block(preset: str, distance_km: float, block_bits: int, fraction: float, seed: int) -> BlockOutcome:
    """One block at the finite-key-optimal settings for its size (as the network's engine runs it)."""
    config = continuous_link_config(preset, distance_km, link_id="test", block_bits=block_bits)
    attack = InterceptResend(fraction) if fraction > 0 else None
    session = LinkSession(config, channel=InProcessChannel(), rng=np.random.default_rng(seed), attack=attack)
    return session.run_block()


def _bound_of(outcome: BlockOutcome) -> float:
    assert outcome.estimate is not None
    counts = outcome.estimate.counts
    return lim2014_length(
        [float(x) for x in counts.intensities],
        [float(x) for x in counts.probabilities],
        [float(x) for x in counts.n_x],
        [float(x) for x in counts.n_z],
        [float(x) for x in counts.m_z],
        float(outcome.leaked_ec_bits),
        LinkConfig.epsilon_sec,
        LinkConfig.epsilon_cor,
    )


@pytest.mark.parametrize(
    ("preset", "distance_km", "block_bits", "fraction"),
    [
        ("lim2014", 5.0, 1 << 16, 0.0),
        ("lim2014", 25.0, 1 << 18, 0.0),
        ("lim2014", 50.0, 1 << 20, 0.0),
        ("lim2014", 10.0, 1 << 20, 0.08),
        ("yuan2018", 15.0, 1 << 19, 0.0),
        ("gys2004", 10.0, 1 << 17, 0.0),
    ],
)
def test_the_key_plus_authentication_is_the_bound_to_the_bit(
    preset: str, distance_km: float, block_bits: int, fraction: float
) -> None:
    outcome = _block(preset, distance_km, block_bits, fraction, seed=11)
    assert outcome.keys is not None, outcome.abort_reason
    assert outcome.keys_identical
    assert sum(int(x) for x in outcome.estimate.counts.n_x) == outcome.sifted_bits  # type: ignore[union-attr]
    assert outcome.final_key_bits + outcome.auth_key_consumed_bits == math.floor(_bound_of(outcome))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    distance_km=st.floats(1.0, 80.0),
    block_exponent=st.integers(14, 18),
    fraction=st.sampled_from([0.0, 0.0, 0.05, 0.15]),
    seed=st.integers(0, 2**32 - 1),
)
def test_no_block_outputs_more_than_the_bound(
    distance_km: float, block_exponent: int, fraction: float, seed: int
) -> None:
    outcome = _block("lim2014", distance_km, 1 << block_exponent, fraction, seed)
    if outcome.keys is None:  # an aborted block outputs nothing, which the bound allows
        assert outcome.final_key_bits == 0
        return
    assert outcome.final_key_bits + outcome.auth_key_consumed_bits <= math.floor(_bound_of(outcome))
