"""The embedded key store: one SQLite file per KME, in WAL mode.

``BEGIN IMMEDIATE`` takes the database's write lock when a transaction starts, so two deliveries (from
two threads or two processes) can never pick the same free units. ``synchronous=FULL`` makes a committed
transaction survive a power cut, not only a killed process: the KME commits groups of requests at once
(:class:`openqci.kms.committer.GroupCommitter`), so the fsync (about 0.2 ms here) is paid once per group,
not once per request, and ``NORMAL``'s weaker promise buys little. ``secure_delete`` zeroes freed pages.
The file is created with mode 0600 before SQLite opens it; SQLite gives its write-ahead log and shared
memory files the database file's mode, so none of the three is readable by other users.

The write-ahead log is bounded by ``max_wal_bytes`` (``store.max_wal_bytes``). Passive checkpoints never
block the writer, but neither can they empty a log that a writer appends to without pause: the log only
restarts from its beginning once it has been copied whole, so under steady load it grew without end. The
checkpoint thread therefore watches the log's size and, past a quarter of the cap, runs a restarting
checkpoint: it copies the little the passive rounds left, and the next commit writes the log again from its
beginning. The file is not cut to zero (a truncating checkpoint did that): ``journal_size_limit`` trims it
back to a quarter of the cap at that restart, and the commits after it overwrite blocks the file already
has, whose ``fdatasync`` needs no change of the file's size on disk (0.15 against 0.45 ms each on this
project's development machine, and the truncation itself cost the writer a pause). SQLite's locks are not
fair, and a writer that begins its next transaction the moment it commits would starve the checkpoint's
wait for the write lock (measured: the log reached 25 MiB against a 4 MiB cap), so the writer yields: the
checkpoint closes a gate that this store's transactions pass before ``BEGIN IMMEDIATE``, waits for the
transaction in progress to end (the writer says so), and opens the gate again when done. Waiting for that
word rather than in SQLite's busy handler matters: the handler sleeps 1, 2, 5, 10 ms and more between
tries, and every request of the KME waits behind the closed gate meanwhile (``./run bench kms``'s p99).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from openqci.kms.crypto import MasterKey
from openqci.kms.errors import StoreError
from openqci.kms.schema import table_definitions
from openqci.kms.sqlstore import Cursor, SqlKeyStore

__all__ = ["DEFAULT_MAX_WAL_BYTES", "SqliteKeyStore"]

DEFAULT_MAX_WAL_BYTES = 64 << 20
"""The write-ahead log's cap (``store.max_wal_bytes``)."""

_SCHEMA = table_definitions(serial_key="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB", real="REAL")


class SqliteKeyStore(SqlKeyStore):
    """Key store in one SQLite file (or ``:memory:``); safe to share between threads of one process."""

    def __init__(
        self, path: Path | str, master_key: MasterKey, *, max_wal_bytes: int = DEFAULT_MAX_WAL_BYTES
    ) -> None:
        super().__init__(master_key)
        self._checkpointer: _Checkpointer | None = None
        try:
            if str(path) != ":memory:":
                _create_private(Path(path))
            self._conn = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            pragmas = ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON", "foreign_keys=ON")
            for pragma in (*pragmas, f"journal_size_limit={_restarted_log_bytes(max_wal_bytes)}"):
                self._conn.execute(f"PRAGMA {pragma}")
            self._conn.executescript(_SCHEMA)
            self.backfill_counts()
        except (sqlite3.Error, OSError) as error:
            raise StoreError(f"cannot open SQLite key store {path}: {error}") from None
        memory = str(path) == ":memory:"
        self._checkpointer = (
            None if memory else _Checkpointer(path, restart_above=_restarted_log_bytes(max_wal_bytes))
        )
        if self._checkpointer is not None:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")

    @contextmanager
    def _begin(self) -> Iterator[Cursor]:
        if self._checkpointer is None:
            yield from self._transaction_on(self._conn.cursor())
            return
        self._checkpointer.writer_waits()
        try:
            yield from self._transaction_on(self._conn.cursor())
        finally:
            self._checkpointer.writer_done()

    @staticmethod
    def _transaction_on(cur: Cursor) -> Iterator[Cursor]:
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


_CHECKPOINT_BUSY_S = 1.0
"""How long a checkpoint waits for the locks it needs before it gives up until its next round."""

_GATE_TIMEOUT_S = 2.0 * _CHECKPOINT_BUSY_S
"""The longest a writer waits for a restarting checkpoint (it gives up within its busy timeout)."""


def _restarted_log_bytes(max_wal_bytes: int) -> int:
    """The log's size that triggers a restart, and that a restarted log file is trimmed back to."""
    return max_wal_bytes // 4


def _create_private(path: Path) -> None:
    """Create the database file with mode 0600 if it does not exist; never open an existing one.

    Closing any descriptor of a file drops every POSIX lock the process holds on it, those of SQLite's own
    connections included. A second store opened on a database this process already uses (a KME's reader
    beside its writer) would so drop the writer's locks, and the next process to close a connection would
    take itself for the last one and delete the write-ahead log under the writer: a damaged database.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))


class _Checkpointer:
    """Copies the write-ahead log into the database from a thread of its own, and keeps the log bounded.

    SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so one request in
    a few hundred pays for copying and syncing the whole log: that is the tail of the enc_keys latency.
    A passive checkpoint on a second connection takes no write lock, so the writer's commits never wait
    for it; a committed transaction is durable in the log either way. Once the log passes
    ``restart_above`` bytes, a restarting checkpoint (which does wait for the writer, and makes it wait)
    lets the next commit write it again from its start; the writer's ``journal_size_limit`` of the same
    size trims the file back then, so its size on disk tells when the log has filled once more.
    """

    def __init__(
        self, path: Path | str, *, restart_above: int, interval_s: float = 0.5, poll_s: float = 0.005
    ) -> None:
        # A short busy timeout: a restarting checkpoint that cannot get the write lock (another
        # connection's writer does not pass this gate) gives up soon and frees SQLite's checkpoint lock
        # for the checkpointer of that connection's store, which can.
        self._conn = sqlite3.connect(
            str(path), isolation_level=None, check_same_thread=False, timeout=_CHECKPOINT_BUSY_S
        )
        self._wal = f"{path}-wal"
        self._restart_above = restart_above
        self._hold_above = 2 * restart_above
        self._stop = threading.Event()
        self._due = threading.Event()
        self._written = threading.Event()
        self._interval_s = interval_s
        self._poll_s = poll_s
        self.restarts = 0
        self._turn = threading.Condition()
        self._restarting = False
        self._writing = False
        self._last_wal = 0
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Sleep until a commit; then keep the log's size in check, and copy it at most every interval.

        An idle store costs nothing (a process of eight KMEs holds sixteen stores); under load the log's
        size is looked at once per ``poll_s`` at most, and a passive round runs once per ``interval_s``
        while commits have left something to copy. The size is read here, never on the writer's thread:
        a ``stat`` of the log can wait behind a checkpoint's fsync, and the writer holds the store's lock.
        """
        pending = False
        next_passive = time.monotonic() + self._interval_s
        while not self._stop.is_set():
            timeout = max(0.0, next_passive - time.monotonic()) if pending else None
            if self._written.wait(timeout):
                self._written.clear()
                if self._stop.is_set():
                    break
                pending = True
                self._last_wal = self._wal_bytes()
                if self._due.is_set() or self._last_wal > self._restart_above:
                    self._restart()
                if self._due.wait(self._poll_s):
                    self._written.set()  # due meanwhile: go round at once
            if pending and time.monotonic() >= next_passive:
                self._checkpoint("PASSIVE")
                pending = False
                next_passive = time.monotonic() + self._interval_s

    def _restart(self) -> None:
        self._checkpoint("PASSIVE")  # copy most of it without blocking the writer
        with self._turn:
            self._restarting = True
            self._turn.wait_for(lambda: not self._writing, timeout=_GATE_TIMEOUT_S)
        restarted = False
        try:
            restarted = self._checkpoint("RESTART")
        finally:
            # A restarted log is empty though its file keeps its size until the next commit trims it; and
            # the wake-up of the transaction that ended meanwhile is spent: the next commit sends another.
            self._last_wal = 0 if restarted else self._wal_bytes()
            self.restarts += restarted
            with self._turn:
                self._restarting = False
                self._due.clear()
                self._written.clear()
                self._turn.notify_all()

    def writer_waits(self) -> None:
        """Called before each write transaction of the store: wait while a restarting checkpoint runs.

        The writer also keeps the log's bound whatever the disk's speed: with the log (as the checkpoint
        thread last read it) past ``restart_above`` it wakes that thread, and past twice that it waits for
        the log to be restarted (a fast writer could otherwise append more than the cap while the thread
        sleeps).
        """
        wal = self._last_wal
        with self._turn:
            if wal > self._restart_above:
                self._due.set()
                self._written.set()
            hold = wal > self._hold_above
            self._turn.wait_for(
                lambda: not self._restarting and not (hold and self._due.is_set()), timeout=_GATE_TIMEOUT_S
            )
            self._writing = True

    def writer_done(self) -> None:
        """Called after each write transaction (committed or not): the log may have grown, and a
        restarting checkpoint waiting for the write lock can have it now."""
        with self._turn:
            self._writing = False
            self._turn.notify_all()
        self._written.set()

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self._wal).st_size
        except OSError:
            return 0

    def _checkpoint(self, mode: str) -> bool:
        """Run one checkpoint; True if it completed (not busy)."""
        try:
            row = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error:
            return False  # busy or closing: the next round (or the next open) copies the log
        return row is not None and row[0] == 0

    def stop(self) -> None:
        """Stop the thread, copy what is left (emptying the log if no other connection reads) and close."""
        self._stop.set()
        self._written.set()
        self._thread.join()
        if not self._checkpoint("TRUNCATE"):
            self._checkpoint("PASSIVE")
        self._conn.close()
