"""A key store that runs for months: counters, not scans; a pool cap on intake; retention; a bounded log.

Each test here failed on the store as it was before these limits: ``key_counts`` scanned every unit of
the link, ``max_key_count`` only capped what Status reported, no row was ever deleted, and SQLite's
write-ahead log grew without bound under continuous commits.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from openqci.kms.crypto import MasterKey
from openqci.kms.errors import KeysNotFoundError, PoolFullError
from openqci.kms.records import DeliveredKey, Reservation, UnitState
from openqci.kms.relay_ledger import RelayLedger
from openqci.kms.sqlite_store import SqliteKeyStore
from openqci.kms.sqlstore import SqlKeyStore
from tests.kms.conftest import StoreFactory, make_block

LINK = "link-ab"
UNIT_BITS = 256
DAY_S = 86_400.0


def _deliver(store: SqlKeyStore, number: int, slaves: tuple[str, ...] = ("sae-b1",)) -> Reservation:
    record, _ = store.deliver(
        request_id=uuid.uuid4(),
        link_id=LINK,
        master_sae="sae-a1",
        slave_saes=slaves,
        number=number,
        size_bits=UNIT_BITS,
        unit_bits=UNIT_BITS,
    )
    return record


def _pair(store_factory: StoreFactory, blocks: int = 2) -> tuple[SqlKeyStore, SqlKeyStore]:
    """kme-a (allocating the even units) and kme-b holding the same blocks of the link."""
    a, b = store_factory(), store_factory()
    for _ in range(blocks):
        block = make_block(LINK, 4096)
        a.add_block(block, unit_bits=UNIT_BITS, parity=0)
        b.add_block(block, unit_bits=UNIT_BITS, parity=1)
    return a, b


def _scan(store: SqlKeyStore, sql: str) -> int:
    with store.transaction() as cur:
        cur.execute(store.sql(sql))
        return int(cur.fetchall()[0][0])


def _rows(store: SqlKeyStore, table: str) -> int:
    return _scan(store, f"SELECT count(*) FROM {table}")


# -- counters ---------------------------------------------------------------------------------------------


def test_the_counters_agree_with_the_rows_through_every_transition(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory, blocks=3)
    record = _deliver(a, 5, slaves=("sae-b1", "sae-b2"))
    b.accept(record)
    ids = [p.key_id for p in record.keys]
    b.take(ids[:3], master_sae="sae-a1", caller="sae-b1")
    b.take(ids[:2], master_sae="sae-a1", caller="sae-b2")  # two keys now consumed at kme-b
    ledger = RelayLedger(b, kme_id="kme-b", unit_bits=UNIT_BITS)
    ledger.start(
        relay_id=uuid.uuid4(),
        route=["kme-b", "kme-a"],
        link_id=LINK,
        master_sae="sae-b1",
        slave_saes=["sae-a1"],
        keys=[DeliveredKey(uuid.uuid4(), bytes(32))],
    )
    for store in (a, b):
        made = _scan(store, f"SELECT count(*) FROM units WHERE link_id = '{LINK}'")
        consumed = _scan(store, f"SELECT count(*) FROM units WHERE link_id = '{LINK}' AND state = 3")
        free = _scan(store, f"SELECT count(*) FROM units WHERE link_id = '{LINK}' AND state = 0")
        owned = _scan(
            store, f"SELECT count(*) FROM units WHERE link_id = '{LINK}' AND state = 0 AND owned = 1"
        )
        assert store.key_counts(LINK) == (made, consumed)
        assert (store.free_units(LINK), store.available_units(LINK)) == (free, owned)
    assert a.key_counts(LINK) == (48, 5)
    assert b.key_counts(LINK) == (48, 2 + 2)  # two keys taken by both slaves, two relay units


def test_the_counts_are_running_totals_that_pruning_leaves(store_factory: StoreFactory) -> None:
    a, _ = _pair(store_factory)
    _deliver(a, 4)
    a.prune(now_s=time.time() + 10.0, retention_s=1.0, key_expiry_s=DAY_S, batch_rows=100)
    assert _scan(a, "SELECT count(*) FROM units WHERE state = 3") == 0
    assert a.key_counts(LINK) == (32, 4)


def test_a_store_written_before_the_counters_gets_them_on_open(tmp_path: Path) -> None:
    key = MasterKey.generate()
    store = SqliteKeyStore(tmp_path / "old.sqlite", key)
    store.add_block(make_block(LINK, 4096), unit_bits=UNIT_BITS, parity=0)
    _deliver(store, 3)
    store.close()
    with closing(sqlite3.connect(tmp_path / "old.sqlite")) as conn:
        conn.execute("DELETE FROM link_counts")
        conn.commit()
    again = SqliteKeyStore(tmp_path / "old.sqlite", key)
    try:
        assert again.key_counts(LINK) == (16, 3)
        assert again.available_units(LINK) == 5
    finally:
        again.close()


# -- the pool cap -----------------------------------------------------------------------------------------


def test_a_full_pool_holds_new_blocks_and_takes_them_once_key_is_consumed(
    store_factory: StoreFactory,
) -> None:
    store = store_factory()
    first, second = make_block(LINK, 4096), make_block(LINK, 4096)
    assert store.add_block(first, unit_bits=UNIT_BITS, parity=0, max_free_units=16) == 16
    with pytest.raises(PoolFullError, match="full"):
        store.add_block(second, unit_bits=UNIT_BITS, parity=0, max_free_units=16)
    assert store.key_counts(LINK) == (16, 0)  # nothing of the refused block was stored
    # a block stored already is always accepted again (a source resending after a crash)
    assert store.add_block(first, unit_bits=UNIT_BITS, parity=0, max_free_units=16) == 0
    _deliver(store, 1)
    assert store.add_block(second, unit_bits=UNIT_BITS, parity=0, max_free_units=16) == 16
    assert store.free_units(LINK) == 31


# -- retention --------------------------------------------------------------------------------------------


def test_rows_done_longer_than_the_retention_period_are_deleted(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    record = _deliver(a, 4)
    b.accept(record)
    taken = [p.key_id for p in record.keys[:2]]
    b.take(taken, master_sae="sae-a1", caller="sae-b1")
    ledger = RelayLedger(a, kme_id="kme-a", unit_bits=UNIT_BITS)
    ledger.start(
        relay_id=uuid.uuid4(),
        route=["kme-a", "kme-b"],
        link_id=LINK,
        master_sae="sae-a1",
        slave_saes=["sae-b1"],
        keys=[DeliveredKey(uuid.uuid4(), bytes(32))],
    )
    before = {t: (_rows(a, t), _rows(b, t)) for t in ("units", "keys", "deliveries", "relays")}
    assert before == {"units": (32, 32), "keys": (0, 4), "deliveries": (1, 0), "relays": (1, 0)}
    # nothing is due before the retention period has passed
    early = a.prune(now_s=time.time(), retention_s=60.0, key_expiry_s=DAY_S, batch_rows=100)
    assert early.rows == 0
    later = time.time() + 120.0
    a.prune(now_s=later, retention_s=60.0, key_expiry_s=DAY_S, batch_rows=100)
    b.prune(now_s=later, retention_s=60.0, key_expiry_s=DAY_S, batch_rows=100)
    assert (_rows(a, "deliveries"), _rows(a, "relays")) == (0, 0)
    assert _rows(a, "units") == 32 - 4 - 2  # the delivered units and the relay's pad and tag units
    assert _rows(b, "units") == 32 - 2  # the two keys taken; the two reserved ones wait for their SAE
    assert _rows(b, "keys") == 2


def test_keys_no_sae_takes_expire_and_are_then_deleted(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    record = _deliver(a, 3)
    b.accept(record)
    ids = [p.key_id for p in record.keys]
    expired = b.prune(now_s=time.time() + 30.0, retention_s=60.0, key_expiry_s=10.0, batch_rows=100)
    assert expired.expired_keys == 3
    with pytest.raises(KeysNotFoundError):
        b.take(ids[:1], master_sae="sae-a1", caller="sae-b1")
    assert _scan(b, "SELECT count(*) FROM units WHERE state = 3") == 3
    b.prune(now_s=time.time() + 100.0, retention_s=60.0, key_expiry_s=10.0, batch_rows=100)
    assert (_rows(b, "keys"), _rows(b, "units")) == (0, 32 - 3)
    assert b.key_counts(LINK) == (32, 3)


def test_each_store_call_deletes_at_most_one_batch_per_table(store_factory: StoreFactory) -> None:
    a, _ = _pair(store_factory)
    for _ in range(5):
        _deliver(a, 2)
    future = time.time() + 10.0
    first = a.prune(now_s=future, retention_s=1.0, key_expiry_s=DAY_S, batch_rows=3)
    assert (first.units, first.deliveries) == (3, 3)
    rounds = 1
    while a.prune(now_s=future, retention_s=1.0, key_expiry_s=DAY_S, batch_rows=3).rows:
        rounds += 1
    assert rounds == 4  # 10 units in batches of 3
    assert (_rows(a, "units"), _rows(a, "deliveries")) == (32 - 10, 0)


def test_consumed_key_material_is_gone_from_the_store_files(tmp_path: Path) -> None:
    path = tmp_path / "kme.sqlite"
    store = SqliteKeyStore(path, MasterKey.generate())
    store.add_block(make_block(LINK, 8192), unit_bits=UNIT_BITS, parity=0)
    with closing(sqlite3.connect(path)) as conn:
        sealed = dict(conn.execute("SELECT unit_id, material FROM units WHERE owned = 1 ORDER BY seq"))
    record = _deliver(store, 8)
    consumed = {str(u) for p in record.keys for u in p.unit_ids}
    store.prune(now_s=time.time() + 10.0, retention_s=1.0, key_expiry_s=DAY_S, batch_rows=100)
    store.close()  # a truncating checkpoint: the log's copies of the pages are gone as well
    files = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert len(consumed) == 8
    assert all(bytes(sealed[u]) not in files for u in consumed)
    assert all(bytes(m) in files for u, m in sealed.items() if u not in consumed)  # the scan sees rows


# -- the write-ahead log ----------------------------------------------------------------------------------


def _commit_continuously(store: SqlKeyStore, stop: threading.Event) -> None:
    """One writer committing without pause: blocks in, keys out, as a loaded KME does."""
    while not stop.is_set():
        store.add_block(make_block(LINK, 65536), unit_bits=UNIT_BITS, parity=0)
        for _ in range(8):
            _deliver(store, 16)


def test_the_write_ahead_log_stays_under_its_cap_under_continuous_commits(tmp_path: Path) -> None:
    """The writer commits until the log has been cut four times (more than the cap written in all)."""
    cap = 4 << 20
    path = tmp_path / "kme.sqlite"
    store = SqliteKeyStore(path, MasterKey.generate(), max_wal_bytes=cap)
    checkpointer = store._checkpointer
    assert checkpointer is not None
    wal = Path(f"{path}-wal")
    stop = threading.Event()
    writer = threading.Thread(target=_commit_continuously, args=(store, stop))
    writer.start()
    peak, deadline = 0, time.monotonic() + 120.0
    try:
        while checkpointer.restarts < 4 and time.monotonic() < deadline:
            peak = max(peak, wal.stat().st_size if wal.exists() else 0)
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join()
        store.close()
    assert checkpointer.restarts >= 4, "the writer did not fill the log four times in 120 s"
    assert peak < cap, f"the log reached {peak / 2**20:.1f} MiB with a cap of {cap / 2**20:.0f} MiB"


def test_the_unit_state_values_are_the_ones_the_pruner_reads() -> None:
    assert int(UnitState.CONSUMED) == 3  # the partial indexes and prune queries name it as a literal


@pytest.mark.parametrize(
    ("key", "value"),
    [("max_wal_bytes", 4096), ("retention_s", 0), ("key_expiry_s", -1), ("prune_batch_rows", 0)],
)
def test_a_storage_limit_out_of_range_is_refused_naming_its_key(
    tmp_path: Path, key: str, value: float
) -> None:
    from openqci.kms.config import load_config
    from openqci.kms.errors import ConfigError
    from tests.kms.harness import make_site

    site = make_site(tmp_path)
    path = site.config_paths["kme-a"]
    path.write_text(path.read_text().replace("store:\n", f"store:\n  {key}: {value}\n"))
    with pytest.raises(ConfigError, match=rf"store\.{key}"):
        load_config(path)
