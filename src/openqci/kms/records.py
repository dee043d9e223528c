"""Records the key store hands out: key plans exchanged between KMEs, delivered keys, unit states.

These are the stored side of the API (FastAPI's ``UserInDB``); :mod:`openqci.kms.api.models` holds the wire
side. Key material lives only in :class:`DeliveredKey`, whose repr hides it.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["DeliveredKey", "KeyDelivery", "KeyPlan", "PruneReport", "Reservation", "UnitState"]


class UnitState(enum.IntEnum):
    """The state of a key unit; every transition is one store transaction.

    AVAILABLE: in the link's pool. RESERVED: bound to a key of one request, not yet handed to any SAE.
    DELIVERED: handed to some, not all, of the SAEs the key is for. CONSUMED: every SAE has it; the
    material is overwritten.
    """

    AVAILABLE = 0
    RESERVED = 1
    DELIVERED = 2
    CONSUMED = 3


@dataclass(frozen=True)
class KeyPlan:
    """Which units make one key: what two KMEs agree on for each key of a request."""

    key_id: uuid.UUID
    unit_ids: tuple[uuid.UUID, ...]
    size_bits: int


@dataclass(frozen=True)
class Reservation:
    """The keys of one enc_keys request, their units and the SAEs they are for: the delivery record."""

    request_id: uuid.UUID
    link_id: str
    master_sae: str
    slave_saes: tuple[str, ...]
    keys: tuple[KeyPlan, ...]


@dataclass(frozen=True)
class DeliveredKey:
    """A key handed to an SAE: its ID and bytes (never shown in a repr or a log)."""

    key_id: uuid.UUID
    material: bytes

    def __repr__(self) -> str:
        return f"DeliveredKey(key_id={self.key_id}, bytes={len(self.material)})"


@dataclass(frozen=True)
class KeyDelivery:
    """The keys of one enc_keys answer and, for relayed keys, the Key container extension (route taken)."""

    keys: list[DeliveredKey]
    extension: dict[str, Any] | None = None


@dataclass(frozen=True)
class PruneReport:
    """What one round of the retention pruner removed: keys expired, and rows deleted per table."""

    expired_keys: int = 0
    units: int = 0
    keys: int = 0
    deliveries: int = 0
    relays: int = 0

    @property
    def rows(self) -> int:
        """Rows changed or deleted in all (a round that reaches its batch size is followed by another)."""
        return self.expired_keys + self.units + self.keys + self.deliveries + self.relays
