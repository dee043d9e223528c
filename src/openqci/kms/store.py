"""The key store interface: what the KME asks of a durable store of key units.

Two implementations share one SQL core (:mod:`openqci.kms.sqlstore`): SQLite, the embedded default, and
PostgreSQL. The same test suite runs against both.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Protocol

from openqci.kms.records import DeliveredKey, Reservation
from openqci.link.keyblock import KeyBlock

__all__ = ["KeyStore"]


class KeyStore(Protocol):
    """A durable pool of key units per link, with atomic state transitions.

    A crash at any point leaves every unit in exactly one state; no method can hand the same unit out twice.
    """

    def add_block(self, block: KeyBlock, *, unit_bits: int, parity: int) -> int:
        """Cut ``block`` into units and store them; units whose index has ``parity`` are ours to allocate.

        Adding the same block again adds nothing. Returns the number of units added.
        """
        ...

    def available_units(self, link_id: str) -> int:
        """Return how many units of ``link_id`` this end may still allocate."""
        ...

    def reserve(
        self,
        *,
        request_id: uuid.UUID,
        link_id: str,
        master_sae: str,
        slave_saes: Sequence[str],
        number: int,
        size_bits: int,
        unit_bits: int,
    ) -> Reservation:
        """Reserve units for ``number`` keys of ``size_bits`` (master side); KeyShortageError if short."""
        ...

    def accept(self, reservation: Reservation) -> None:
        """Bind the peer's reservation to our copies of its units (slave side); idempotent per request."""
        ...

    def deliver_to_master(self, request_id: uuid.UUID) -> list[DeliveredKey]:
        """Return the keys of a reserved request and wipe them here: the master SAE now holds them."""
        ...

    def abandon(self, request_id: uuid.UUID) -> int:
        """Wipe every key of a request that no SAE has received yet; return how many keys were wiped."""
        ...

    def take(self, key_ids: Sequence[uuid.UUID], *, master_sae: str, caller: str) -> list[DeliveredKey]:
        """Deliver keys to a slave SAE, all or none, each key at most once per slave."""
        ...

    def open_requests(self) -> list[uuid.UUID]:
        """Return the requests reserved on the master side and never delivered (for crash recovery)."""
        ...

    def close(self) -> None:
        """Release the database connection."""
        ...
