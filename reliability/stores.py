"""Invariants read from the key stores themselves: both link ends hold the same pool, consumed key is gone.

Stores are read over connections of their own (``tests.kms.conftest.query_store``) while the KMEs run.
Material at rest is sealed under each KME's master key, so comparing pools means opening both ends' units
with their master keys. Consumed key must be gone twice over: the row's material overwritten, and the
sealed bytes it had before no longer anywhere in the store's files (the SQLite database and its
write-ahead log), where anyone holding the master key file could open them.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from openqci.kms.config import KmeConfig
from openqci.kms.crypto import MasterKey
from reliability.outcome import Outcome
from tests.kms.conftest import query_store

__all__ = [
    "SealedSnapshot",
    "StoreUnreadableError",
    "check_pools",
    "check_wiped",
    "consumed_left_in_files",
    "integrity",
    "snapshot_sealed",
    "store_bytes",
    "store_files",
    "wal_bytes",
]

_UNITS = "SELECT unit_id, state, nonce, material FROM units WHERE link_id = ?"
CONSUMED = 3

SealedSnapshot = dict[str, bytes]
"""Unit ID to the sealed material a unit had when it was read (while it still held key)."""


class StoreUnreadableError(Exception):
    """A store could not be read (its database reported itself damaged)."""


def _units(config: KmeConfig, link: str) -> list[tuple[str, int, bytes, bytes]]:
    try:
        rows = query_store(config.store, _UNITS, (link,))
    except sqlite3.DatabaseError as error:
        raise StoreUnreadableError(f"{config.kme_id}'s store: {error}") from None
    return [(str(u), int(s), bytes(n), bytes(m)) for u, s, n, m in rows]


def integrity(config: KmeConfig) -> str:
    """SQLite's own verdict on a store file (``ok``, or the first problems); ``ok`` for PostgreSQL."""
    if config.store.sqlite is None:
        return "ok"
    try:
        rows = query_store(config.store, "PRAGMA integrity_check")
    except sqlite3.DatabaseError as error:
        return str(error)
    return "; ".join(str(r[0]) for r in rows[:3])


def check_pools(outcome: Outcome, ends: tuple[KmeConfig, KmeConfig], link: str) -> int:
    """Every unit both ends still hold opens to the same bytes at both; returns the units compared."""
    opened = []
    for config in ends:
        key = MasterKey.from_file(config.master_key_file)
        rows = [(n, m, u) for u, _, n, m in _units(config, link) if any(m)]
        opened.append(dict(zip((u for _, _, u in rows), key.open_many(rows), strict=True)))
    both = opened[0].keys() & opened[1].keys()
    differing = sum(opened[0][u] != opened[1][u] for u in both)
    if differing:
        outcome.violate(f"the two ends of {link} hold different bytes under the same unit ID")
    return len(both)


def check_wiped(outcome: Outcome, config: KmeConfig, link: str) -> int:
    """Consumed units have their material overwritten in the row; returns the consumed units seen."""
    consumed = [m for _, s, _, m in _units(config, link) if s == CONSUMED]
    if any(any(m) for m in consumed):
        outcome.violate(f"consumed units of {link} at {config.kme_id} still hold sealed material")
    return len(consumed)


def snapshot_sealed(config: KmeConfig, link: str) -> SealedSnapshot:
    """The sealed material of every unit that still holds key now."""
    return {u: m for u, _, _, m in _units(config, link) if any(m)}


def store_files(config: KmeConfig) -> list[Path]:
    """The files of a SQLite store (database, write-ahead log); none for PostgreSQL."""
    if config.store.sqlite is None:
        return []
    base = Path(config.store.sqlite)
    return [p for p in (base, base.with_name(base.name + "-wal")) if p.exists()]


def store_bytes(config: KmeConfig) -> int:
    """The size of a SQLite store's files together, in bytes (0 for PostgreSQL)."""
    return sum(p.stat().st_size for p in store_files(config))


def wal_bytes(config: KmeConfig) -> int:
    """The size of a SQLite store's write-ahead log, in bytes (0 if none, or on PostgreSQL)."""
    if config.store.sqlite is None:
        return 0
    wal = Path(str(config.store.sqlite) + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def consumed_left_in_files(
    outcome: Outcome,
    config: KmeConfig,
    link: str,
    before: SealedSnapshot,
    *,
    sample: int,
    rng: random.Random,
) -> tuple[int, int]:
    """Search the store's files for the former sealed bytes of up to ``sample`` units consumed since.

    Returns (units searched, units found). Found ones are a violation: the master key file opens them.
    """
    consumed = [u for u, s, _, _ in _units(config, link) if s == CONSUMED and u in before]
    chosen = rng.sample(consumed, min(sample, len(consumed)))
    data = [p.read_bytes() for p in store_files(config)]
    found = sum(any(before[u] in blob for blob in data) for u in chosen)
    if found:
        outcome.violate(
            f"sealed material of consumed units is still in {config.kme_id}'s store files (database or WAL)"
        )
    return len(chosen), found
