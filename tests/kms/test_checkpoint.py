"""The SQLite store copies its write-ahead log into the database in the background, not inside commits."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

from openqci.keysource import KeyBlock
from openqci.kms.crypto import MasterKey
from openqci.kms.sqlite_store import SqliteKeyStore


def _block() -> KeyBlock:
    return KeyBlock("link-ab", uuid.uuid4(), os.urandom(1 << 16), 8 << 16, 0.02, 1e-10)


def test_commits_leave_the_log_to_the_background_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "kme.sqlite"
    store = SqliteKeyStore(path, MasterKey.generate())
    try:
        before = path.stat().st_size
        store.add_block(_block(), unit_bits=256, parity=0)
        # The writer's own commits never checkpoint: the database file has not grown yet.
        assert path.stat().st_size == before
        deadline = time.monotonic() + 10.0
        while path.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size > before
    finally:
        store.close()


def test_a_closed_store_reopens_with_every_unit(tmp_path: Path) -> None:
    path = tmp_path / "kme.sqlite"
    key = MasterKey.generate()
    store = SqliteKeyStore(path, key)
    added = store.add_block(_block(), unit_bits=256, parity=0)
    store.close()
    with sqlite3.connect(path) as check:
        (count,) = check.execute("SELECT COUNT(*) FROM units").fetchone()
    assert count == added > 0


def test_a_second_store_on_the_same_file_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    # A KME process opens its store twice (writer and reader). Opening the second must not drop the
    # first one's POSIX locks, or another process closing its connection deletes the write-ahead log.
    path = tmp_path / "kme.sqlite"
    key = MasterKey.generate()
    writer = SqliteKeyStore(path, key)
    reader = SqliteKeyStore(path, key)
    try:
        writer.add_block(_block(), unit_bits=256, parity=0)
        wal = path.with_name(path.name + "-wal")
        assert wal.stat().st_size > 0
        code = (
            f"import sqlite3; c = sqlite3.connect({str(path)!r}); c.execute('SELECT 1 FROM units'); c.close()"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        assert wal.exists()
        assert wal.stat().st_size > 0
        writer.add_block(_block(), unit_bits=256, parity=0)
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        reader.close()
        writer.close()
