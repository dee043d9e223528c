"""The SQL core shared by the SQLite and PostgreSQL key stores.

Every public method is one transaction. The dialects differ only in how a transaction starts (SQLite's
``BEGIN IMMEDIATE`` takes the write lock up front, so two reservations never read the same free units;
PostgreSQL locks the chosen rows with ``FOR UPDATE SKIP LOCKED``), in parameter style and in the DDL.

Wiping overwrites the ciphertext and nonce with zero bytes in place (SQLite also runs with
``secure_delete``), so consumed material is gone, not just flagged.
"""

from __future__ import annotations

import json
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from openqci.kms.crypto import MasterKey
from openqci.kms.errors import KeyShortageError, KeysNotFoundError, PeerError, UnauthorizedError
from openqci.kms.records import DeliveredKey, KeyPlan, Reservation, UnitState
from openqci.kms.units import cut_block, join_units, units_per_key
from openqci.link.keyblock import KeyBlock

__all__ = ["SqlKeyStore"]

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

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Cursor]:
        """Open one write transaction and yield its cursor; commit on success, roll back on error."""

    @abstractmethod
    def _sql(self, text: str) -> str:
        """Translate ``?`` placeholders to the dialect's."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

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
        """Reserve the oldest free units of ``link_id`` for ``number`` keys, in one transaction."""
        per_key = units_per_key(size_bits, unit_bits)
        needed = number * per_key
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT unit_id FROM units WHERE link_id = ? AND owned = 1 AND state = 0 "
                    f"ORDER BY seq LIMIT ?{self.lock_clause}"
                ),
                (link_id, needed),
            )
            free = [row[0] for row in cur.fetchall()]
            if len(free) < needed:
                raise KeyShortageError(
                    f"not enough key on link {link_id}: {needed} units needed, {len(free)} available",
                    [{"link_id": link_id, "units_needed": needed, "units_available": len(free)}],
                )
            plans = tuple(
                KeyPlan(
                    uuid.UUID(free[i * per_key]),
                    tuple(uuid.UUID(u) for u in free[i * per_key : (i + 1) * per_key]),
                    size_bits,
                )
                for i in range(number)
            )
            reservation = Reservation(request_id, link_id, master_sae, tuple(slave_saes), plans)
            self._bind(cur, reservation, _MASTER_SIDE)
            return reservation

    def deliver_to_master(self, request_id: uuid.UUID) -> list[DeliveredKey]:
        """Read and wipe the keys of a reserved request; they now live only with the master SAE."""
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "SELECT key_id, size_bits FROM keys "
                    "WHERE request_id = ? AND role = 0 AND state = 1 ORDER BY ord"
                ),
                (str(request_id),),
            )
            keys = cur.fetchall()
            if not keys:
                raise PeerError(f"request {request_id} has no reserved keys left to deliver")
            delivered = self._read_keys(cur, [(k[0], int(k[1])) for k in keys])
            self._wipe_keys(cur, [k[0] for k in keys])
            return delivered

    def abandon(self, request_id: uuid.UUID) -> int:
        """Wipe the keys of a request that no SAE has received (state RESERVED); return their number."""
        with self._transaction() as cur:
            cur.execute(
                self._sql("SELECT key_id FROM keys WHERE request_id = ? AND state = 1"), (str(request_id),)
            )
            key_ids = [row[0] for row in cur.fetchall()]
            self._wipe_keys(cur, key_ids)
            return len(key_ids)

    def open_requests(self) -> list[uuid.UUID]:
        """Return master-side requests still reserved: started, never delivered."""
        with self._transaction() as cur:
            cur.execute(self._sql("SELECT DISTINCT request_id FROM keys WHERE role = 0 AND state = 1"))
            return [uuid.UUID(row[0]) for row in cur.fetchall()]

    # -- the slave side ---------------------------------------------------------------------------------

    def accept(self, reservation: Reservation) -> None:
        """Bind our copies of the peer's units to its keys; a repeated request is accepted once."""
        with self._transaction() as cur:
            cur.execute(
                self._sql("SELECT count(*) FROM keys WHERE request_id = ?"), (str(reservation.request_id),)
            )
            if int(cur.fetchall()[0][0]) == len(reservation.keys):
                return
            unit_ids = [str(u) for plan in reservation.keys for u in plan.unit_ids]
            cur.execute(
                self._sql(
                    f"SELECT count(*) FROM units WHERE unit_id IN ({_marks(unit_ids)}) "
                    "AND link_id = ? AND owned = 0 AND state = 0"
                ),
                (*unit_ids, reservation.link_id),
            )
            found = int(cur.fetchall()[0][0])
            if found != len(unit_ids):
                raise PeerError(
                    f"{len(unit_ids) - found} of {len(unit_ids)} units of request {reservation.request_id} "
                    "are not free here",
                    [{"link_id": reservation.link_id, "units_missing": len(unit_ids) - found}],
                )
            self._bind(cur, reservation, _SLAVE_SIDE)

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

    def _bind(self, cur: Cursor, reservation: Reservation, role: int) -> None:
        now = time.time()
        slaves = json.dumps(list(reservation.slave_saes))
        cur.executemany(
            self._sql(
                "INSERT INTO keys (key_id, request_id, ord, link_id, role, master_sae, slaves, served, "
                "size_bits, state, created_s) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, 1, ?)"
            ),
            [
                (
                    str(p.key_id),
                    str(reservation.request_id),
                    i,
                    reservation.link_id,
                    role,
                    reservation.master_sae,
                    slaves,
                    p.size_bits,
                    now,
                )
                for i, p in enumerate(reservation.keys)
            ],
        )
        cur.executemany(
            self._sql("UPDATE units SET state = 1, key_id = ?, pos = ? WHERE unit_id = ?"),
            [(str(p.key_id), j, str(u)) for p in reservation.keys for j, u in enumerate(p.unit_ids)],
        )

    def _read_keys(self, cur: Cursor, keys: list[tuple[str, int]]) -> list[DeliveredKey]:
        ids = [k for k, _ in keys]
        cur.execute(
            self._sql(
                "SELECT key_id, unit_id, nonce, material FROM units "
                f"WHERE key_id IN ({_marks(ids)}) ORDER BY pos"
            ),
            ids,
        )
        parts: dict[str, list[bytes]] = {k: [] for k in ids}
        for key_id, unit_id, nonce, sealed in cur.fetchall():
            parts[key_id].append(self._master_key.open(bytes(nonce), bytes(sealed), unit_id.encode()))
        return [DeliveredKey(uuid.UUID(k), join_units(parts[k], size)) for k, size in keys]

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

    def _zeros(self, column: str) -> str:
        return f"zeroblob(length({column}))"


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
