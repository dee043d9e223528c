"""Quantum-layer campaign: eavesdroppers on a simulated link, each caught with no key from its blocks.

Runs :class:`openqci.link.session.LinkSession` (the link that makes real key bits) on the lim2014 system
at 10 km with the eavesdroppers of :mod:`openqci.link.eve`: intercept-resend on several fractions of the
pulses, photon-number splitting (decoy states reveal it), and tampering with the classical channel
(authentication reveals it). A block attacked and still releasing key is a violation. An honest block at
the same settings is the control: it must make key, identical at both ends, or the campaign proves nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from openqci.link.cascade import Cascade
from openqci.link.channel import ClassicalChannel, InProcessChannel, TamperingChannel
from openqci.link.eve import ClassicalTampering, InterceptResend, PhotonNumberSplitting
from openqci.link.photons import QuantumAttack
from openqci.link.session import BlockOutcome, LinkConfig, LinkSession
from openqci.physics.channels import fibre_transmittance
from openqci.physics.presets import get_preset
from reliability.outcome import Clock, Outcome

__all__ = ["FRACTIONS", "run_quantum"]

FRACTIONS = (0.25, 0.5, 0.75, 1.0)
"""Intercept-resend fractions: QBER rises by about a quarter of each, past what privacy amplification pays."""


def _session(
    distance_km: float,
    block_bits: int,
    rng: np.random.Generator,
    *,
    attack: QuantumAttack | None = None,
    channel: ClassicalChannel | None = None,
) -> LinkSession:
    system = get_preset("lim2014")
    eta = float(fibre_transmittance(distance_km, system.fibre_attenuation_db_per_km))
    config = LinkConfig(system, eta, Cascade(), block_bits=block_bits)
    return LinkSession(config, channel=channel or InProcessChannel(), rng=rng, attack=attack)


def run_quantum(*, blocks: int, budget_s: float, seed: int, control: bool = True) -> Outcome:
    """Run ``blocks`` blocks under each eavesdropper (and one honest control block)."""
    outcome = Outcome("quantum layer: eavesdroppers on a link")
    clock = Clock(budget_s)
    rng = np.random.default_rng(seed)
    streams = iter(rng.spawn(64))
    if control:
        _control(outcome, next(streams))
    for fraction in FRACTIONS:
        session = _session(10.0, 1 << 20, next(streams), attack=InterceptResend(fraction))
        _attacked(outcome, session.stream(blocks, overlap=False), f"intercept-resend {fraction:g}", clock)
    for distance_km in (10.0, 60.0):
        session = _session(distance_km, 1 << 18, next(streams), attack=PhotonNumberSplitting())
        _attacked(outcome, session.stream(blocks, overlap=False), f"pns {distance_km:g} km", clock)
    channel = TamperingChannel(ClassicalTampering(0.5), rng=next(streams))
    session = _session(10.0, 1 << 16, next(streams), channel=channel)
    _tampered(outcome, session, channel, blocks, clock)
    outcome.duration_s = clock.elapsed()
    return outcome


def _control(outcome: Outcome, rng: np.random.Generator) -> None:
    block = _session(10.0, 1 << 20, rng).run_block()
    outcome.requests += 1
    if block.keys is None:
        outcome.notes.append(f"the honest control block made no key ({block.abort_reason})")
    elif not block.keys_identical:
        outcome.violate("an honest block gave the two ends different keys")
    else:
        outcome.notes.append(f"honest control block: {block.final_key_bits} key bits, QBER {block.qber:.3f}")


def _attacked(outcome: Outcome, blocks: object, label: str, clock: Clock) -> None:
    for block in blocks:  # type: ignore[attr-defined]
        _judge(outcome, block, label)
        if clock.left() < 0:
            break


def _judge(outcome: Outcome, block: BlockOutcome, label: str) -> None:
    outcome.faults += 1
    outcome.requests += 1
    if block.keys is not None or block.final_key_bits:
        outcome.violate(f"{label}: an attacked block released key")
    else:
        reason = block.abort_reason.value if block.abort_reason else "none"
        outcome.errors[f"{label}: {reason}"] += 1


def _tampered(
    outcome: Outcome, session: LinkSession, channel: TamperingChannel, blocks: int, clock: Clock
) -> None:
    seen = 0
    stream: Callable[[], object] = lambda: session.stream(blocks + 2, overlap=False)  # noqa: E731
    for block in stream():  # type: ignore[attr-defined]
        tampered, seen = channel.tampered - seen, channel.tampered
        if tampered:
            _judge(outcome, block, "classical tampering")
        if clock.left() < 0:
            break
