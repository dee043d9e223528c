"""The SQL core shared by the SQLite and PostgreSQL key stores.

Every public method is one transaction. Inside :meth:`SqlKeyStore.group` the methods called on the same
thread become savepoints of one transaction committed at the end (group commit): one durable commit
serves many requests, and a request that fails rolls back only its own savepoint. The dialects differ only
in how a transaction starts (SQLite's ``BEGIN IMMEDIATE`` takes the write lock up front, so two
transactions never read the same free units; PostgreSQL locks the chosen rows with
``FOR UPDATE SKIP LOCKED``), in parameter style and in the DDL.

Wiping overwrites the ciphertext and nonce with zero bytes in place (SQLite also runs with
``secure_delete``), so consumed material is gone, not just flagged.

The master side writes each delivery record once, as the JSON the peer KME receives (one ``deliveries``
row, pushed from the outbox or pulled on demand), and consumes the units of a request with one ``UPDATE``
over their range of ``seq``: a request costs three statements whatever its number of keys, and the rows
it writes are appended or contiguous, so a group commit dirties few pages. Only the slave side keeps a
``keys`` row per key (dec_keys finds keys by key_ID and counts which slaves took them).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

import orjson

from openqci.keysource import KeyBlock
from openqci.kms.crypto import MasterKey
from openqci.kms.errors import (
    KeyShortageError,
    KeysNotFoundError,
    PeerError,
    PoolFullError,
    StoreError,
    UnauthorizedError,
)
from openqci.kms.records import DeliveredKey, KeyPlan, PruneReport, Reservation, UnitState
from openqci.kms.units import unit_key_id_texts, unit_owner, units_per_key

__all__ = ["Cursor", "SqlKeyStore"]

_MASTER_SIDE = 0
_SLAVE_SIDE = 1

_PRUNE_KEYS = (
    "DELETE FROM keys WHERE key_id IN "
    "(SELECT key_id FROM keys WHERE done_s IS NOT NULL AND done_s < ? LIMIT ?)"
)
_PRUNE_RELAYS = (
    "DELETE FROM relays WHERE relay_id IN (SELECT relay_id FROM relays WHERE created_s < ? LIMIT ?)"
)
_PRUNE_DELIVERIES = (  # the oldest records by their key: appended in time order
    "DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries ORDER BY seq LIMIT ?) AND created_s < ?"
)
_PRUNE_UNITS = (  # the oldest consumed units of one half of a link, through the units_free index
    "DELETE FROM units WHERE seq IN (SELECT seq FROM units WHERE link_id = ? AND owned = ? AND state = 3 "
    "ORDER BY seq LIMIT ?) AND done_s < ?"
)


class Cursor(Protocol):
    """The part of a DB-API cursor the core uses."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class SqlKeyStore(ABC):
    """Implements :class:`openqci.kms.store.KeyStore` over a dialect's connection."""

    #: appended to the SELECT that picks free units (PostgreSQL locks them).
    lock_clause = ""

    def __init__(self, master_key: MasterKey) -> None:
        self._master_key = master_key
        self._lock = threading.Lock()
        self._local = threading.local()

    @abstractmethod
    def _begin(self) -> AbstractContextManager[Cursor]:
        """Open one write transaction and yield its cursor; commit on success, roll back on error."""

    @abstractmethod
    def _sql(self, text: str) -> str:
        """Translate ``?`` placeholders to the dialect's."""

    @abstractmethod
    def _zeros(self, column: str) -> str:
        """An SQL expression of as many zero bytes as ``column`` holds."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    # -- transactions -----------------------------------------------------------------------------------

    @contextmanager
    def group(self) -> Iterator[None]:
        """Run the store calls made on this thread inside the block as savepoints of one transaction."""
        with self._lock, self._begin() as cur:
            self._local.cursor = cur
            try:
                yield
            finally:
                self._local.cursor = None

    @contextmanager
    def _transaction(self) -> Iterator[Cursor]:
        cur: Cursor | None = getattr(self._local, "cursor", None)
        if cur is None:
            with self._lock, self._begin() as fresh:
                yield fresh
            return
        cur.execute("SAVEPOINT op")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK TO SAVEPOINT op")
            cur.execute("RELEASE SAVEPOINT op")
            raise
        cur.execute("RELEASE SAVEPOINT op")

    # -- for modules that extend the store (key relay: openqci.kms.relay_ledger) --------------------------

    def transaction(self) -> AbstractContextManager[Cursor]:
        """One transaction, or a savepoint of the group running on this thread; yields its cursor."""
        return self._transaction()

    def sql(self, text: str) -> str:
        """``text`` with ``?`` placeholders translated to the dialect's."""
        return self._sql(text)

    def zeros(self, column: str) -> str:
        """An SQL expression of as many zero bytes as ``column`` holds."""
        return self._zeros(column)

    @property
    def master_key(self) -> MasterKey:
        """The key that seals material at rest."""
        return self._master_key

    # -- filling the pool -------------------------------------------------------------------------------

    def add_block(
        self, block: KeyBlock, *, unit_bits: int, parity: int, max_free_units: int | None = None
    ) -> int:
        """Cut ``block`` into sealed units and insert those not stored yet; return how many were new.

        With ``max_free_units``, a block not stored yet is refused (PoolFullError, nothing changed) while
        the link's free units (both halves) already reach it; a block stored before is always accepted.
        """
        if unit_bits <= 0 or unit_bits % 8:
            raise ValueError(f"unit_bits must be a positive multiple of 8, got {unit_bits}")
        unit_bytes, count = unit_bits // 8, block.size_bits // unit_bits
        unit_ids = unit_key_id_texts(block.block_id, count)
        materials = [block.bits[i * unit_bytes : (i + 1) * unit_bytes] for i in range(count)]
        sealed = self._master_key.seal_many(materials, [u.encode() for u in unit_ids])
        block_id = str(block.block_id)
        rows = [
            (unit_id, block.link_id, block_id, i, int(unit_owner(block.block_id, i, count) == parity), *seal)
            for i, (unit_id, seal) in enumerate(zip(unit_ids, sealed, strict=True))
        ]
        with self._transaction() as cur:
            before = self._block_units(cur, block.block_id)
            if sum(before) == 0 and max_free_units is not None:
                self._refuse_when_full(cur, block.link_id, max_free_units)
            cur.executemany(
                self._sql(
                    "INSERT INTO units (unit_id, link_id, block_id, idx, owned, state, nonce, material) "
                    "VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (unit_id) DO NOTHING"
                ),
                rows,
            )
            after = self._block_units(cur, block.block_id)
            added, owned_added = sum(after) - sum(before), after[1] - before[1]
            if added:
                self.count_units(cur, block.link_id, made=added, free=added, owned_free=owned_added)
            return added

    def available_units(self, link_id: str) -> int:
        """Return the units of ``link_id`` this end may still allocate (one counter row)."""
        return self._counts(link_id)[3]

    def free_units(self, link_id: str) -> int:
        """Return the free units of ``link_id``, both halves: the pool that ``max_key_count`` caps."""
        return self._counts(link_id)[2]

    def key_counts(self, link_id: str) -> tuple[int, int]:
        """Return the units of ``link_id`` stored so far (both halves) and how many of them are consumed.

        Both are running totals kept in the ``link_counts`` row, so units pruned after their retention
        period still count.
        """
        made, consumed, _, _ = self._counts(link_id)
        return made, consumed

    def count_units(
        self,
        cur: Cursor,
        link_id: str,
        *,
        made: int = 0,
        consumed: int = 0,
        free: int = 0,
        owned_free: int = 0,
    ) -> None:
        """Change the counters of ``link_id`` by the given amounts, in the transaction of ``cur``."""
        cur.execute(
            self._sql(
                "INSERT INTO link_counts (link_id, made, consumed, free, owned_free) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (link_id) DO UPDATE SET made = link_counts.made + excluded.made, "
                "consumed = link_counts.consumed + excluded.consumed, "
                "free = link_counts.free + excluded.free, "
                "owned_free = link_counts.owned_free + excluded.owned_free"
            ),
            (link_id, made, consumed, free, owned_free),
        )

    def _counts(self, link_id: str) -> tuple[int, int, int, int]:
        with self._transaction() as cur:
            cur.execute(
                self._sql("SELECT made, consumed, free, owned_free FROM link_counts WHERE link_id = ?"),
                (link_id,),
            )
            rows = cur.fetchall()
        if not rows:
            return 0, 0, 0, 0
        made, consumed, free, owned_free = rows[0]
        return int(made), int(consumed), int(free), int(owned_free)

    def _block_units(self, cur: Cursor, block_id: uuid.UUID) -> tuple[int, int]:
        """The units of a block stored here: (the peer's half, ours)."""
        cur.execute(
            self._sql("SELECT owned, count(*) FROM units WHERE block_id = ? GROUP BY owned"), (str(block_id),)
        )
        counts = dict(cur.fetchall())
        return int(counts.get(0, 0)), int(counts.get(1, 0))

    def _refuse_when_full(self, cur: Cursor, link_id: str, max_free_units: int) -> None:
        cur.execute(self._sql("SELECT free FROM link_counts WHERE link_id = ?"), (link_id,))
        rows = cur.fetchall()
        free = int(rows[0][0]) if rows else 0
        if free >= max_free_units:
            raise PoolFullError(
                f"the pool of link {link_id} is full ({free} free units, at most {max_free_units}): "
                "the block is held until key is consumed",
                [{"link_id": link_id, "free_units": free, "max_free_units": max_free_units}],
            )

    def backfill_counts(self) -> None:
        """Fill ``link_counts`` from the units of a store written before the table existed (once)."""
        with self._transaction() as cur:
            cur.execute("SELECT count(*) FROM link_counts")
            if int(cur.fetchall()[0][0]):
                return
            cur.execute(
                "INSERT INTO link_counts (link_id, made, consumed, free, owned_free) "
                "SELECT link_id, count(*), sum(CASE WHEN state = 3 THEN 1 ELSE 0 END), "
                "sum(CASE WHEN state = 0 THEN 1 ELSE 0 END), "
                "sum(CASE WHEN state = 0 AND owned = 1 THEN 1 ELSE 0 END) FROM units GROUP BY link_id"
            )

    # -- the master side --------------------------------------------------------------------------------

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
        """Take the oldest free units for ``number`` keys, read and wipe them, and queue the record.

        Three statements whatever ``number`` is: the free units are read in ``seq`` order, the record is
        appended to ``deliveries``, and one ``UPDATE`` over the units' ``seq`` range wipes them and points
        them at the record (the range holds no other free unit of our half: they were the oldest).
        """
        per_key = units_per_key(size_bits, unit_bits)
        needed = number * per_key
        with self._transaction() as cur:
            free = self.oldest_free_units(cur, link_id, needed)
            unit_ids = [row[1] for row in free]
            groups = [unit_ids[i : i + per_key] for i in range(0, needed, per_key)]
            head = (str(request_id), link_id, master_sae, list(slave_saes))
            cur.execute(
                self._sql(
                    "INSERT INTO deliveries (request_id, link_id, record, confirmed, created_s) "
                    "VALUES (?, ?, ?, 0, ?) RETURNING seq"
                ),
                (head[0], link_id, _record_json(head, groups, size_bits), time.time()),
            )
            delivery = int(cur.fetchall()[0][0])
            self._consume_range(cur, link_id, (int(free[0][0]), int(free[-1][0])), delivery, needed)
            materials = self._master_key.open_many([(r[2], r[3], r[1]) for r in free])
            return _delivered(head, groups, materials, per_key, size_bits)

    def oldest_free_units(
        self, cur: Cursor, link_id: str, count: int, *, holder: str = ""
    ) -> list[Sequence[Any]]:
        """Rows ``(seq, unit_id, nonce, material)`` of the ``count`` oldest free units of our half.

        Raises
        ------
        KeyShortageError
            If fewer are free; ``holder`` (a KME ID) is named in the message when given.
        """
        cur.execute(
            self._sql(
                "SELECT seq, unit_id, nonce, material FROM units WHERE link_id = ? AND owned = 1 "
                f"AND state = 0 ORDER BY seq LIMIT ?{self.lock_clause}"
            ),
            (link_id, count),
        )
        free = cur.fetchall()
        if len(free) < count:
            where = f" at {holder}" if holder else ""
            raise KeyShortageError(
                f"not enough key on link {link_id}{where}: {count} units needed, {len(free)} available",
                [{"link_id": link_id, "units_needed": count, "units_available": len(free)}],
            )
        return list(free)

    def pending(self, link_id: str, limit: int) -> list[Reservation]:
        """Return up to ``limit`` delivery records of ``link_id`` the peer has not confirmed, oldest first."""
        return [_reservation(r) for r in self.outbox(link_id, limit)]

    def outbox(self, link_id: str, limit: int) -> list[bytes]:
        """Return the JSON of up to ``limit`` unconfirmed delivery records of ``link_id``, oldest first."""
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT record FROM deliveries WHERE link_id = ? AND confirmed = 0 ORDER BY seq LIMIT ?"
                ),
                (link_id, limit),
            )
            return [bytes(row[0]) for row in cur.fetchall()]

    def confirm(self, request_ids: Sequence[uuid.UUID]) -> None:
        """Take delivery records out of the outbox: the peer holds them durably."""
        ids = [str(r) for r in request_ids]
        if ids:
            with self._transaction() as cur:
                cur.execute(
                    self._sql(f"UPDATE deliveries SET confirmed = 1 WHERE request_id IN ({_marks(ids)})"),
                    ids,
                )

    def lookup(self, link_id: str, key_ids: Sequence[uuid.UUID]) -> list[Reservation]:
        """Return the delivery records on ``link_id`` that contain any of ``key_ids`` (for a pull)."""
        wanted = [str(k) for k in key_ids]
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT DISTINCT d.seq, d.record FROM units u JOIN deliveries d ON d.seq = u.delivery "
                    f"WHERE d.link_id = ? AND u.unit_id IN ({_marks(wanted)}) ORDER BY d.seq"
                ),
                (link_id, *wanted),
            )
            records = [_reservation(bytes(row[1])) for row in cur.fetchall()]
        return [r for r in records if any(str(p.key_id) in wanted for p in r.keys)]

    # -- the slave side ---------------------------------------------------------------------------------

    def accept(self, reservation: Reservation) -> None:
        """Bind our copies of the peer's units to its keys; a repeated record is accepted once."""
        with self._transaction() as cur:
            cur.execute(
                self._sql("SELECT count(*) FROM keys WHERE request_id = ?"), (str(reservation.request_id),)
            )
            if int(cur.fetchall()[0][0]) == len(reservation.keys):
                return
            unit_ids = [str(u) for plan in reservation.keys for u in plan.unit_ids]
            found = len(self._free_peer_units(cur, unit_ids, reservation.link_id))
            if found != len(unit_ids):
                raise PeerError(
                    f"{len(unit_ids) - found} of {len(unit_ids)} units of request {reservation.request_id} "
                    "are not free here",
                    [{"link_id": reservation.link_id, "units_missing": len(unit_ids) - found}],
                )
            self._bind_reserved(cur, reservation)

    def awaiting(self, key_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """Return the key_IDs that name free units the peer allocates: keys it may have delivered already."""
        with self._transaction() as cur:
            return [uuid.UUID(u) for u in self._free_peer_units(cur, [str(k) for k in key_ids])]

    def take(self, key_ids: Sequence[uuid.UUID], *, master_sae: str, caller: str) -> list[DeliveredKey]:
        """Deliver ``key_ids`` to ``caller``, all or none; wipe each key once every slave has it."""
        wanted = [str(k) for k in key_ids]
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT key_id, role, master_sae, slaves, served, size_bits, state FROM keys "
                    f"WHERE key_id IN ({_marks(wanted)})"
                ),
                wanted,
            )
            rows = {row[0]: row for row in cur.fetchall()}
            self._refuse_master_side(cur, [k for k in wanted if k not in rows], caller)
            _check_take(wanted, rows, master_sae, caller)
            delivered = self._read_keys(cur, [(k, int(rows[k][5])) for k in wanted])
            self._mark_served(cur, [rows[k] for k in wanted], caller)
            return delivered

    # -- retention --------------------------------------------------------------------------------------

    def prune(self, *, now_s: float, retention_s: float, key_expiry_s: float, batch_rows: int) -> PruneReport:
        """Expire slave-side keys unused for ``key_expiry_s``; delete rows done for ``retention_s``.

        At most ``batch_rows`` keys are expired and ``batch_rows`` rows deleted per table, so one call
        holds the store's single writer briefly; a caller repeats it while a table filled its batch.
        Deleted: consumed (or expired) units and slave-side key rows, delivery records and relay records.
        Consumed material was zeroed in place already; SQLite's ``secure_delete`` zeroes the freed cells,
        and PostgreSQL's autovacuum reclaims the deleted tuples in the background.
        """
        cutoff = now_s - retention_s
        with self._transaction() as cur:
            cur.execute(
                self._sql("SELECT key_id FROM keys WHERE state <> 3 AND created_s < ? LIMIT ?"),
                (now_s - key_expiry_s, batch_rows),
            )
            expired = [str(row[0]) for row in cur.fetchall()]
            self._wipe_keys(cur, expired)
            units = self._prune_units(cur, cutoff, batch_rows)
            keys = self._deleted(cur, _PRUNE_KEYS, (cutoff, batch_rows))
            deliveries = self._deleted(cur, _PRUNE_DELIVERIES, (batch_rows, cutoff))
            relays = self._deleted(cur, _PRUNE_RELAYS, (cutoff, batch_rows))
        return PruneReport(len(expired), units, keys, deliveries, relays)

    def _prune_units(self, cur: Cursor, cutoff: float, limit: int) -> int:
        """Delete up to ``limit`` consumed units, oldest first in each half of each link, done by ``cutoff``.

        Units are consumed about in the order of ``seq`` (each end allocates its oldest free units
        first); one consumed late (a key its slave took just before it expired) holds back the newer
        ones behind it by at most ``key_expiry_s``.
        """
        cur.execute("SELECT link_id FROM link_counts")
        left = limit
        for (link_id,) in cur.fetchall():
            for owned in (0, 1):
                if left > 0:
                    left -= self._deleted(cur, _PRUNE_UNITS, (link_id, owned, left, cutoff))
        return limit - left

    def _deleted(self, cur: Cursor, statement: str, params: Sequence[Any]) -> int:
        cur.execute(self._sql(statement), params)
        return max(cur.rowcount, 0)

    # -- private helpers --------------------------------------------------------------------------------

    def _bind_reserved(self, cur: Cursor, reservation: Reservation) -> None:
        """Write the slave-side key rows of a record and reserve our copies of its units for them."""
        now, slaves = time.time(), json.dumps(list(reservation.slave_saes))
        request, link, master = str(reservation.request_id), reservation.link_id, reservation.master_sae
        state = int(UnitState.RESERVED)
        cur.executemany(
            self._sql(
                "INSERT INTO keys (key_id, request_id, ord, link_id, role, master_sae, slaves, served, "
                "size_bits, state, created_s) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?)"
            ),
            [
                (str(p.key_id), request, i, link, _SLAVE_SIDE, master, slaves, p.size_bits, state, now)
                for i, p in enumerate(reservation.keys)
            ],
        )
        cur.executemany(
            self._sql("UPDATE units SET state = ?, key_id = ?, pos = ? WHERE unit_id = ?"),
            [(state, str(p.key_id), j, str(u)) for p in reservation.keys for j, u in enumerate(p.unit_ids)],
        )
        self.count_units(cur, link, free=-sum(len(p.unit_ids) for p in reservation.keys))

    def _free_peer_units(self, cur: Cursor, unit_ids: list[str], link_id: str | None = None) -> list[str]:
        """Return the ``unit_ids`` that are free units the peer allocates (on ``link_id`` if given).

        The rows are found by their unique unit_id and filtered here: given the state columns as well,
        SQLite's planner may pick the free-unit index and scan every free unit of the link.
        """
        cur.execute(
            self._sql(
                f"SELECT unit_id, link_id, owned, state FROM units WHERE unit_id IN ({_marks(unit_ids)})"
            ),
            unit_ids,
        )
        return [
            unit_id
            for unit_id, link, owned, state in cur.fetchall()
            if owned == 0 and state == UnitState.AVAILABLE and link_id in (None, link)
        ]

    def _consume_range(
        self, cur: Cursor, link_id: str, seqs: tuple[int, int], delivery: int, count: int
    ) -> None:
        """Wipe our free units of ``link_id`` whose ``seq`` lies in ``seqs``; bind them to a record."""
        cur.execute(
            self._sql(
                f"UPDATE units SET state = 3, delivery = ?, done_s = ?, nonce = {self._zeros('nonce')}, "
                f"material = {self._zeros('material')} "
                "WHERE link_id = ? AND owned = 1 AND state = 0 AND seq BETWEEN ? AND ?"
            ),
            (delivery, time.time(), link_id, *seqs),
        )
        if cur.rowcount != count:
            raise StoreError(f"{cur.rowcount} units changed where {count} were read; nothing was delivered")
        self.count_units(cur, link_id, consumed=count, free=-count, owned_free=-count)

    def _refuse_master_side(self, cur: Cursor, unknown: list[str], caller: str) -> None:
        """401 for key_IDs this KME delivered to a master SAE: they are never handed out again here."""
        if not unknown:
            return
        cur.execute(
            self._sql(
                f"SELECT unit_id FROM units WHERE unit_id IN ({_marks(unknown)}) AND delivery IS NOT NULL"
            ),
            unknown,
        )
        delivered = [row[0] for row in cur.fetchall()]
        if delivered and len(delivered) == len(unknown):
            raise UnauthorizedError(f"SAE {caller!r} may not retrieve key {delivered[0]}")

    def _read_keys(self, cur: Cursor, keys: list[tuple[str, int]]) -> list[DeliveredKey]:
        ids = [k for k, _ in keys]
        cur.execute(
            self._sql(
                "SELECT key_id, unit_id, nonce, material FROM units "
                f"WHERE key_id IN ({_marks(ids)}) ORDER BY pos"
            ),
            ids,
        )
        parts: dict[str, list[Any]] = {k: [] for k in ids}
        for key_id, unit_id, nonce, sealed in cur.fetchall():
            parts[key_id].append((nonce, sealed, unit_id))
        return [
            DeliveredKey(uuid.UUID(k), b"".join(self._master_key.open_many(parts[k]))[: size // 8])
            for k, size in keys
        ]

    def _wipe_keys(self, cur: Cursor, key_ids: list[str]) -> None:
        """Consume the units of slave-side keys (taken by every slave, or expired) and their key rows."""
        if not key_ids:
            return
        marks, now = _marks(key_ids), time.time()
        cur.execute(
            self._sql(
                f"SELECT link_id, count(*) FROM units WHERE key_id IN ({marks}) AND state <> 3 "
                "GROUP BY link_id"
            ),
            key_ids,
        )
        consumed = cur.fetchall()
        cur.execute(
            self._sql(
                f"UPDATE units SET state = 3, done_s = ?, nonce = {self._zeros('nonce')}, "
                f"material = {self._zeros('material')} "
                f"WHERE key_id IN ({marks})"
            ),
            [now, *key_ids],
        )
        cur.execute(
            self._sql(f"UPDATE keys SET state = 3, done_s = ? WHERE key_id IN ({marks})"), [now, *key_ids]
        )
        for link_id, count in consumed:
            self.count_units(cur, link_id, consumed=int(count))

    def _mark_served(self, cur: Cursor, rows: list[Any], caller: str) -> None:
        finished: list[str] = []
        for row in rows:
            served = [*json.loads(row[4]), caller]
            if set(served) >= set(json.loads(row[3])):
                finished.append(row[0])
            state = int(UnitState.DELIVERED)
            cur.execute(
                self._sql("UPDATE keys SET served = ?, state = ? WHERE key_id = ?"),
                (json.dumps(served), state, row[0]),
            )
            cur.execute(self._sql("UPDATE units SET state = ? WHERE key_id = ?"), (state, row[0]))
        self._wipe_keys(cur, finished)


def _marks(items: Sequence[object] | set[str]) -> str:
    return ", ".join("?" * len(items))


def _record_json(head: tuple[str, str, str, list[str]], groups: list[list[str]], size_bits: int) -> bytes:
    """The delivery record as the peer receives it (``kx_models.ReservationMessage``), from the unit IDs."""
    request, link, master, slaves = head
    keys = [{"key_id": g[0], "unit_ids": g, "size_bits": size_bits} for g in groups]
    return orjson.dumps(
        {"request_id": request, "link_id": link, "master_sae": master, "slave_saes": slaves, "keys": keys}
    )


def _reservation(record: bytes) -> Reservation:
    """Rebuild a stored delivery record from its JSON."""
    r = orjson.loads(record)
    plans = tuple(
        KeyPlan(uuid.UUID(k["key_id"]), tuple(uuid.UUID(u) for u in k["unit_ids"]), int(k["size_bits"]))
        for k in r["keys"]
    )
    head = uuid.UUID(r["request_id"]), r["link_id"], r["master_sae"], tuple(r["slave_saes"])
    return Reservation(*head, plans)


def _delivered(
    head: tuple[str, str, str, list[str]],
    groups: list[list[str]],
    materials: list[bytes],
    per_key: int,
    size_bits: int,
) -> tuple[Reservation, list[DeliveredKey]]:
    """The record and the keys of a delivery; each key's unit materials are joined once and cut to size."""
    plans, keys, cut = [], [], size_bits // 8
    for i, group in enumerate(groups):
        ids = tuple(uuid.UUID(u) for u in group)
        plans.append(KeyPlan(ids[0], ids, size_bits))
        parts = materials[i * per_key : (i + 1) * per_key]
        keys.append(DeliveredKey(ids[0], (parts[0] if per_key == 1 else b"".join(parts))[:cut]))
    request, link, master, slaves = head
    return Reservation(uuid.UUID(request), link, master, tuple(slaves), tuple(plans)), keys


def _check_take(wanted: list[str], rows: dict[str, Any], master_sae: str, caller: str) -> None:
    """Refuse a dec_keys request unless every key is here, for this caller, and not yet taken by it."""
    if len(set(wanted)) != len(wanted):
        raise KeysNotFoundError([{"reason": "a key_ID is requested twice"}])
    missing = [k for k in wanted if k not in rows]
    if missing:
        raise KeysNotFoundError([{"key_ID": k} for k in missing])
    for key_id in wanted:
        _, role, master, slaves, served, _, state = rows[key_id]
        if role == _MASTER_SIDE or master != master_sae or caller not in json.loads(slaves):
            raise UnauthorizedError(f"SAE {caller!r} may not retrieve key {key_id}")
        if state == UnitState.CONSUMED or caller in json.loads(served):
            raise KeysNotFoundError([{"key_ID": key_id}])
