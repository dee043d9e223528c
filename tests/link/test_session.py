"""Whole link: identical keys whenever key is made, eavesdroppers caught, the rate near the model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import openqci.link as link
from openqci.link.cascade import CASCADE_VARIANTS, DEFAULT_CASCADE_VARIANT, Cascade
from openqci.link.channel import InProcessChannel, TamperingChannel
from openqci.link.errors import InvalidLinkParameterError
from openqci.link.eve import ClassicalTampering, InterceptResend, PhotonNumberSplitting
from openqci.link.session import AbortReason, LinkConfig, LinkSession
from openqci.physics.channels import fibre_transmittance
from openqci.physics.presets import get_preset


def _session(preset: str, distance_km: float, rng: np.random.Generator, **options: object) -> LinkSession:
    system = get_preset(preset)
    eta = float(fibre_transmittance(distance_km, system.fibre_attenuation_db_per_km))
    attack = options.pop("attack", None)
    channel = options.pop("channel", InProcessChannel())
    config = LinkConfig(system, eta, Cascade(), **options)  # type: ignore[arg-type]
    return LinkSession(config, channel=channel, rng=rng, attack=attack)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("preset", "distance_km"), [("lim2014", 5.0), ("lim2014", 60.0), ("lim2014", 25.0)])
def test_keys_identical_whenever_produced(preset: str, distance_km: float, seed: int) -> None:
    session = _session(preset, distance_km, np.random.default_rng(seed), block_bits=1 << 20)
    outcome = session.run_block()
    assert outcome.abort_reason is None, outcome.abort_reason
    assert outcome.keys is not None
    assert outcome.keys_identical
    alice, bob = outcome.keys
    assert alice.block_id == bob.block_id
    assert alice.size_bits == outcome.final_key_bits > 0
    assert outcome.final_key_bits + outcome.auth_key_consumed_bits <= outcome.sifted_bits


def test_authentication_key_is_replenished(rng: np.random.Generator) -> None:
    session = _session("lim2014", 10.0, rng, block_bits=1 << 20, auth_key_bits=400)
    for outcome in session.stream(3):
        assert outcome.keys_identical
    pool = session.pools[link.End.ALICE]
    assert pool.replenished_bits == pool.consumed_bits
    assert pool.size == 400


@pytest.mark.parametrize("fraction", [0.3, 0.6])
def test_intercept_resend_is_caught(fraction: float, rng: np.random.Generator) -> None:
    outcome = _session("lim2014", 10.0, rng, block_bits=1 << 18, attack=InterceptResend(fraction)).run_block()
    expected = AbortReason.NO_SECRET_KEY if fraction < 0.4 else AbortReason.QBER_ABOVE_THRESHOLD
    assert outcome.abort_reason is expected
    assert outcome.keys is None


def test_full_intercept_resend_exceeds_qber_threshold(rng: np.random.Generator) -> None:
    outcome = _session("lim2014", 10.0, rng, block_bits=1 << 19, attack=InterceptResend(1.0)).run_block()
    assert outcome.abort_reason is AbortReason.QBER_ABOVE_THRESHOLD
    assert outcome.qber_z > 0.2


@pytest.mark.parametrize("distance_km", [10.0, 60.0])
def test_photon_number_splitting_is_caught_by_decoys(distance_km: float, rng: np.random.Generator) -> None:
    outcome = _session(
        "lim2014", distance_km, rng, block_bits=1 << 18, attack=PhotonNumberSplitting()
    ).run_block()
    assert outcome.abort_reason is AbortReason.DECOY_BOUNDS_INCONSISTENT
    assert outcome.keys is None


def test_tampering_is_caught_by_authentication(rng: np.random.Generator) -> None:
    channel_rng, session_rng = rng.spawn(2)
    channel = TamperingChannel(ClassicalTampering(0.5), rng=channel_rng)
    session = _session("lim2014", 10.0, session_rng, block_bits=1 << 16, channel=channel)
    seen = 0
    for outcome in session.stream(4):
        # Messages are sent only while a block is processed, so the count's change is this block's.
        tampered, seen = channel.tampered - seen, channel.tampered
        if tampered:
            assert outcome.abort_reason is AbortReason.AUTHENTICATION_FAILURE
            assert outcome.keys is None
    assert channel.tampered >= 2


def test_honest_link_at_attack_settings_makes_key(rng: np.random.Generator) -> None:
    outcome = _session("lim2014", 10.0, rng, block_bits=1 << 20).run_block()
    assert outcome.abort_reason is None
    assert outcome.keys_identical


def test_exhausted_authentication_key_stops_the_link(rng: np.random.Generator) -> None:
    outcome = _session("lim2014", 10.0, rng, block_bits=1 << 14, auth_key_bits=100).run_block()
    assert outcome.abort_reason is AbortReason.AUTHENTICATION_KEY_EXHAUSTED


def test_config_refuses_two_intensity_sources() -> None:
    from dataclasses import replace

    system = get_preset("lim2014")
    two = replace(system, source=replace(system.source, intensities=(0.5, 0.1), probabilities=(0.5, 0.5)))
    with pytest.raises(InvalidLinkParameterError):
        LinkConfig(two, 0.5, Cascade())


def test_overlapped_stream_equals_blocks_in_turn() -> None:
    runs = []
    for overlap in (True, False):
        session = _session("lim2014", 10.0, np.random.default_rng(7), block_bits=1 << 19)
        runs.append([o.keys[0].bits for o in session.stream(3, overlap=overlap) if o.keys is not None])
    assert len(runs[0]) == 3
    assert runs[0] == runs[1]


@pytest.mark.slow
@pytest.mark.parametrize("passes", [5, 14])
def test_honest_blocks_pass_verification(passes: int) -> None:
    # N = 48 blocks of 2^20 sifted bits (8 frames of 2^17 each, 384 frames) over 6 seeds at 10 km,
    # QBER 2.4 %: zero verification mismatches. Without confirmation parities 14 passes leave errors
    # in about 2e-4 of the frames, and 5 passes in about 10 % (most blocks would fail).
    variant = replace(CASCADE_VARIANTS[DEFAULT_CASCADE_VARIANT], passes=passes)
    mismatches = blocks = 0
    for seed in range(6):
        session = _session("lim2014", 10.0, np.random.default_rng(seed), block_bits=1 << 20)
        session = LinkSession(
            replace(session.config, reconciler=Cascade(variant)),
            channel=InProcessChannel(),
            rng=np.random.default_rng(100 + seed),
        )
        for outcome in session.stream(8):
            blocks += 1
            mismatches += outcome.abort_reason is AbortReason.VERIFICATION_MISMATCH
            assert outcome.abort_reason is not None or outcome.keys_identical
    assert (mismatches, blocks) == (0, 48)
