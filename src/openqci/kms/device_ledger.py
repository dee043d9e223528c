"""The stored side of a link fed by QKD devices over ETSI GS QKD 014: pending offers, and their blocks.

The end of the link that asks its device for keys (the master end, see :mod:`openqci.kms.device_etsi014`)
writes each batch of device keys as an **offer**, sealed under the KME master key like unit material,
before it tells the peer KME the key IDs. Once the peer has taken the same keys from its own device and
stored them, the master end turns the offer into a KeyBlock of its pool and drops the offer, in one
transaction; an offer the peer refuses (its device no longer knows the keys) is wiped and dropped. So a
crash at either end leaves either the offer (offered again at the next start), or the block at both ends.

The block of an offer is the device keys joined in the order of their IDs in the offer; its ID is derived
from the link and those key IDs (:func:`device_block_id`), so both ends name it alike without telling
each other, and storing it twice adds nothing (``add_block`` is idempotent on the block ID).

Every method is one transaction, or a savepoint of the group running on the calling thread: the KME runs
them through its :class:`openqci.kms.committer.GroupCommitter`, so a method that stores a block (which
calls :meth:`SqlKeyStore.add_block` inside its own transaction) must run inside such a group.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from openqci.keysource import KeyBlock
from openqci.kms.errors import StoreError
from openqci.kms.sqlstore import Cursor, SqlKeyStore

__all__ = ["UNKNOWN_QBER", "DeviceLedger", "DeviceOffer", "device_block", "device_block_id"]

_BLOCK_NAMESPACE = uuid.UUID("3c1f6a8e-0d4b-5e27-9b1a-6e2f0c7d4a15")

UNKNOWN_QBER = 0.5
"""ETSI GS QKD 014 does not report the QBER; blocks from a device carry 0.5, the protocol's "unknown"."""


def device_block_id(link_id: str, key_ids: Sequence[uuid.UUID]) -> uuid.UUID:
    """The ID of the block made of the device keys ``key_ids`` on ``link_id``, the same at both ends.

    Examples
    --------
    >>> a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    >>> device_block_id("l", [a, b]) == device_block_id("l", [a, b]) != device_block_id("l", [b, a])
    True
    """
    return uuid.uuid5(_BLOCK_NAMESPACE, link_id + "/" + ",".join(str(k) for k in key_ids))


def device_block(
    link_id: str, key_ids: Sequence[uuid.UUID], material: bytes, key_bits: int, epsilon: float
) -> KeyBlock:
    """The KeyBlock of device keys ``key_ids`` whose bytes, joined in that order, are ``material``."""
    if len(material) * 8 != len(key_ids) * key_bits:
        raise ValueError(f"{len(key_ids)} keys of {key_bits} bits cannot be {len(material)} bytes")
    block_id = device_block_id(link_id, key_ids)
    return KeyBlock(link_id, block_id, material, 8 * len(material), UNKNOWN_QBER, epsilon)


@dataclass(frozen=True)
class DeviceOffer:
    """Device keys recorded at the master end and not yet settled with the peer; no material here."""

    offer_id: uuid.UUID
    """The ID of the block the keys become (:func:`device_block_id`)."""
    link_id: str
    key_ids: tuple[uuid.UUID, ...]
    key_bits: int


class DeviceLedger:
    """Offers and device blocks of one link, over a SQL key store.

    Parameters
    ----------
    store
        The KME's key store.
    link_id
        The link fed by the device.
    unit_bits
        The KME's unit size (blocks are cut into units of it).
    parity
        The parity of the unit indices this end allocates (:func:`openqci.kms.units.owned_parity`).
    epsilon
        The security parameter recorded with each block (the device does not report it).
    """

    def __init__(
        self, store: SqlKeyStore, *, link_id: str, unit_bits: int, parity: int, epsilon: float
    ) -> None:
        self._store = store
        self.link_id = link_id
        self._unit_bits = unit_bits
        self._parity = parity
        self._epsilon = epsilon

    # -- the master end ----------------------------------------------------------------------------------

    def record(self, keys: Sequence[tuple[uuid.UUID, bytes]], key_bits: int) -> DeviceOffer:
        """Write device keys as a pending offer (sealed); recording the same keys again changes nothing."""
        key_ids = tuple(k for k, _ in keys)
        material = b"".join(m for _, m in keys)
        offer = DeviceOffer(device_block_id(self.link_id, key_ids), self.link_id, key_ids, key_bits)
        device_block(self.link_id, key_ids, material, key_bits, self._epsilon)  # checks the sizes
        nonce, sealed = self._store.master_key.seal(material, str(offer.offer_id).encode())
        with self._store.transaction() as cur:
            cur.execute(
                self._store.sql(
                    "INSERT INTO device_offers (offer_id, link_id, key_ids, key_bits, nonce, material, "
                    "created_s) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (offer_id) DO NOTHING"
                ),
                (
                    str(offer.offer_id),
                    self.link_id,
                    json.dumps([str(k) for k in key_ids]),
                    key_bits,
                    nonce,
                    sealed,
                    time.time(),
                ),
            )
        return offer

    def pending(self, limit: int) -> list[DeviceOffer]:
        """The oldest ``limit`` offers of the link still waiting for the peer."""
        with self._store.transaction() as cur:
            cur.execute(
                self._store.sql(
                    "SELECT offer_id, key_ids, key_bits FROM device_offers WHERE link_id = ? "
                    "ORDER BY seq LIMIT ?"
                ),
                (self.link_id, limit),
            )
            rows = cur.fetchall()
        return [
            DeviceOffer(
                uuid.UUID(r[0]), self.link_id, tuple(uuid.UUID(k) for k in json.loads(r[1])), int(r[2])
            )
            for r in rows
        ]

    def count(self) -> int:
        """How many offers of the link wait for the peer."""
        with self._store.transaction() as cur:
            cur.execute(
                self._store.sql("SELECT count(*) FROM device_offers WHERE link_id = ?"), (self.link_id,)
            )
            return int(cur.fetchall()[0][0])

    def settle(self, offer_id: uuid.UUID) -> int:
        """The peer holds the offer's block: add it to this end's pool and drop the offer, in one transaction.

        Returns the units added (0 for an offer settled already). Must run inside a group.
        """
        with self._store.transaction() as cur:
            cur.execute(
                self._store.sql(
                    "SELECT key_ids, key_bits, nonce, material FROM device_offers WHERE offer_id = ?"
                ),
                (str(offer_id),),
            )
            rows = cur.fetchall()
            if not rows:
                return 0
            key_ids = [uuid.UUID(k) for k in json.loads(rows[0][0])]
            material = self._store.master_key.open(
                bytes(rows[0][2]), bytes(rows[0][3]), str(offer_id).encode()
            )
            block = device_block(self.link_id, key_ids, material, int(rows[0][1]), self._epsilon)
            if block.block_id != offer_id:
                raise StoreError(f"device offer {offer_id} does not hold the keys it names")
            added = self.add(block)
            self._drop(cur, offer_id)
            return added

    def discard(self, offer_id: uuid.UUID) -> None:
        """The peer cannot take the offer's keys: wipe and drop it (the keys are lost at both ends)."""
        with self._store.transaction() as cur:
            self._drop(cur, offer_id)

    # -- both ends ---------------------------------------------------------------------------------------

    def holds(self, block_id: uuid.UUID) -> bool:
        """Whether this end's pool has the block (any of its units, consumed ones included)."""
        with self._store.transaction() as cur:
            cur.execute(
                self._store.sql("SELECT 1 FROM units WHERE block_id = ? AND link_id = ? LIMIT 1"),
                (str(block_id), self.link_id),
            )
            return bool(cur.fetchall())

    def add(self, block: KeyBlock) -> int:
        """Add a device block to this end's pool; return the units added (none when it is there already)."""
        return self._store.add_block(block, unit_bits=self._unit_bits, parity=self._parity)

    def _drop(self, cur: Cursor, offer_id: uuid.UUID) -> None:
        store = self._store
        wipe = f"nonce = {store.zeros('nonce')}, material = {store.zeros('material')}"
        cur.execute(store.sql(f"UPDATE device_offers SET {wipe} WHERE offer_id = ?"), (str(offer_id),))
        cur.execute(store.sql("DELETE FROM device_offers WHERE offer_id = ?"), (str(offer_id),))
