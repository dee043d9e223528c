"""The KME-to-KME messages on a link (the Kx reference point of ITU-T Y.3802).

Only identifiers cross between KMEs: the units are already shared, since both ends cut the same KeyBlocks.
A delivery record names, for each key a master SAE received, the units it is made of and the SAEs it is for.
The owning KME pushes records in batches (:class:`DeliveryBatch`, answered by :class:`Confirmation`), and the
peer pulls the records of key_IDs it does not know yet (:class:`PullRequest`, answered by a batch).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

from openqci.kms.records import KeyPlan, Reservation

__all__ = ["Confirmation", "DeliveryBatch", "KeyPlanMessage", "PullRequest", "ReservationMessage"]


class KeyPlanMessage(BaseModel):
    """The units of one key."""

    model_config = ConfigDict(extra="forbid")

    key_id: uuid.UUID
    unit_ids: list[uuid.UUID] = Field(min_length=1)
    size_bits: int = Field(gt=0, multiple_of=8)


class ReservationMessage(BaseModel):
    """One enc_keys request's keys, as the master KME tells the slave KME."""

    model_config = ConfigDict(extra="forbid")

    request_id: uuid.UUID
    link_id: str
    master_sae: str
    slave_saes: list[str] = Field(min_length=1)
    keys: list[KeyPlanMessage] = Field(min_length=1)

    @classmethod
    def from_reservation(cls, reservation: Reservation) -> ReservationMessage:
        """Build the message for a store record."""
        return cls(
            request_id=reservation.request_id,
            link_id=reservation.link_id,
            master_sae=reservation.master_sae,
            slave_saes=list(reservation.slave_saes),
            keys=[
                KeyPlanMessage(key_id=p.key_id, unit_ids=list(p.unit_ids), size_bits=p.size_bits)
                for p in reservation.keys
            ],
        )

    def to_reservation(self) -> Reservation:
        """Return the store record this message describes."""
        plans = tuple(KeyPlan(k.key_id, tuple(k.unit_ids), k.size_bits) for k in self.keys)
        return Reservation(self.request_id, self.link_id, self.master_sae, tuple(self.slave_saes), plans)


class DeliveryBatch(BaseModel):
    """Delivery records, pushed by their owning KME or returned to a pull."""

    model_config = ConfigDict(extra="forbid")

    records: list[ReservationMessage] = Field(max_length=4096)


class Confirmation(BaseModel):
    """The records of a batch the receiving KME now holds durably; the others are refused for now."""

    accepted: list[uuid.UUID]
    refused: list[dict[str, str]] = Field(default_factory=list)


class PullRequest(BaseModel):
    """key_IDs a slave SAE asked for that its KME does not know yet."""

    model_config = ConfigDict(extra="forbid")

    key_ids: list[uuid.UUID] = Field(min_length=1, max_length=1024)
