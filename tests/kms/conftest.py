"""Fixtures of the KMS tests: key stores on both backends, KeyBlocks shared by two ends."""

from __future__ import annotations

import functools
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from openqci.keysource import KeyBlock
from openqci.kms.config import StoreConfig
from openqci.kms.crypto import MasterKey
from openqci.kms.postgres_store import PostgresKeyStore
from openqci.kms.sqlite_store import SqliteKeyStore
from openqci.kms.sqlstore import SqlKeyStore
from tests.support import require_service

PG_URL = os.environ.get("OPENQCI_TEST_PG_URL", "host=127.0.0.1 port=5432 dbname=test user=postgres")

StoreFactory = Callable[[], SqlKeyStore]


@functools.cache
def _postgres_reachable() -> bool:
    """Whether the server at :data:`PG_URL` (``OPENQCI_TEST_PG_URL``) takes a connection (asked once)."""
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def make_block(link_id: str = "link-ab", size_bits: int = 4096) -> KeyBlock:
    """A KeyBlock of fresh random bits, as a link would hand to both of its ends."""
    return KeyBlock(link_id, uuid.uuid4(), os.urandom(-(-size_bits // 8)), size_bits, 0.02, 1e-10)


class Backend:
    """The key-store backend of one test: the ``store`` section of each KME's configuration.

    On SQLite each KME gets its own file next to its configuration; on PostgreSQL its own fresh schema
    at :data:`PG_URL`, dropped when the test ends (:meth:`drop`).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.schemas: list[str] = []

    def store(self, kme: str) -> dict[str, str]:
        """A new store for KME ``kme``: its configuration's ``store`` section (paths relative to it)."""
        if self.name == "sqlite":
            return {"sqlite": f"{kme}.sqlite"}
        schema = f"t_{uuid.uuid4().hex[:16]}"
        self.schemas.append(schema)
        return {"postgres": PG_URL, "schema": schema}

    @staticmethod
    def open(section: dict[str, str], base: Path, master_key: MasterKey) -> SqlKeyStore:
        """Open the store a ``store`` section names, as a KME would (a SQLite path is under ``base``)."""
        if "sqlite" in section:
            return SqliteKeyStore(base / section["sqlite"], master_key)
        return PostgresKeyStore(section["postgres"], master_key, schema=section["schema"])

    def drop(self) -> None:
        """Drop the PostgreSQL schemas handed out (the stores in them must be closed)."""
        if not self.schemas:
            return
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            conn.execute(f"DROP SCHEMA IF EXISTS {', '.join(self.schemas)} CASCADE")
        self.schemas.clear()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Run the test on SQLite and on PostgreSQL (skipped when unreachable, a failure under CI=true)."""
    if request.param == "postgres":
        require_service("PostgreSQL", _postgres_reachable(), f"no connection to {PG_URL!r}")
    chosen = Backend(request.param)
    yield chosen
    chosen.drop()


def query_store(store: StoreConfig, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (``?`` placeholders) in a KME's store, read over a connection of its own."""
    if store.sqlite is not None:
        with closing(sqlite3.connect(store.sqlite)) as conn:
            return list(conn.execute(sql, params).fetchall())
    import psycopg

    assert store.postgres is not None
    with psycopg.connect(store.postgres, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {store.schema_name}")
        return list(conn.execute(sql.replace("?", "%s"), params).fetchall())


@pytest.fixture
def store_factory(backend: Backend, tmp_path) -> Iterator[StoreFactory]:
    """Make key stores on one backend; each call gives a separate store (another KME's database)."""
    made: list[SqlKeyStore] = []

    def make() -> SqlKeyStore:
        store = backend.open(backend.store(f"kme{len(made)}"), tmp_path, MasterKey.generate())
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop uvicorn uses."""
    return "asyncio"
