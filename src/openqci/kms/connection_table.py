"""The connections a server holds, and which one gives way when a cap is reached.

Every connection is counted from its TCP accept until it closes, and is always in one :class:`Phase`.
A connection with no request in progress (in its TLS handshake, idle between requests, still sending its
request head or body, or closing) is *evictable*: it costs the server a socket and nothing else, and
the client loses at most a request it had not finished sending. When a new connection would pass
``max_connections``, the evictable connection that entered its phase longest ago is closed to make
room, as nginx reuses idle keep-alive connections when it runs out of them. So clients that open
connections and never use them, send headers a byte at a time, or never complete a handshake cannot
lock a legitimate client out: the newcomer takes the oldest such slot at once. Only when every
connection is busy answering a request is a newcomer refused.

``max_per_certificate`` bounds what one client certificate holds after its handshake: past it, that
certificate's own oldest evictable connection gives way, or the new one is refused.
"""

from __future__ import annotations

import enum
from collections import Counter
from typing import Protocol

__all__ = ["ConnectionTable", "Phase", "TableEntry"]


class Phase(enum.Enum):
    """Where a connection stands; every phase but ``BUSY`` may be evicted."""

    HANDSHAKE = "handshake"
    IDLE = "idle"
    HEAD = "head"
    BODY = "body"
    BUSY = "busy"
    CLOSING = "closing"


class TableEntry(Protocol):
    """What the table needs of a connection: a way to drop it at once."""

    def evict(self, reason: str) -> None:
        """Close the connection now (without waiting for the peer); ``reason`` is for the log."""


class ConnectionTable:
    """Counts one server's connections, by phase and by client certificate, and picks what to evict."""

    def __init__(self, max_connections: int, max_per_certificate: int) -> None:
        if max_connections < 1 or max_per_certificate < 1:
            raise ValueError("connection caps must be at least 1")
        self.max_connections = max_connections
        self.max_per_certificate = max_per_certificate
        self._phases: dict[TableEntry, Phase] = {}
        self._evictable: dict[TableEntry, None] = {}  # insertion order = time the phase was entered
        self._certificate: dict[TableEntry, bytes] = {}
        self._per_certificate: Counter[bytes] = Counter()

    def __len__(self) -> int:
        return len(self._phases)

    def __contains__(self, entry: object) -> bool:
        return entry in self._phases

    def admit(self, entry: TableEntry, phase: Phase) -> bool:
        """Count a new connection, evicting the oldest evictable one at the cap; False: refuse it."""
        if len(self._phases) >= self.max_connections:
            victim = next(iter(self._evictable), None)
            if victim is None:
                return False
            self.forget(victim)
            victim.evict(
                f"max_connections ({self.max_connections}) reached, a newer connection took its place"
            )
        self._phases[entry] = phase
        self.enter(entry, phase)
        return True

    def identify(self, entry: TableEntry, certificate: bytes) -> bool:
        """Record the certificate fingerprint of ``entry``; False when that certificate holds its cap."""
        if entry not in self._phases:
            return False
        if self._per_certificate[certificate] >= self.max_per_certificate:
            victim = next((e for e in self._evictable if self._certificate.get(e) == certificate), None)
            if victim is None:
                return False
            self.forget(victim)
            victim.evict(
                f"max_connections_per_certificate ({self.max_per_certificate}) reached for its certificate"
            )
        self._certificate[entry] = certificate
        self._per_certificate[certificate] += 1
        return True

    def enter(self, entry: TableEntry, phase: Phase) -> None:
        """Move ``entry`` to ``phase``; it counts as the newest in that phase."""
        if entry not in self._phases:
            return
        self._phases[entry] = phase
        self._evictable.pop(entry, None)
        if phase is not Phase.BUSY:
            self._evictable[entry] = None

    def phase(self, entry: TableEntry) -> Phase | None:
        """The phase of ``entry``; None once it is forgotten."""
        return self._phases.get(entry)

    def forget(self, entry: TableEntry) -> None:
        """Stop counting ``entry`` (it closed, or is being evicted)."""
        if self._phases.pop(entry, None) is None:
            return
        self._evictable.pop(entry, None)
        certificate = self._certificate.pop(entry, None)
        if certificate is not None:
            self._per_certificate[certificate] -= 1
            if not self._per_certificate[certificate]:
                del self._per_certificate[certificate]

    def count(self, phase: Phase | None = None) -> int:
        """How many connections are held (in ``phase``, when given)."""
        if phase is None:
            return len(self._phases)
        return sum(1 for p in self._phases.values() if p is phase)
