"""The contract every layer shares: the KeyBlock a link delivers and the KeySource that produces it.

A link that can prove a block secure delivers the same KeyBlock to both ends (same ``block_id``, same
bits); a block it cannot prove secure is never delivered. The link engine, the rate model of large
networks, a QKD device speaking ETSI GS QKD 014 and a folder of key files are interchangeable producers
behind :class:`KeySource`, so the key management layer never learns which one feeds it. This module sits
on the package's ground floor and imports the standard library only: a KME, the scenario model or a
device driver can load it without the numerics of the link engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["KeyBlock", "KeySource", "SourceState"]


@dataclass(frozen=True)
class KeyBlock:
    """A block of final secret key shared by the two ends of a link.

    Attributes
    ----------
    link_id
        The link that made the block (the scenario's link name).
    block_id
        UUID of the block, identical at both ends; key IDs of the units cut from it derive from it.
    bits
        The key, packed eight bits per byte (numpy ``packbits`` order, most significant bit first).
    size_bits
        Number of valid key bits in ``bits`` (the last byte may be partly padding).
    qber
        The QBER estimated for the block.
    epsilon
        The security parameter the block was made under (its distance from an ideal key).
    created_at
        When the block was completed (UTC).
    """

    link_id: str
    block_id: uuid.UUID
    bits: bytes
    size_bits: int
    qber: float
    epsilon: float
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.size_bits < 0 or self.size_bits > 8 * len(self.bits):
            raise ValueError(f"size_bits {self.size_bits} does not fit in {len(self.bits)} bytes")
        if not 0.0 <= self.qber <= 0.5:
            raise ValueError(f"qber must lie in [0, 0.5], got {self.qber}")
        if not 0.0 < self.epsilon < 1.0:
            raise ValueError(f"epsilon must lie in (0, 1), got {self.epsilon}")

    def __repr__(self) -> str:
        # Key material never appears in logs or tracebacks.
        return (
            f"KeyBlock(link_id={self.link_id!r}, block_id={self.block_id}, size_bits={self.size_bits}, "
            f"qber={self.qber:.4f}, epsilon={self.epsilon:.1e})"
        )


@dataclass(frozen=True)
class SourceState:
    """What a key source reports about its link (the quantities of ETSI GS QKD 015 it can know).

    Attributes
    ----------
    up
        Whether the link makes key now (a cut fibre, an unreachable device or an aborting link is down).
    qber
        The QBER of the latest block or measurement (0.5 when unknown).
    skr_bps
        Secret key rate: key the link makes per second.
    eskr_bps
        Effective secret key rate: key per second actually handed to the KME.
    blocks
        Blocks delivered so far.
    reason
        Why the link is down, in words for an operator ("" when up).
    """

    up: bool
    qber: float
    skr_bps: float
    eskr_bps: float
    blocks: int = 0
    reason: str = ""


@runtime_checkable
class KeySource(Protocol):
    """A producer of KeyBlocks for one end of one link.

    ``blocks_due`` may block (a device call, a file read) and is therefore called off the event loop; it
    returns each block once, in order, and never one the link could not prove secure.
    """

    @property
    def link_id(self) -> str:
        """The link whose blocks this source produces."""
        ...

    def blocks_due(self, now_s: float) -> Sequence[KeyBlock]:
        """The blocks completed by ``now_s`` (Unix seconds) that this source has not returned yet."""
        ...

    def state(self) -> SourceState:
        """The link's current state as this source sees it."""
        ...
