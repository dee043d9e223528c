"""The link key-supply simulator: KeyBlocks for both ends of a fibre link, at the rate physics predicts.

This models key *supply*, not the QKD protocol. Each link makes key at the asymptotic secret key rate of its
preset, protocol and length (:func:`openqci.physics.secret_key_rate`), times the launcher's speedup, and
hands the same KeyBlocks to the KMEs at both of its ends. The full chain that turns detections into key
(sifting, estimation, reconciliation, privacy amplification, authentication) lives in :mod:`openqci.link`
and is exercised on its own; running it for every link of a national network would need far more than a
laptop.

Both ends run in different processes and must hand their KMEs identical blocks without talking to each
other. So every block is a pure function of the link's plan, a per-link secret seed and the block index:

- block ``n`` falls due at ``epoch_s + (n + 1) * tick_s``; its size is the key made during that tick, in
  whole KME units (the rate is capped by ``intake_cap_bps``, the most a simulated KME takes in);
- its bits are AES-256-CTR keystream under a key derived (HKDF-SHA256) from the seed, with ``n`` as the
  counter block, and its UUID comes from an HMAC of ``n`` under another derived key. The seed comes from
  ``os.urandom`` and is kept in a file of mode 0600; no seeded generator touches key material;
- the quantum channel's conditions (an eavesdropper, a cut fibre) change at a block index, never at a
  time, so both ends agree on which blocks the change affects (:class:`ChannelEvent`).

An intercept-resend eavesdropper on a fraction ``f`` of the pulses adds about ``f/4`` to the QBER. The key
rate under attack is the physics rate with ``f/4`` added to the misalignment error; a block whose QBER is
above the post-processing threshold (11 %, as in :class:`openqci.link.session.SessionConfig`) or whose
rate is zero is never delivered, since a link that cannot prove a block secure delivers nothing for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openqci.keysource import KeyBlock
from openqci.physics.devices import QkdSystem
from openqci.physics.keyrate import Protocol, secret_key_rate
from openqci.physics.presets import get_preset
from openqci.scenario import DeviceSettings, FibreLink, Scenario
from openqci.scenario.devices import link_system

__all__ = [
    "ABORT_QBER",
    "ChannelConditions",
    "ChannelEvent",
    "LinkKeyStream",
    "LinkPlan",
    "block_units",
    "conditions_at",
    "link_physics",
    "make_block",
    "plan_link",
    "plan_system",
]

ABORT_QBER = 0.11
"""QBER above which post-processing drops a block (the default of the link engine's sessions)."""

SEED_BYTES = 32


@dataclass(frozen=True)
class LinkPlan:
    """What both ends of a link need to make the same blocks (written once by the launcher)."""

    link: str
    site_a: str
    site_b: str
    preset: str
    protocol: str
    length_km: float
    speedup: float
    intake_cap_bps: float
    tick_s: float
    epoch_s: float
    unit_bits: int
    epsilon: float = 1e-10
    source: str = "model"
    """``model`` (blocks made at both ends from the seed) or ``engine`` (blocks pushed by the engine)."""
    first_block: int = 0
    """The first block both ends hand over: 0 at launch, past the downtime when a network resumes."""
    folders: dict[str, str] = field(default_factory=dict)
    """For ``files`` links: each end's folder of key files, by KME."""
    device: dict[str, Any] | None = None
    """The link's own device settings (the scenario's ``device:``), replacing the preset's values."""
    loss_db: float | None = None
    """The link's measured span loss, replacing length times attenuation."""

    def blocks_due(self, now_s: float) -> int:
        """How many blocks have fallen due by ``now_s`` (block ``n`` is due at the end of tick ``n``)."""
        return max(0, math.floor((now_s - self.epoch_s) / self.tick_s))

    def due_at_s(self, index: int) -> float:
        """When block ``index`` falls due."""
        return self.epoch_s + (index + 1) * self.tick_s


@dataclass(frozen=True)
class ChannelEvent:
    """From block ``from_block`` on, an eavesdropper on a fraction of the pulses, or a cut fibre."""

    from_block: int
    intercept_resend: float = 0.0
    cut: bool = False


@dataclass(frozen=True)
class ChannelConditions:
    """The quantum channel of one block: the link's key rate and QBER under its current conditions."""

    skr_bps: float
    qber: float
    up: bool


def plan_link(
    scenario: Scenario,
    link: FibreLink,
    *,
    speedup: float,
    intake_cap_bps: float,
    tick_s: float,
    epoch_s: float,
    unit_bits: int,
) -> LinkPlan:
    """The plan of ``link`` in ``scenario``."""
    return LinkPlan(
        link.name,
        link.site_a,
        link.site_b,
        link.preset,
        str(link.protocol),
        scenario.link_length_km(link),
        speedup,
        intake_cap_bps,
        tick_s,
        epoch_s,
        unit_bits,
        source=str(link.source),
        device=None if link.device is None else link.device.model_dump(exclude_none=True),
        loss_db=link.loss_db,
    )


def plan_system(plan: LinkPlan) -> QkdSystem:
    """The QKD system a planned link runs: its preset, with its own devices and measured loss."""
    if plan.device is None and plan.loss_db is None:
        return get_preset(plan.preset)
    device = json.dumps(plan.device, sort_keys=True) if plan.device is not None else None
    return _system(plan.preset, device, plan.length_km, plan.loss_db)


@lru_cache(maxsize=1024)
def _system(preset: str, device: str | None, length_km: float, loss_db: float | None) -> QkdSystem:
    settings = None if device is None else DeviceSettings.model_validate(json.loads(device))
    return link_system(preset, settings, length_km=length_km, loss_db=loss_db)


_UNTRUSTED_MIDDLE = ("tf-qkd", "mdi-qkd")
"""Protocols whose models are in :mod:`openqci.physics.catalogue` (an untrusted node in the middle)."""


@lru_cache(maxsize=4096)
def link_physics(
    preset: str | QkdSystem, protocol: str, length_km: float, intercept_resend: float
) -> tuple[float, float]:
    """Secret key rate (bit/s, before speedup) and QBER of a link with an eavesdropper on a fraction.

    ``preset`` is a preset's name or the link's own system (:func:`plan_system`).

    Examples
    --------
    >>> rate, qber = link_physics("yuan2018", "decoy-bb84", 25.0, 0.0)
    >>> round(rate / 1e6, 2), round(qber, 4)
    (6.15, 0.0308)
    >>> link_physics("yuan2018", "decoy-bb84", 25.0, 0.3)[0]
    0.0
    """
    if protocol in _UNTRUSTED_MIDDLE:
        from openqci.physics.catalogue import attacked_link_rate

        assert isinstance(preset, str)  # these links name a preset and have no device settings
        return attacked_link_rate(protocol, preset, length_km, intercept_resend)
    system = get_preset(preset) if isinstance(preset, str) else preset
    added = intercept_resend / 4.0
    baseline = secret_key_rate(system, length_km, protocol=Protocol(protocol))
    qber = min(0.5, float(baseline.qber) + added)
    if added == 0.0:
        return float(baseline.secret_key_rate_bps), qber
    attacked = replace(system, misalignment=min(0.5, system.misalignment + added))
    result = secret_key_rate(attacked, length_km, protocol=Protocol(protocol))
    return max(0.0, float(result.secret_key_rate_bps)), qber


def conditions_at(plan: LinkPlan, events: Sequence[ChannelEvent], index: int) -> ChannelConditions:
    """The channel of block ``index``: the last event at or before it decides (none: a quiet fibre)."""
    current = ChannelEvent(0)
    for event in events:
        if event.from_block <= index and event.from_block >= current.from_block:
            current = event
    if current.cut:
        return ChannelConditions(0.0, 0.5, up=False)
    own = plan.device is not None or plan.loss_db is not None
    system = plan_system(plan) if own else plan.preset  # a name hashes faster in link_physics' cache
    rate_bps, qber = link_physics(system, plan.protocol, plan.length_km, current.intercept_resend)
    if qber > ABORT_QBER:
        rate_bps = 0.0
    return ChannelConditions(rate_bps * plan.speedup, qber, up=True)


def block_units(plan: LinkPlan, conditions: ChannelConditions, index: int) -> int:
    """Whole KME units in block ``index``: key made during its tick, at the rate the KMEs take in.

    The count is the difference of two floors, so a slow link delivers a unit every few ticks and the
    long-run rate is exact.
    """
    rate_bps = min(conditions.skr_bps, plan.intake_cap_bps)
    per_tick_units = rate_bps * plan.tick_s / plan.unit_bits
    return math.floor(per_tick_units * (index + 1)) - math.floor(per_tick_units * index)


class LinkKeyStream:
    """The key material of one link: AES-256-CTR keystream and block UUIDs derived from its secret seed."""

    def __init__(self, seed: bytes, link: str) -> None:
        if len(seed) != SEED_BYTES:
            raise ValueError(f"a link seed has {SEED_BYTES} bytes, got {len(seed)}")
        self._stream_key = _derive(seed, f"openqci link key stream/{link}")
        self._id_key = _derive(seed, f"openqci link block ids/{link}")

    def bits(self, index: int, size_bytes: int) -> bytes:
        """Key bytes of block ``index`` (the counter block starts at ``index`` in its high 64 bits)."""
        nonce = index.to_bytes(8, "big") + bytes(8)
        encryptor = Cipher(algorithms.AES(self._stream_key), modes.CTR(nonce)).encryptor()
        return encryptor.update(bytes(size_bytes)) + encryptor.finalize()

    def block_id(self, index: int) -> uuid.UUID:
        """UUID (version 4 layout) of block ``index``, the same at both ends."""
        digest = hmac.new(self._id_key, index.to_bytes(8, "big"), hashlib.sha256).digest()
        return uuid.UUID(bytes=digest[:16], version=4)

    def __repr__(self) -> str:
        return "LinkKeyStream(<secret>)"


def make_block(
    plan: LinkPlan, stream: LinkKeyStream, conditions: ChannelConditions, index: int
) -> KeyBlock | None:
    """Block ``index`` of the link, or ``None`` when the tick made no whole unit of provably secret key."""
    units = block_units(plan, conditions, index) if conditions.up else 0
    if units <= 0:
        return None
    size_bits = units * plan.unit_bits
    return KeyBlock(
        link_id=plan.link,
        block_id=stream.block_id(index),
        bits=stream.bits(index, size_bits // 8),
        size_bits=size_bits,
        qber=conditions.qber,
        epsilon=plan.epsilon,
        created_at=datetime.fromtimestamp(plan.due_at_s(index), UTC),
    )


def _derive(seed: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(seed)
