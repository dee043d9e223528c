"""The key store contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest

from openqci.kms.crypto import MasterKey
from openqci.kms.errors import KeyShortageError, KeysNotFoundError, PeerError, UnauthorizedError
from openqci.kms.records import DeliveredKey, Reservation
from openqci.kms.sqlite_store import SqliteKeyStore
from openqci.kms.sqlstore import SqlKeyStore
from openqci.kms.units import cut_block
from tests.kms.conftest import Backend, StoreFactory, make_block

UNIT_BITS = 256


def _pair(store_factory: StoreFactory, blocks: int = 1):
    """Two stores fed the same blocks: KME A allocates even units, KME B odd ones."""
    a, b = store_factory(), store_factory()
    for _ in range(blocks):
        block = make_block()
        a.add_block(block, unit_bits=UNIT_BITS, parity=0)
        b.add_block(block, unit_bits=UNIT_BITS, parity=1)
    return a, b


def _deliver(store, number=2, size_bits=256, slaves=("sae-b",)) -> tuple[Reservation, list[DeliveredKey]]:
    return store.deliver(
        request_id=uuid.uuid4(),
        link_id="link-ab",
        master_sae="sae-a",
        slave_saes=slaves,
        number=number,
        size_bits=size_bits,
        unit_bits=UNIT_BITS,
    )


def test_blocks_are_split_between_the_ends_and_added_once(store_factory: StoreFactory) -> None:
    a, b = store_factory(), store_factory()
    block = make_block(size_bits=4096 + 100)  # 16 whole units and a dropped tail
    assert a.add_block(block, unit_bits=UNIT_BITS, parity=0) == 16
    assert a.add_block(block, unit_bits=UNIT_BITS, parity=0) == 0
    b.add_block(block, unit_bits=UNIT_BITS, parity=1)
    assert a.available_units("link-ab") == 8
    assert b.available_units("link-ab") == 8
    assert a.available_units("other-link") == 0


def test_both_ends_deliver_the_same_bytes(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    record, master_keys = _deliver(a, number=3, size_bits=512)
    b.accept(record)
    ids = [k.key_id for k in master_keys]
    assert ids == [p.key_id for p in record.keys]
    slave_keys = b.take(ids, master_sae="sae-a", caller="sae-b")
    assert [k.material for k in slave_keys] == [k.material for k in master_keys]
    assert all(len(k.material) == 64 for k in master_keys)
    assert len({k.material for k in master_keys}) == 3


def test_key_bytes_are_the_block_units_in_order(store_factory: StoreFactory) -> None:
    a = store_factory()
    block = make_block()
    a.add_block(block, unit_bits=UNIT_BITS, parity=0)
    units = cut_block(block, UNIT_BITS)
    _, (key,) = _deliver(a, number=1, size_bits=384)
    assert key.key_id == units[0].unit_id
    assert key.material == (units[0].material + units[2].material)[:48]


def test_a_short_pool_is_refused_and_left_untouched(store_factory: StoreFactory) -> None:
    a, _ = _pair(store_factory)
    with pytest.raises(KeyShortageError, match="not enough key"):
        _deliver(a, number=9)
    assert a.available_units("link-ab") == 8
    assert a.pending("link-ab", 10) == []


def test_a_key_goes_once_to_each_slave_and_then_is_wiped(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    record, (key,) = _deliver(a, number=1, slaves=("sae-b", "sae-c"))
    b.accept(record)
    assert b.take([key.key_id], master_sae="sae-a", caller="sae-b")[0].material == key.material
    with pytest.raises(KeysNotFoundError):
        b.take([key.key_id], master_sae="sae-a", caller="sae-b")
    assert b.take([key.key_id], master_sae="sae-a", caller="sae-c")[0].material == key.material
    with pytest.raises(KeysNotFoundError):
        b.take([key.key_id], master_sae="sae-a", caller="sae-c")


@pytest.mark.parametrize(("master", "caller"), [("sae-a", "sae-x"), ("sae-z", "sae-b"), ("sae-a", "sae-a")])
def test_only_the_named_slaves_of_the_named_master_may_take(
    store_factory: StoreFactory, master, caller
) -> None:
    a, b = _pair(store_factory)
    record, (key,) = _deliver(a, number=1)
    b.accept(record)
    with pytest.raises(UnauthorizedError):
        b.take([key.key_id], master_sae=master, caller=caller)
    assert b.take([key.key_id], master_sae="sae-a", caller="sae-b")[0].material == key.material


def test_the_master_side_never_hands_a_key_out_again(store_factory: StoreFactory) -> None:
    a, _b = _pair(store_factory)
    _, (key,) = _deliver(a, number=1)
    with pytest.raises(UnauthorizedError):
        a.take([key.key_id], master_sae="sae-a", caller="sae-a")
    _, (other,) = _deliver(a, number=1)
    assert other.key_id != key.key_id
    assert a.available_units("link-ab") == 6


def test_take_is_all_or_nothing(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    record, keys = _deliver(a, number=2)
    b.accept(record)
    with pytest.raises(KeysNotFoundError):
        b.take([keys[0].key_id, uuid.uuid4()], master_sae="sae-a", caller="sae-b")
    with pytest.raises(KeysNotFoundError):
        b.take([keys[0].key_id, keys[0].key_id], master_sae="sae-a", caller="sae-b")
    both = b.take([k.key_id for k in keys], master_sae="sae-a", caller="sae-b")
    assert [k.material for k in both] == [k.material for k in keys]


def test_accept_is_idempotent_and_refuses_units_in_use(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    record, (key,) = _deliver(a, number=1)
    b.accept(record)
    b.accept(record)
    clash = Reservation(uuid.uuid4(), "link-ab", "sae-a", ("sae-b",), record.keys)
    with pytest.raises(PeerError, match="not free"):
        b.accept(clash)
    b.take([key.key_id], master_sae="sae-a", caller="sae-b")
    b.accept(record)  # a push repeated after the slave took the key changes nothing
    with pytest.raises(KeysNotFoundError):
        b.take([key.key_id], master_sae="sae-a", caller="sae-b")


def test_the_outbox_holds_each_record_until_confirmed(store_factory: StoreFactory) -> None:
    a, _ = _pair(store_factory)
    first, _ = _deliver(a, number=2, size_bits=512, slaves=("sae-b", "sae-c"))
    second, _ = _deliver(a, number=1)
    assert a.pending("link-ab", 10) == [first, second]
    assert a.pending("link-ab", 1) == [first]
    assert a.pending("other-link", 10) == []
    a.confirm([first.request_id])
    assert a.pending("link-ab", 10) == [second]
    a.confirm([second.request_id])
    assert a.pending("link-ab", 10) == []
    assert a.lookup("link-ab", [first.keys[1].key_id, uuid.uuid4()]) == [first]
    assert a.lookup("other-link", [first.keys[1].key_id]) == []


def test_awaiting_names_only_free_units_of_the_peer(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    record, (key,) = _deliver(a, number=1)
    _, (own,) = _deliver(b, number=1)
    stranger = uuid.uuid4()
    assert b.awaiting([key.key_id, own.key_id, stranger]) == [key.key_id]
    b.accept(record)
    assert b.awaiting([key.key_id]) == []


def test_a_group_commits_together_and_a_failed_call_rolls_back_alone(store_factory: StoreFactory) -> None:
    a, _ = _pair(store_factory)
    with a.group():
        record, _ = _deliver(a, number=3)
        with pytest.raises(KeyShortageError):
            _deliver(a, number=6)
        second, _ = _deliver(a, number=1)
    assert a.available_units("link-ab") == 4
    assert a.pending("link-ab", 10) == [record, second]

    def crash_before_commit() -> None:
        with a.group():
            _deliver(a, number=1)
            raise RuntimeError("crash before the commit")

    with pytest.raises(RuntimeError):
        crash_before_commit()
    assert a.available_units("link-ab") == 4
    assert len(a.pending("link-ab", 10)) == 2


def test_concurrent_deliveries_take_disjoint_units(store_factory: StoreFactory) -> None:
    a, _ = _pair(store_factory, blocks=4)
    results: list[Reservation] = []
    errors: list[Exception] = []

    def worker() -> None:
        try:
            for _ in range(4):
                results.append(_deliver(a, number=1)[0])
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    units = [u for r in results for plan in r.keys for u in plan.unit_ids]
    assert len(units) == len(set(units)) == 32
    assert a.available_units("link-ab") == 0


def _open_at_once(section: dict[str, str], base, count: int) -> tuple[list[SqlKeyStore], list[Exception]]:
    """Open the store of ``section`` from ``count`` threads at the same moment, as that many processes."""
    key, start = MasterKey.generate(), threading.Barrier(count)
    opened: list[SqlKeyStore] = []
    errors: list[Exception] = []

    def open_it() -> None:
        start.wait()
        try:
            opened.append(Backend.open(section, base, key))
        except Exception as error:  # reported by the caller
            errors.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return opened, errors


@pytest.mark.postgres
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_processes_opening_a_new_postgres_schema_at_once_all_open_it(backend: Backend, tmp_path) -> None:
    """A KME and its key-file feeder (``openqci kms feed``) may open a new store at the same moment."""
    for round_ in range(5):
        opened, errors = _open_at_once(backend.store(f"kme{round_}"), tmp_path, 4)
        for store in opened:
            store.close()
        assert not errors, errors[0]
        assert len(opened) == 4


def test_sqlite_file_holds_no_plain_key_and_wipes_consumed(tmp_path) -> None:
    from openqci.kms.sqlite_store import SqliteKeyStore

    path = tmp_path / "kme.sqlite"
    store = SqliteKeyStore(path, MasterKey.generate())
    block = make_block()
    store.add_block(block, unit_bits=UNIT_BITS, parity=0)
    _deliver(store, number=1)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("kme.sqlite*"))
    store.close()
    raw += path.read_bytes()
    assert all(unit.material not in raw for unit in cut_block(block, UNIT_BITS))
    with sqlite3.connect(path) as conn:
        (material,) = conn.execute("SELECT material FROM units WHERE state = 3").fetchone()
    assert material == bytes(len(material))


def test_sqlite_store_files_are_readable_by_their_owner_only(tmp_path) -> None:
    store = SqliteKeyStore(tmp_path / "keys.sqlite", MasterKey.generate())
    store.add_block(make_block(), unit_bits=256, parity=0)
    try:
        files = sorted(tmp_path.glob("keys.sqlite*"))
        assert {f.name for f in files} >= {"keys.sqlite", "keys.sqlite-wal"}
        for path in files:
            assert path.stat().st_mode & 0o077 == 0, (path.name, oct(path.stat().st_mode))
    finally:
        store.close()
