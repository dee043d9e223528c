"""The stored side of key relay: link key consumed per hop, relayed keys kept for slave SAEs, relay records.

Every method is one transaction of the key store (a savepoint of the running group commit), so a hop is
processed all or nothing: the link key units it names are consumed, the tag checked, the keys decrypted,
and then either stored for the slave SAEs (at the destination) or re-encrypted with fresh units of the
next link and written, already encrypted, as the message to forward. A relay record per relay ID makes a
repeated message harmless: it gets the answer the first one got (or the same message is forwarded again)
and consumes nothing more; a record ``voided`` refuses a late copy of a relay the source gave up.

The sender of a hop spends units of its own half of the link's pool (the half it allocates, as for
direct keys, see :mod:`openqci.kms.units`); the receiver consumes its copies of the same units, which must
be free units of the sender's half. A relayed key stored at the destination is one sealed row in the
``units`` table (``link_id`` ``relay:SOURCE``) bound to a slave-side ``keys`` row, so ETSI 014 dec_keys
serves it exactly as a direct key: once per slave SAE, all or nothing, wiped when the last has it.
"""

from __future__ import annotations

import base64
import enum
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openqci.kms.api.relay_models import AckStatus, HopMessage, RelayAck, RelayedKeyPlan
from openqci.kms.errors import KeyShortageError
from openqci.kms.records import DeliveredKey
from openqci.kms.relay_crypto import MAC_KEY_BITS, canonical, one_time_pad, tag, verify
from openqci.kms.sqlstore import Cursor, SqlKeyStore
from openqci.kms.units import units_per_key

__all__ = ["HopOutcome", "RelayLedger", "RelayStatus", "hop_key_bits"]


class RelayStatus(enum.IntEnum):
    """What a KME knows of one relay."""

    FORWARDING = 1
    """Passed on (the encrypted message is kept for a repeat); awaiting the acknowledgement."""
    STORED = 2
    """At the destination: the keys wait for their slave SAEs."""
    RELAYED = 3
    FAILED = 4
    VOIDED = 5


@dataclass(frozen=True)
class HopOutcome:
    """The result of taking in a hop: a final acknowledgement, or a message to send to the next KME."""

    ack: RelayAck | None = None
    forward: HopMessage | None = None


def hop_key_bits(size_bits: int, number: int, unit_bits: int) -> int:
    """Link key one hop consumes to relay ``number`` keys of ``size_bits``: whole units for pad and tag."""
    pad = units_per_key(size_bits * number, unit_bits)
    return (pad + units_per_key(MAC_KEY_BITS, unit_bits)) * unit_bits


class RelayLedger:
    """Relay transactions over a SQL key store."""

    def __init__(self, store: SqlKeyStore, *, kme_id: str, unit_bits: int) -> None:
        self.kme_id = kme_id
        self._store = store
        self.unit_bits = unit_bits

    # -- the source --------------------------------------------------------------------------------------

    def start(
        self,
        *,
        relay_id: uuid.UUID,
        route: Sequence[str],
        link_id: str,
        master_sae: str,
        slave_saes: Sequence[str],
        keys: Sequence[DeliveredKey],
    ) -> HopMessage:
        """Encrypt ``keys`` for the first hop with fresh units of ``link_id``; record the relay.

        Raises KeyShortageError, changing nothing, when this end of the link holds too little key.
        """
        plans = [RelayedKeyPlan(key_ID=k.key_id, size_bits=8 * len(k.material)) for k in keys]
        header = {
            "relay_id": relay_id,
            "route": list(route),
            "master_SAE_ID": master_sae,
            "slave_SAE_IDs": list(slave_saes),
            "keys": plans,
        }
        with self._store.transaction() as cur:
            message = self._encrypt(cur, header, 0, link_id, b"".join(k.material for k in keys))
            self._record(cur, relay_id, RelayStatus.FORWARDING, outgoing=message)
            return message

    def finish(self, relay_id: uuid.UUID, ack: RelayAck) -> None:
        """Record the acknowledgement that came back for a relay this KME passed on."""
        status = {AckStatus.RELAYED: RelayStatus.RELAYED, AckStatus.FAILED: RelayStatus.FAILED}.get(
            ack.status, RelayStatus.VOIDED
        )
        with self._store.transaction() as cur:
            cur.execute(
                self._store.sql(
                    "UPDATE relays SET status = ?, outgoing = NULL, detail = ? "
                    "WHERE relay_id = ? AND status = ?"
                ),
                (int(status), ack.model_dump_json(), str(relay_id), int(RelayStatus.FORWARDING)),
            )

    # -- a trusted node or the destination ---------------------------------------------------------------

    def receive(
        self, message: HopMessage, *, next_link: str | None, local_saes: frozenset[str]
    ) -> HopOutcome:
        """Take in one hop: consume its link key, check its tag, decrypt, then store or re-encrypt.

        ``next_link`` is the link to the next KME of the route, or None at the destination.
        """
        with self._store.transaction() as cur:
            known = self._known(cur, message.relay_id)
            if known is not None:
                return known
            outcome = self._take_in(cur, message, next_link, local_saes)
            if outcome.ack is not None:
                status = RelayStatus.STORED if outcome.ack.status is AckStatus.RELAYED else RelayStatus.FAILED
                self._record(cur, message.relay_id, status, ack=outcome.ack)
            else:
                self._record(cur, message.relay_id, RelayStatus.FORWARDING, outgoing=outcome.forward)
            return outcome

    def void(self, relay_id: uuid.UUID) -> bool:
        """Void a relay here: wipe keys stored for it that no SAE took yet; refuse it from now on.

        Returns False if a slave SAE already took a key of it (then nothing is wiped).
        """
        with self._store.transaction() as cur:
            cur.execute(
                self._store.sql("SELECT key_id, served FROM keys WHERE request_id = ? AND role = 1"),
                (str(relay_id),),
            )
            rows = cur.fetchall()
            if any(json.loads(served) for _, served in rows):
                return False
            ids = [str(key_id) for key_id, _ in rows]
            if ids:
                marks = ", ".join("?" * len(ids))
                zero = f"nonce = {self._store.zeros('nonce')}, material = {self._store.zeros('material')}"
                cur.execute(self._store.sql(f"UPDATE units SET {zero} WHERE key_id IN ({marks})"), ids)
                cur.execute(self._store.sql(f"DELETE FROM units WHERE key_id IN ({marks})"), ids)
                cur.execute(self._store.sql(f"DELETE FROM keys WHERE key_id IN ({marks})"), ids)
            self._record(cur, relay_id, RelayStatus.VOIDED)
            return True

    def available_units(self, link_id: str) -> int:
        """Units of our half of ``link_id`` still free."""
        return self._store.available_units(link_id)

    def status(self, relay_id: uuid.UUID) -> RelayStatus | None:
        """The recorded status of a relay, if this KME has seen it."""
        with self._store.transaction() as cur:
            cur.execute(self._store.sql("SELECT status FROM relays WHERE relay_id = ?"), (str(relay_id),))
            rows = cur.fetchall()
            return RelayStatus(int(rows[0][0])) if rows else None

    # -- private ----------------------------------------------------------------------------------------

    def _take_in(
        self, cur: Cursor, message: HopMessage, next_link: str | None, local_saes: frozenset[str]
    ) -> HopOutcome:
        materials = self._consume_peer_units(cur, message.link_id, [*message.pad_units, *message.mac_units])
        if materials is None:
            return _failed(message, message.link_id, "the link key units named are not free units here")
        pad = b"".join(materials[: len(message.pad_units)])
        mac_key = b"".join(materials[len(message.pad_units) :])
        given = _b64(message.tag)
        if given is None or not verify(mac_key, canonical(message.authenticated_fields()), given):
            return _failed(message, message.link_id, f"authentication tag mismatch on {message.link_id}")
        ciphertext = _b64(message.ciphertext)
        size = sum(k.size_bits for k in message.keys) // 8
        if ciphertext is None or len(ciphertext) != size or len(pad) < size:
            return _failed(message, message.link_id, "the ciphertext does not match the keys' sizes")
        plain = one_time_pad(ciphertext, pad)
        if next_link is None:
            return self._store_keys(cur, message, plain, local_saes)
        header = message.model_dump(include={"relay_id", "route", "master_SAE_ID", "slave_SAE_IDs", "keys"})
        try:
            forward = self._encrypt(cur, header, message.hop + 1, next_link, plain)
        except KeyShortageError as error:
            return _failed(message, next_link, error.message)
        return HopOutcome(forward=forward)

    def _encrypt(
        self, cur: Cursor, header: dict[str, Any], hop: int, link_id: str, plain: bytes
    ) -> HopMessage:
        pad_count = units_per_key(8 * len(plain), self.unit_bits)
        mac_count = units_per_key(MAC_KEY_BITS, self.unit_bits)
        ids, materials = self._consume_own_units(cur, link_id, pad_count + mac_count)
        pad, mac_key = b"".join(materials[:pad_count]), b"".join(materials[pad_count:])
        draft = HopMessage(
            **header,
            hop=hop,
            link_id=link_id,
            pad_units=ids[:pad_count],
            mac_units=ids[pad_count:],
            ciphertext=base64.b64encode(one_time_pad(plain, pad)).decode(),
        )
        authenticator = tag(mac_key, canonical(draft.authenticated_fields()))
        return draft.model_copy(update={"tag": base64.b64encode(authenticator).decode()})

    def _consume_own_units(
        self, cur: Cursor, link_id: str, count: int
    ) -> tuple[list[uuid.UUID], list[bytes]]:
        """Take the oldest free units of our half of ``link_id``, read and wipe them."""
        rows = [row[1:] for row in self._store.oldest_free_units(cur, link_id, count, holder=self.kme_id)]
        materials = [self._open(row) for row in rows]
        self._wipe(cur, [str(row[0]) for row in rows])
        self._store.count_units(cur, link_id, consumed=count, free=-count, owned_free=-count)
        return [uuid.UUID(row[0]) for row in rows], materials

    def _consume_peer_units(self, cur: Cursor, link_id: str, unit_ids: list[uuid.UUID]) -> list[bytes] | None:
        """Read and wipe our copies of units the peer allocated, in order; None unless all are free here."""
        wanted = [str(u) for u in unit_ids]
        if len(set(wanted)) != len(wanted):
            return None
        cur.execute(
            self._store.sql(
                "SELECT unit_id, nonce, material, link_id, owned, state FROM units "
                f"WHERE unit_id IN ({', '.join('?' * len(wanted))})"
            ),
            wanted,
        )
        rows = {row[0]: row for row in cur.fetchall()}
        usable = [rows.get(u) for u in wanted]
        if any(r is None or r[3] != link_id or r[4] != 0 or r[5] != 0 for r in usable):
            return None
        materials = [self._open(r) for r in usable if r is not None]
        self._wipe(cur, wanted)
        self._store.count_units(cur, link_id, consumed=len(wanted), free=-len(wanted))
        return materials

    def _store_keys(
        self, cur: Cursor, message: HopMessage, plain: bytes, local_saes: frozenset[str]
    ) -> HopOutcome:
        strangers = sorted(set(message.slave_SAE_IDs) - local_saes)
        if strangers:
            return _failed(message, None, f"slave SAEs {strangers} are not served by {self.kme_id}")
        ids = [str(k.key_ID) for k in message.keys]
        cur.execute(
            self._store.sql(f"SELECT count(*) FROM keys WHERE key_id IN ({', '.join('?' * len(ids))})"), ids
        )
        if int(cur.fetchall()[0][0]):
            return _failed(message, None, f"a key_ID of relay {message.relay_id} is already held here")
        self._insert_keys(cur, message, plain)
        return HopOutcome(ack=RelayAck(relay_id=message.relay_id, status=AckStatus.RELAYED))

    def _insert_keys(self, cur: Cursor, message: HopMessage, plain: bytes) -> None:
        now, link = time.time(), f"relay:{message.route[0]}"
        slaves, relay = json.dumps(message.slave_SAE_IDs), str(message.relay_id)
        unit_rows, key_rows, offset = [], [], 0
        for ord_, plan in enumerate(message.keys):
            key_id, size = str(plan.key_ID), plan.size_bits // 8
            nonce, sealed = self._store.master_key.seal(plain[offset : offset + size], key_id.encode())
            offset += size
            unit_rows.append((key_id, link, relay, ord_, nonce, sealed, key_id))
            key_rows.append((key_id, relay, ord_, link, message.master_SAE_ID, slaves, plan.size_bits, now))
        cur.executemany(
            self._store.sql(
                "INSERT INTO units (unit_id, link_id, block_id, idx, owned, state, nonce, material, "
                "key_id, pos) VALUES (?, ?, ?, ?, 0, 1, ?, ?, ?, 0)"
            ),
            unit_rows,
        )
        cur.executemany(
            self._store.sql(
                "INSERT INTO keys (key_id, request_id, ord, link_id, role, master_sae, slaves, served, "
                "size_bits, state, created_s) VALUES (?, ?, ?, ?, 1, ?, ?, '[]', ?, 1, ?)"
            ),
            key_rows,
        )
        self._store.count_units(cur, link, made=len(unit_rows))

    def _known(self, cur: Cursor, relay_id: uuid.UUID) -> HopOutcome | None:
        """The answer already given to this relay, if it was seen before."""
        cur.execute(
            self._store.sql("SELECT status, outgoing, detail FROM relays WHERE relay_id = ?"),
            (str(relay_id),),
        )
        rows = cur.fetchall()
        if not rows:
            return None
        status, outgoing, detail = RelayStatus(int(rows[0][0])), rows[0][1], rows[0][2]
        if status is RelayStatus.FORWARDING:
            return HopOutcome(forward=HopMessage.model_validate_json(outgoing))
        if status in (RelayStatus.STORED, RelayStatus.RELAYED):
            return HopOutcome(ack=RelayAck(relay_id=relay_id, status=AckStatus.RELAYED))
        if status is RelayStatus.VOIDED:
            return HopOutcome(
                ack=RelayAck(relay_id=relay_id, status=AckStatus.VOIDED, message="the relay was voided")
            )
        return HopOutcome(ack=RelayAck.model_validate_json(detail))

    def _record(
        self,
        cur: Cursor,
        relay_id: uuid.UUID,
        status: RelayStatus,
        *,
        outgoing: HopMessage | None = None,
        ack: RelayAck | None = None,
    ) -> None:
        cur.execute(
            self._store.sql(
                "INSERT INTO relays (relay_id, status, outgoing, detail, created_s) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (relay_id) DO UPDATE SET status = excluded.status, "
                "outgoing = excluded.outgoing, detail = excluded.detail"
            ),
            (
                str(relay_id),
                int(status),
                outgoing.model_dump_json() if outgoing is not None else None,
                ack.model_dump_json() if ack is not None else "",
                time.time(),
            ),
        )

    def _open(self, row: Sequence[Any]) -> bytes:
        return self._store.master_key.open(bytes(row[1]), bytes(row[2]), str(row[0]).encode())

    def _wipe(self, cur: Cursor, unit_ids: list[str]) -> None:
        zero = f"nonce = {self._store.zeros('nonce')}, material = {self._store.zeros('material')}"
        cur.execute(
            self._store.sql(
                f"UPDATE units SET state = 3, done_s = ?, {zero} "
                f"WHERE unit_id IN ({', '.join('?' * len(unit_ids))})"
            ),
            [time.time(), *unit_ids],
        )

    def __repr__(self) -> str:
        return f"RelayLedger({self.kme_id!r})"


def _failed(message: HopMessage, link_id: str | None, why: str) -> HopOutcome:
    return HopOutcome(
        ack=RelayAck(relay_id=message.relay_id, status=AckStatus.FAILED, link_id=link_id, message=why)
    )


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        return None
