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
from openqci.kms.schema import table_definitions
from openqci.kms.sqlstore import Cursor, SqlKeyStore

__all__ = ["PostgresKeyStore"]

_SCHEMA = table_definitions(serial_key="BIGSERIAL PRIMARY KEY", blob="BYTEA", real="DOUBLE PRECISION")

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
            # One opener at a time creates the schema and its tables: of two processes opening a new
            # store together (a KME and its key-file feeder), CREATE SCHEMA IF NOT EXISTS would fail in
            # one with a duplicate key once the other committed the same schema.
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(7140014)")
                self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                self._conn.execute(f"SET search_path TO {schema}")
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._conn.execute(statement)
            self.backfill_counts()
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
