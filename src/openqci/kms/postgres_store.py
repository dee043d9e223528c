"""The PostgreSQL key store (psycopg 3), for KMEs that share a database server.

Deliveries lock the chosen free units with ``FOR UPDATE SKIP LOCKED``, so concurrent requests take
disjoint units without waiting on each other. All tables live in one schema, created on first use, so
several KMEs (or test runs) can share one database. Overwriting a row in PostgreSQL leaves the old tuple
until vacuum; the ciphertext is sealed under the master key, which is what protects it there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from openqci.kms.crypto import MasterKey
from openqci.kms.errors import ConfigError, StoreError
from openqci.kms.sqlstore import Cursor, SqlKeyStore

__all__ = ["PostgresKeyStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS units (
    seq BIGSERIAL PRIMARY KEY,
    unit_id TEXT NOT NULL UNIQUE,
    link_id TEXT NOT NULL,
    block_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    owned INTEGER NOT NULL,
    state INTEGER NOT NULL,
    nonce BYTEA NOT NULL,
    material BYTEA NOT NULL,
    key_id TEXT,
    pos INTEGER,
    delivery BIGINT
);
CREATE INDEX IF NOT EXISTS units_free ON units (link_id, owned, state, seq);
CREATE INDEX IF NOT EXISTS units_block ON units (block_id);
CREATE INDEX IF NOT EXISTS units_key ON units (key_id);
CREATE TABLE IF NOT EXISTS keys (
    key_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    ord INTEGER NOT NULL,
    link_id TEXT NOT NULL,
    role INTEGER NOT NULL,
    master_sae TEXT NOT NULL,
    slaves TEXT NOT NULL,
    served TEXT NOT NULL,
    size_bits INTEGER NOT NULL,
    state INTEGER NOT NULL,
    created_s DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS keys_request ON keys (request_id);
CREATE TABLE IF NOT EXISTS deliveries (
    seq BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    link_id TEXT NOT NULL,
    record BYTEA NOT NULL,
    confirmed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_outbox ON deliveries (link_id, confirmed, seq);
CREATE TABLE IF NOT EXISTS relays (
    relay_id TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    outgoing TEXT,
    detail TEXT NOT NULL,
    created_s DOUBLE PRECISION NOT NULL
);
"""

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresKeyStore(SqlKeyStore):
    """Key store in a PostgreSQL schema; ``url`` is a libpq connection string."""

    lock_clause = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, master_key: MasterKey, *, schema: str = "openqci_kms") -> None:
        super().__init__(master_key)
        if not _SCHEMA_NAME.match(schema):
            raise ConfigError(f"store.schema: {schema!r} is not a plain lower-case SQL identifier")
        import psycopg

        try:
            self._conn: Any = psycopg.connect(url, autocommit=True)
            self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            self._conn.execute(f"SET search_path TO {schema}")
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(7140014)")
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._conn.execute(statement)
        except psycopg.Error as error:
            raise StoreError(f"cannot open PostgreSQL key store: {error}".strip()) from None

    @contextmanager
    def _begin(self) -> Iterator[Cursor]:
        with self._conn.transaction(), self._conn.cursor() as cur:
            yield cur

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def _zeros(self, column: str) -> str:
        return f"decode(repeat('00', length({column})), 'hex')"

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __repr__(self) -> str:
        return "PostgresKeyStore()"
