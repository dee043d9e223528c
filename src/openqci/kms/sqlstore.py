"""The SQL core shared by the SQLite and PostgreSQL key stores.

Every public method is one transaction. Inside :meth:`SqlKeyStore.group` the methods called on the same
thread become savepoints of one transaction committed at the end (group commit): one durable commit
serves many requests, and a request that fails rolls back only its own savepoint. The dialects differ only
in how a transaction starts (SQLite's ``BEGIN IMMEDIATE`` takes the write lock up front, so two
transactions never read the same free units; PostgreSQL locks the chosen rows with
``FOR UPDATE SKIP LOCKED``), in parameter style and in the DDL.

Wiping overwrites the ciphertext and nonce with zero bytes in place (SQLite also runs with
``secure_delete``), so consumed material is gone, not just flagged. The master side's key rows and unit
positions are kept after the wipe: they are the delivery record the peer KME is told about (pushed from
the outbox, or pulled on demand).
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

from openqci.kms.crypto import MasterKey
from openqci.kms.errors import KeyShortageError, KeysNotFoundError, PeerError, UnauthorizedError
from openqci.kms.records import DeliveredKey, KeyPlan, Reservation, UnitState
from openqci.kms.units import cut_block, join_units, units_per_key
from openqci.link.keyblock import KeyBlock

__all__ = ["Cursor", "SqlKeyStore"]

_MASTER_SIDE = 0
_SLAVE_SIDE = 1


class Cursor(Protocol):
    """The part of a DB-API cursor the core uses."""

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

    def add_block(self, block: KeyBlock, *, unit_bits: int, parity: int) -> int:
        """Cut ``block`` into sealed units and insert those not stored yet; return how many were new."""
        rows = []
        for unit in cut_block(block, unit_bits):
            unit_id = str(unit.unit_id)
            nonce, sealed = self._master_key.seal(unit.material, unit_id.encode())
            owned = int(unit.index % 2 == parity)
            rows.append((unit_id, block.link_id, str(block.block_id), unit.index, owned, nonce, sealed))
        with self._transaction() as cur:
            cur.execute(self._sql("SELECT count(*) FROM units WHERE block_id = ?"), (str(block.block_id),))
            before = int(cur.fetchall()[0][0])
            cur.executemany(
                self._sql(
                    "INSERT INTO units (unit_id, link_id, block_id, idx, owned, state, nonce, material) "
                    "VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (unit_id) DO NOTHING"
                ),
                rows,
            )
            cur.execute(self._sql("SELECT count(*) FROM units WHERE block_id = ?"), (str(block.block_id),))
            return int(cur.fetchall()[0][0]) - before

    def available_units(self, link_id: str) -> int:
        """Return the units of ``link_id`` this end may still allocate."""
        with self._transaction() as cur:
            cur.execute(
                self._sql("SELECT count(*) FROM units WHERE link_id = ? AND owned = 1 AND state = 0"),
                (link_id,),
            )
            return int(cur.fetchall()[0][0])

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
        """Take the oldest free units for ``number`` keys, read and wipe them, and queue the record."""
        per_key = units_per_key(size_bits, unit_bits)
        needed = number * per_key
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT unit_id, nonce, material FROM units WHERE link_id = ? AND owned = 1 "
                    f"AND state = 0 ORDER BY seq LIMIT ?{self.lock_clause}"
                ),
                (link_id, needed),
            )
            free = cur.fetchall()
            if len(free) < needed:
                raise KeyShortageError(
                    f"not enough key on link {link_id}: {needed} units needed, {len(free)} available",
                    [{"link_id": link_id, "units_needed": needed, "units_available": len(free)}],
                )
            chunks = [free[i * per_key : (i + 1) * per_key] for i in range(number)]
            plans = tuple(
                KeyPlan(uuid.UUID(c[0][0]), tuple(uuid.UUID(u[0]) for u in c), size_bits) for c in chunks
            )
            reservation = Reservation(request_id, link_id, master_sae, tuple(slave_saes), plans)
            keys = [
                DeliveredKey(p.key_id, self._open_units(c, size_bits))
                for p, c in zip(plans, chunks, strict=True)
            ]
            self._bind(cur, reservation, _MASTER_SIDE, UnitState.CONSUMED)
            cur.execute(
                self._sql("INSERT INTO outbox (request_id, link_id) VALUES (?, ?)"),
                (str(request_id), link_id),
            )
            return reservation, keys

    def pending(self, link_id: str, limit: int) -> list[Reservation]:
        """Return up to ``limit`` delivery records of ``link_id`` the peer has not confirmed, oldest first."""
        with self._transaction() as cur:
            cur.execute(
                self._sql("SELECT request_id FROM outbox WHERE link_id = ? ORDER BY seq LIMIT ?"),
                (link_id, limit),
            )
            return self._load(cur, [row[0] for row in cur.fetchall()])

    def confirm(self, request_ids: Sequence[uuid.UUID]) -> None:
        """Drop delivery records from the outbox: the peer holds them durably."""
        ids = [str(r) for r in request_ids]
        if ids:
            with self._transaction() as cur:
                cur.execute(self._sql(f"DELETE FROM outbox WHERE request_id IN ({_marks(ids)})"), ids)

    def lookup(self, link_id: str, key_ids: Sequence[uuid.UUID]) -> list[Reservation]:
        """Return the delivery records on ``link_id`` that contain any of ``key_ids`` (for a pull)."""
        ids = [str(k) for k in key_ids]
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT DISTINCT request_id FROM keys WHERE role = 0 AND link_id = ? "
                    f"AND key_id IN ({_marks(ids)})"
                ),
                (link_id, *ids),
            )
            return self._load(cur, [row[0] for row in cur.fetchall()])

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
            self._bind(cur, reservation, _SLAVE_SIDE, UnitState.RESERVED)

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
            _check_take(wanted, rows, master_sae, caller)
            delivered = self._read_keys(cur, [(k, int(rows[k][5])) for k in wanted])
            self._mark_served(cur, [rows[k] for k in wanted], caller)
            return delivered

    # -- private helpers --------------------------------------------------------------------------------

    def _bind(self, cur: Cursor, reservation: Reservation, role: int, state: UnitState) -> None:
        """Write the key rows of a record and point its units at them; consumed units are wiped as well."""
        now, slaves = time.time(), json.dumps(list(reservation.slave_saes))
        request, link, master = str(reservation.request_id), reservation.link_id, reservation.master_sae
        wipe = (
            f", nonce = {self._zeros('nonce')}, material = {self._zeros('material')}"
            if state == UnitState.CONSUMED
            else ""
        )
        cur.executemany(
            self._sql(
                "INSERT INTO keys (key_id, request_id, ord, link_id, role, master_sae, slaves, served, "
                "size_bits, state, created_s) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?)"
            ),
            [
                (str(p.key_id), request, i, link, role, master, slaves, p.size_bits, int(state), now)
                for i, p in enumerate(reservation.keys)
            ],
        )
        cur.executemany(
            self._sql(f"UPDATE units SET state = ?, key_id = ?, pos = ?{wipe} WHERE unit_id = ?"),
            [
                (int(state), str(p.key_id), j, str(u))
                for p in reservation.keys
                for j, u in enumerate(p.unit_ids)
            ],
        )

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

    def _load(self, cur: Cursor, request_ids: list[str]) -> list[Reservation]:
        """Rebuild master-side delivery records from their key rows and unit positions."""
        if not request_ids:
            return []
        cur.execute(
            self._sql(
                "SELECT k.request_id, k.link_id, k.master_sae, k.slaves, k.key_id, k.size_bits, u.unit_id "
                "FROM keys k JOIN units u ON u.key_id = k.key_id "
                f"WHERE k.role = 0 AND k.request_id IN ({_marks(request_ids)}) ORDER BY k.ord, u.pos"
            ),
            request_ids,
        )
        heads: dict[str, tuple[str, str, str]] = {}
        plans: dict[str, dict[str, tuple[int, list[uuid.UUID]]]] = {r: {} for r in request_ids}
        for request, link, master, slaves, key_id, size, unit_id in cur.fetchall():
            heads[request] = (link, master, slaves)
            plans[request].setdefault(key_id, (int(size), []))[1].append(uuid.UUID(unit_id))
        return [
            Reservation(
                uuid.UUID(r),
                heads[r][0],
                heads[r][1],
                tuple(json.loads(heads[r][2])),
                tuple(KeyPlan(uuid.UUID(k), tuple(units), size) for k, (size, units) in plans[r].items()),
            )
            for r in request_ids
            if r in heads
        ]

    def _open_units(self, rows: Sequence[Any], size_bits: int) -> bytes:
        parts = [
            self._master_key.open(bytes(nonce), bytes(sealed), unit_id.encode())
            for unit_id, nonce, sealed in rows
        ]
        return join_units(parts, size_bits)

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
            parts[key_id].append((unit_id, nonce, sealed))
        return [DeliveredKey(uuid.UUID(k), self._open_units(parts[k], size)) for k, size in keys]

    def _wipe_keys(self, cur: Cursor, key_ids: list[str]) -> None:
        if not key_ids:
            return
        cur.execute(
            self._sql(
                f"UPDATE units SET state = 3, nonce = {self._zeros('nonce')}, "
                f"material = {self._zeros('material')} "
                f"WHERE key_id IN ({_marks(key_ids)})"
            ),
            key_ids,
        )
        cur.execute(self._sql(f"UPDATE keys SET state = 3 WHERE key_id IN ({_marks(key_ids)})"), key_ids)

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


def _marks(items: Sequence[object]) -> str:
    return ", ".join("?" * len(items))


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
