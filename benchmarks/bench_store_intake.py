"""Units a KME stores per second from its link's KeyBlocks, against a bare insert of the same rows.

A launched network writes every unit of every block at both ends of every link (FranceQCI: 46 links, 92
link ends), so this path bounds how much key a machine's KMEs take in. ``SqlKeyStore.add_block`` cuts a
block into 256-bit units, names each one (a name-based UUID both ends derive alike), seals it with the
master key (AES-GCM) and inserts it; the baseline, measured in the same run on the same kind of SQLite file
(WAL, ``synchronous=FULL``), inserts rows of the same sizes into the same table with nothing computed. Both
commit once per tick's worth of blocks, as a site does through the KME's group committer.

Run with ``./run bench store_intake`` (option ``--blocks N``, blocks of 64 kbit per run).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import uuid
from pathlib import Path

from openqci.keysource import KeyBlock
from openqci.kms.crypto import MasterKey
from openqci.kms.schema import table_definitions
from openqci.kms.sqlite_store import SqliteKeyStore
from timing import best_of, cpu_name

UNIT_BITS = 256
BLOCK_BITS = 65536
BLOCKS_PER_TICK = 8


def _blocks(count: int) -> list[KeyBlock]:
    return [
        KeyBlock(
            link_id="link-ab",
            block_id=uuid.uuid4(),
            bits=os.urandom(BLOCK_BITS // 8),
            size_bits=BLOCK_BITS,
            qber=0.01,
            epsilon=1e-10,
            created_at=0.0,
        )
        for _ in range(count)
    ]


def _store_blocks(folder: Path, count: int) -> None:
    store = SqliteKeyStore(folder / f"{uuid.uuid4()}.db", MasterKey.generate())
    blocks = _blocks(count)
    try:
        for first in range(0, count, BLOCKS_PER_TICK):
            with store.group():
                for block in blocks[first : first + BLOCKS_PER_TICK]:
                    store.add_block(block, unit_bits=UNIT_BITS, parity=0)
    finally:
        store.close()


def _unit_rows(count: int) -> list[list[tuple[object, ...]]]:
    """Rows of the sizes add_block writes (a sealed unit is 48 bytes), made before the clock starts."""
    per_block = BLOCK_BITS // UNIT_BITS
    return [
        [
            (str(uuid.uuid4()), "link-ab", "b", i, i % 2, os.urandom(12), os.urandom(48))
            for i in range(per_block)
        ]
        for _ in range(count)
    ]


def _bare_inserts(folder: Path, rows: list[list[tuple[object, ...]]]) -> None:
    conn = sqlite3.connect(str(folder / f"{uuid.uuid4()}.db"), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON"):
        conn.execute(f"PRAGMA {pragma}")
    conn.executescript(
        table_definitions(serial_key="INTEGER PRIMARY KEY AUTOINCREMENT", blob="BLOB", real="REAL")
    )
    sql = (
        "INSERT INTO units (unit_id, link_id, block_id, idx, owned, state, nonce, material) "
        "VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (unit_id) DO NOTHING"
    )
    for first in range(0, len(rows), BLOCKS_PER_TICK):
        conn.execute("BEGIN IMMEDIATE")
        for block_rows in rows[first : first + BLOCKS_PER_TICK]:
            conn.executemany(sql, block_rows)
        conn.execute("COMMIT")
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=64, help="blocks of 64 kbit stored per run")
    args = parser.parse_args()
    units = args.blocks * BLOCK_BITS // UNIT_BITS
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = _unit_rows(args.blocks)
        bare_s = best_of(3, lambda: _bare_inserts(folder, rows))
        store_s = best_of(3, lambda: _store_blocks(folder, args.blocks))
    print(f"CPU: {cpu_name()}")
    print(f"{units} units of {UNIT_BITS} bits, one commit per {BLOCKS_PER_TICK} blocks, best of 3")
    print(f"  bare insert (baseline): {units / bare_s:10.0f} units/s  {1e6 * bare_s / units:5.1f} us/unit")
    print(f"  SqlKeyStore.add_block:  {units / store_s:10.0f} units/s  {1e6 * store_s / units:5.1f} us/unit")
    print(f"  add_block / bare insert time: {store_s / bare_s:.2f}")


if __name__ == "__main__":
    main()
