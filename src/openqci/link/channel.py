"""The classical channel between the two ends: an in-process one and a tampering one.

Each end keeps its own view of the conversation (what it sent and what it received, in order); the
authentication tags are computed over these views, so a message changed in transit makes the two views,
and hence the tags, differ. Messages are counted where they are sent.
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol

import numpy as np

from openqci.link.eve import ClassicalTampering

__all__ = ["ClassicalChannel", "End", "InProcessChannel", "TamperingChannel"]


class End(Enum):
    """The two ends of a link."""

    ALICE = "alice"
    BOB = "bob"


class ClassicalChannel(Protocol):
    """Carries one message from one end to the other and counts what it carried."""

    messages: int
    bytes_sent: int

    def send(self, message: bytes, sender: End) -> bytes:
        """Deliver ``message`` from ``sender``; returns what the other end receives."""
        ...


class InProcessChannel:
    """A faithful channel inside one process."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes_sent = 0

    def send(self, message: bytes, sender: End) -> bytes:
        """Deliver ``message`` unchanged."""
        self.messages += 1
        self.bytes_sent += len(message)
        return message


class TamperingChannel:
    """A channel where Eve flips one random bit of a message with some probability."""

    def __init__(self, attack: ClassicalTampering, *, rng: np.random.Generator) -> None:
        self.messages = 0
        self.bytes_sent = 0
        self.tampered = 0
        self._attack = attack
        self._rng = rng

    def send(self, message: bytes, sender: End) -> bytes:
        """Deliver ``message``, possibly with one bit flipped."""
        self.messages += 1
        self.bytes_sent += len(message)
        if not message or self._rng.random() >= self._attack.probability:
            return message
        changed = bytearray(message)
        position = int(self._rng.integers(len(changed) * 8))
        changed[position // 8] ^= 1 << (position % 8)
        self.tampered += 1
        return bytes(changed)
