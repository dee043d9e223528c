"""The KeyBlock: what a QKD link hands to the key management layer at each of its ends.

A link that can prove a block secure delivers the same KeyBlock to both ends (same ``block_id``, same
bits); a block it cannot prove secure is never delivered. A real QKD device driver is just another
producer of KeyBlocks, which is why the key management layer imports nothing else from :mod:`openqci.link`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

__all__ = ["KeyBlock"]


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
