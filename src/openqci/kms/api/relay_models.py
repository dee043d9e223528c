"""The KME-to-KME messages of key relay, shaped after ETSI GS QKD 020's extended keys.

:class:`HopMessage` carries the keys of one relay over one hop (``ext_keys``); :class:`RelayAck` is the
acknowledgement that travels back (``ext_keys_ack``, with the statuses ``relayed``, ``failed`` and
``voided``); :class:`VoidMessage` discards a relay along its route (``ext_keys_void``). Where GS QKD 020
answers ``202 Accepted`` and calls back later, each hop here answers its request with the downstream
acknowledgement (a synchronous callback), so the source learns the outcome from the answer to its own
request. The fields follow the key relay message of ITU-T Q.4163 (key relay in trusted-node networks): relay
ID, source and destination (the route), the key IDs, the link key units consumed on this hop, the ciphertext
and the authentication tag.
"""

# ruff: noqa: N815  (fields keep the standard's spelling: key_ID)
from __future__ import annotations

import enum
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AckStatus", "HopMessage", "RelayAck", "RelayedKeyPlan", "VoidMessage"]


class AckStatus(enum.StrEnum):
    """The outcome of a relay, as GS QKD 020's ``ack_status`` names it."""

    RELAYED = "relayed"
    FAILED = "failed"
    VOIDED = "voided"


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RelayedKeyPlan(_Message):
    """One relayed key: its ID (the key_ID the SAEs will use) and its size."""

    key_ID: uuid.UUID
    size_bits: int = Field(gt=0, multiple_of=8)


class HopMessage(_Message):
    """The keys of one relay on one hop, one-time-pad encrypted with link key and authenticated.

    ``route[hop]`` sends to ``route[hop + 1]`` over ``link_id``; ``pad_units`` and ``mac_units`` are the
    link key units (of the sender's half of that link's pool) the message consumed at both ends.
    """

    relay_id: uuid.UUID
    route: list[str] = Field(min_length=2, max_length=64)
    hop: int = Field(ge=0)
    link_id: str = Field(min_length=1)
    master_SAE_ID: str = Field(min_length=1)
    slave_SAE_IDs: list[str] = Field(min_length=1, max_length=64)
    keys: list[RelayedKeyPlan] = Field(min_length=1, max_length=1024)
    pad_units: list[uuid.UUID] = Field(min_length=1, max_length=65536)
    mac_units: list[uuid.UUID] = Field(min_length=1, max_length=16)
    ciphertext: str
    tag: str = ""

    @property
    def sender(self) -> str:
        """The KME that sent this hop."""
        return self.route[self.hop]

    @property
    def receiver(self) -> str:
        """The KME this hop is for."""
        return self.route[self.hop + 1]

    @property
    def destination(self) -> str:
        """The KME that stores the keys for the slave SAEs."""
        return self.route[-1]

    def authenticated_fields(self) -> dict[str, Any]:
        """Every field but the tag, as JSON values: what the tag covers."""
        return self.model_dump(mode="json", exclude={"tag"})

    def __repr__(self) -> str:
        return f"HopMessage(relay_id={self.relay_id}, hop={self.hop}, route={self.route})"


class RelayAck(_Message):
    """The acknowledgement of a relay; ``link_id`` names the hop that failed, when one did."""

    relay_id: uuid.UUID
    status: AckStatus
    link_id: str | None = None
    message: str = ""


class VoidMessage(_Message):
    """Discard a relay at every KME of its route from ``route[hop + 1]`` on; keys stored for it are wiped."""

    relay_id: uuid.UUID
    route: list[str] = Field(min_length=2, max_length=64)
    hop: int = Field(ge=0)
