"""The embedded key store: one SQLite file per KME, in WAL mode.

``BEGIN IMMEDIATE`` takes the database's write lock when a transaction starts, so two deliveries (from
two threads or two processes) can never pick the same free units. ``synchronous=FULL`` makes a committed
transaction survive a power cut, not only a killed process: the KME commits groups of requests at once
(:class:`openqci.kms.committer.GroupCommitter`), so the fsync (about 0.2 ms here) is paid once per group,
not once per request, and ``NORMAL``'s weaker promise buys little. ``secure_delete`` zeroes freed pages.
The file is created with mode 0600 before SQLite opens it; SQLite gives its write-ahead log and shared
memory files the database file's mode, so none of the three is readable by other users.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from openqci.kms.crypto import MasterKey
from openqci.kms.errors import StoreError
from openqci.kms.schema import table_definitions
from openqci.kms.sqlstore import Cursor, SqlKeyStore

__all__ = ["SqliteKeyStore"]

_SCHEMA = table_definitions(serial_key="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB", real="REAL")


class SqliteKeyStore(SqlKeyStore):
    """Key store in one SQLite file (or ``:memory:``); safe to share between threads of one process."""

    def __init__(self, path: Path | str, master_key: MasterKey) -> None:
        super().__init__(master_key)
        try:
            if str(path) != ":memory:":
                os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            self._conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "foreign_keys=ON"):
                self._conn.execute(f"PRAGMA {pragma}")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise StoreError(f"cannot open SQLite key store {path}: {error}") from None
        self._checkpointer = _Checkpointer(path) if str(path) != ":memory:" else None
        if self._checkpointer is not None:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")

    @contextmanager
    def _begin(self) -> Iterator[Cursor]:
        cur = self._conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")

    def _sql(self, text: str) -> str:
        return text

    def _zeros(self, column: str) -> str:
        return f"zeroblob(length({column}))"

    def close(self) -> None:
        """Close the database file (after a last checkpoint)."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._conn.close()

    def __repr__(self) -> str:
        return "SqliteKeyStore()"


class _Checkpointer:
    """Copies the write-ahead log into the database from a thread of its own.

    SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so one request in
    a few hundred pays for copying and syncing the whole log: that is the tail of the enc_keys latency.
    A passive checkpoint on a second connection takes no write lock, so the writer's commits never wait
    for it; a committed transaction is durable in the log either way.
    """

    def __init__(self, path: Path | str, interval_s: float = 0.5) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
        self._stop = threading.Event()
        self._interval_s = interval_s
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._checkpoint("PASSIVE")

    def _checkpoint(self, mode: str) -> None:
        try:
            self._conn.execute(f"PRAGMA wal_checkpoint({mode})")
        except sqlite3.Error:
            return  # busy or closing: the next round (or the next open) copies the log

    def stop(self) -> None:
        """Stop the thread, copy what is left and close its connection."""
        self._stop.set()
        self._thread.join()
        self._checkpoint("PASSIVE")
        self._conn.close()
