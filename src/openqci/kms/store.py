"""The key store interface: what the KME asks of a durable store of key units.

Two implementations share one SQL core (:mod:`openqci.kms.sqlstore`): SQLite, the embedded default, and
PostgreSQL. The same test suite runs against both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from openqci.keysource import KeyBlock
from openqci.kms.records import DeliveredKey, PruneReport, Reservation

__all__ = ["KeyStore"]


class KeyStore(Protocol):
    """A durable pool of key units per link, with atomic state transitions.

    A crash at any point leaves every unit in exactly one state; no method can hand the same unit out twice.
    """

    def group(self) -> AbstractContextManager[None]:
        """Make the calls of this thread inside the block savepoints of one transaction, committed at its end.

        A call that raises rolls back only its own savepoint; nothing is durable before the block ends.
        """
        ...

    def add_block(
        self, block: KeyBlock, *, unit_bits: int, parity: int, max_free_units: int | None = None
    ) -> int:
        """Cut ``block`` into units and store them; units whose index has ``parity`` are ours to allocate.

        Adding the same block again adds nothing. Returns the number of units added. With
        ``max_free_units``, a new block is refused with PoolFullError while the link's free units (both
        halves) reach it: the link end is full and its source must hold the block.
        """
        ...

    def available_units(self, link_id: str) -> int:
        """Return how many units of ``link_id`` this end may still allocate (O(1): a counter)."""
        ...

    def free_units(self, link_id: str) -> int:
        """Return the free units of ``link_id``, both halves (O(1): a counter)."""
        ...

    def key_counts(self, link_id: str) -> tuple[int, int]:
        """Return the units of ``link_id`` stored so far (both halves) and how many were consumed (O(1))."""
        ...

    def prune(self, *, now_s: float, retention_s: float, key_expiry_s: float, batch_rows: int) -> PruneReport:
        """Expire unused slave-side keys and delete rows past retention, at most ``batch_rows`` per table."""
        ...

    def deliver(
        self,
        *,
        request_id: uuid.UUID,
        link_id: str,
        master_sae: str,
        slave_saes: Sequence[str],
        number: int,
        size_bits: int,
        unit_bits: int,
    ) -> tuple[Reservation, list[DeliveredKey]]:
        """Master side, one transaction: take units for ``number`` keys, read and wipe them, queue the record.

        Raises KeyShortageError, changing nothing, when the pool is short.
        """
        ...

    def pending(self, link_id: str, limit: int) -> list[Reservation]:
        """Return delivery records of ``link_id`` not yet confirmed by the peer, oldest first."""
        ...

    def outbox(self, link_id: str, limit: int) -> list[bytes]:
        """Return the same records as :meth:`pending`, each as the JSON a peer KME receives."""
        ...

    def confirm(self, request_ids: Sequence[uuid.UUID]) -> None:
        """Forget delivery records the peer now holds durably."""
        ...

    def lookup(self, link_id: str, key_ids: Sequence[uuid.UUID]) -> list[Reservation]:
        """Return the master-side delivery records on ``link_id`` holding any of ``key_ids``."""
        ...

    def accept(self, reservation: Reservation) -> None:
        """Bind the peer's delivery record to our copies of its units (slave side); idempotent per request."""
        ...

    def awaiting(self, key_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """Return the key_IDs that are free units allocated by the peer: possibly delivered, not yet told."""
        ...

    def take(self, key_ids: Sequence[uuid.UUID], *, master_sae: str, caller: str) -> list[DeliveredKey]:
        """Deliver keys to a slave SAE, all or none, each key at most once per slave."""
        ...

    def close(self) -> None:
        """Release the database connection."""
        ...
