"""The KME-to-KME messages of a link fed by QKD devices over ETSI GS QKD 014.

Only key IDs cross between the KMEs: each takes the key material from its own device. The KME that asks
its device for keys offers their IDs (:class:`DeviceKeysOffer`); the peer takes the same keys from its
device, stores their block and answers (:class:`DeviceKeysAnswer`).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["MAX_OFFER_BYTES", "MAX_OFFER_KEYS", "DeviceKeysAnswer", "DeviceKeysOffer"]

MAX_OFFER_KEYS = 1024
"""Key IDs in one offer at most (``keys_per_request`` is capped at this)."""

MAX_OFFER_BYTES = 64 * 1024
"""Bytes of one offer's body at most; a longer body is refused before it is parsed."""


class DeviceKeysOffer(BaseModel):
    """Device keys the offering KME holds durably: the peer is to take the same keys from its device."""

    model_config = ConfigDict(extra="forbid")

    link_id: str = Field(min_length=1, max_length=256)
    key_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_OFFER_KEYS)
    key_bits: int = Field(gt=0, le=1 << 20, multiple_of=8)

    @field_validator("key_ids")
    @classmethod
    def _distinct(cls, key_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(key_ids)) != len(key_ids):
            raise ValueError("a key ID appears twice")
        return key_ids


class DeviceKeysAnswer(BaseModel):
    """The peer's answer to an offer.

    ``accepted``: the peer holds the block made of the keys (``block_id``) durably, now or from an earlier
    copy of the offer. Not accepted: its device does not know the keys and it never stored them, so the
    offering KME drops them too (``reason`` says why). A peer that cannot decide now (its device is
    unreachable) answers with an error instead, and the offer is repeated later.
    """

    model_config = ConfigDict(extra="forbid")

    block_id: uuid.UUID
    accepted: bool
    reason: str = ""
