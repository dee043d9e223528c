"""Fixtures of the KMS tests: key stores on both backends, KeyBlocks shared by two ends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from openqci.keysource import KeyBlock
from openqci.kms.crypto import MasterKey
from openqci.kms.postgres_store import PostgresKeyStore
from openqci.kms.sqlite_store import SqliteKeyStore
from openqci.kms.sqlstore import SqlKeyStore
from tests.support import require_service

PG_URL = os.environ.get("OPENQCI_TEST_PG_URL", "host=127.0.0.1 port=5432 dbname=test user=postgres")

StoreFactory = Callable[[], SqlKeyStore]


def _postgres_reachable() -> bool:
    """Whether the server at :data:`PG_URL` (``OPENQCI_TEST_PG_URL``) takes a connection."""
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def make_block(link_id: str = "link-ab", size_bits: int = 4096) -> KeyBlock:
    """A KeyBlock of fresh random bits, as a link would hand to both of its ends."""
    return KeyBlock(link_id, uuid.uuid4(), os.urandom(-(-size_bits // 8)), size_bits, 0.02, 1e-10)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_factory(request: pytest.FixtureRequest, tmp_path) -> Iterator[StoreFactory]:
    """Make key stores on one backend; each call gives a separate store (another KME's database)."""
    made: list[SqlKeyStore] = []
    schemas: list[str] = []
    if request.param == "postgres":
        require_service("PostgreSQL", _postgres_reachable(), f"no connection to {PG_URL!r}")

    def make() -> SqlKeyStore:
        key = MasterKey.generate()
        if request.param == "sqlite":
            store: SqlKeyStore = SqliteKeyStore(tmp_path / f"kme{len(made)}.sqlite", key)
        else:
            schema = f"t_{uuid.uuid4().hex[:16]}"
            schemas.append(schema)
            store = PostgresKeyStore(PG_URL, key, schema=schema)
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()
    if schemas:
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, the loop uvicorn uses."""
    return "asyncio"
