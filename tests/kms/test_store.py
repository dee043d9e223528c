"""The key store contract, run against SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest

from openqci.kms.errors import KeyShortageError, KeysNotFoundError, PeerError, UnauthorizedError
from openqci.kms.records import Reservation
from openqci.kms.units import cut_block
from tests.kms.conftest import StoreFactory, make_block

UNIT_BITS = 256


def _pair(store_factory: StoreFactory, blocks: int = 1):
    """Two stores fed the same blocks: KME A allocates even units, KME B odd ones."""
    a, b = store_factory(), store_factory()
    for _ in range(blocks):
        block = make_block()
        a.add_block(block, unit_bits=UNIT_BITS, parity=0)
        b.add_block(block, unit_bits=UNIT_BITS, parity=1)
    return a, b


def _reserve(store, number=2, size_bits=256, slaves=("sae-b",)) -> Reservation:
    return store.reserve(
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
    reservation = _reserve(a, number=3, size_bits=512)
    b.accept(reservation)
    master_keys = a.deliver_to_master(reservation.request_id)
    ids = [k.key_id for k in master_keys]
    slave_keys = b.take(ids, master_sae="sae-a", caller="sae-b")
    assert [k.material for k in slave_keys] == [k.material for k in master_keys]
    assert all(len(k.material) == 64 for k in master_keys)
    assert len({k.material for k in master_keys}) == 3


def test_key_bytes_are_the_block_units_in_order(store_factory: StoreFactory) -> None:
    a, _b = store_factory(), store_factory()
    block = make_block()
    a.add_block(block, unit_bits=UNIT_BITS, parity=0)
    units = cut_block(block, UNIT_BITS)
    reservation = _reserve(a, number=1, size_bits=384)
    (key,) = a.deliver_to_master(reservation.request_id)
    assert key.key_id == units[0].unit_id
    assert key.material == (units[0].material + units[2].material)[:48]


def test_a_short_pool_is_refused_and_left_untouched(store_factory: StoreFactory) -> None:
    a, _ = _pair(store_factory)
    with pytest.raises(KeyShortageError, match="not enough key"):
        _reserve(a, number=9)
    assert a.available_units("link-ab") == 8


def test_a_key_goes_once_to_each_slave_and_then_is_wiped(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    reservation = _reserve(a, number=1, slaves=("sae-b", "sae-c"))
    b.accept(reservation)
    (key,) = a.deliver_to_master(reservation.request_id)
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
    reservation = _reserve(a, number=1)
    b.accept(reservation)
    (key,) = a.deliver_to_master(reservation.request_id)
    with pytest.raises(UnauthorizedError):
        b.take([key.key_id], master_sae=master, caller=caller)
    assert b.take([key.key_id], master_sae="sae-a", caller="sae-b")[0].material == key.material


def test_the_master_side_never_hands_a_key_out_again(store_factory: StoreFactory) -> None:
    a, _b = _pair(store_factory)
    reservation = _reserve(a, number=1)
    (key,) = a.deliver_to_master(reservation.request_id)
    with pytest.raises(UnauthorizedError):
        a.take([key.key_id], master_sae="sae-a", caller="sae-a")
    with pytest.raises(PeerError):
        a.deliver_to_master(reservation.request_id)


def test_take_is_all_or_nothing(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    reservation = _reserve(a, number=2)
    b.accept(reservation)
    keys = a.deliver_to_master(reservation.request_id)
    with pytest.raises(KeysNotFoundError):
        b.take([keys[0].key_id, uuid.uuid4()], master_sae="sae-a", caller="sae-b")
    with pytest.raises(KeysNotFoundError):
        b.take([keys[0].key_id, keys[0].key_id], master_sae="sae-a", caller="sae-b")
    both = b.take([k.key_id for k in keys], master_sae="sae-a", caller="sae-b")
    assert [k.material for k in both] == [k.material for k in keys]


def test_accept_is_idempotent_and_refuses_units_in_use(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    reservation = _reserve(a, number=1)
    b.accept(reservation)
    b.accept(reservation)
    clash = Reservation(uuid.uuid4(), "link-ab", "sae-a", ("sae-b",), reservation.keys)
    with pytest.raises(PeerError, match="not free"):
        b.accept(clash)


def test_abandoned_requests_are_wiped_and_forgotten(store_factory: StoreFactory) -> None:
    a, b = _pair(store_factory)
    reservation = _reserve(a, number=2)
    b.accept(reservation)
    assert a.open_requests() == [reservation.request_id]
    assert a.abandon(reservation.request_id) == 2
    assert b.abandon(reservation.request_id) == 2
    assert a.open_requests() == []
    with pytest.raises(KeysNotFoundError):
        b.take([reservation.keys[0].key_id], master_sae="sae-a", caller="sae-b")
    assert a.available_units("link-ab") == 6


def test_concurrent_reservations_take_disjoint_units(store_factory: StoreFactory) -> None:
    a, _ = _pair(store_factory, blocks=4)
    results: list[Reservation] = []
    errors: list[Exception] = []

    def worker() -> None:
        try:
            for _ in range(4):
                results.append(_reserve(a, number=1))
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


def test_sqlite_file_holds_no_plain_key_and_wipes_consumed(tmp_path) -> None:
    from openqci.kms.crypto import MasterKey
    from openqci.kms.sqlite_store import SqliteKeyStore

    path = tmp_path / "kme.sqlite"
    store = SqliteKeyStore(path, MasterKey.generate())
    block = make_block()
    store.add_block(block, unit_bits=UNIT_BITS, parity=0)
    reservation = _reserve(store, number=1)
    store.deliver_to_master(reservation.request_id)
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("kme.sqlite*"))
    store.close()
    raw += path.read_bytes()
    assert all(unit.material not in raw for unit in cut_block(block, UNIT_BITS))
    with sqlite3.connect(path) as conn:
        (material,) = conn.execute("SELECT material FROM units WHERE state = 3").fetchone()
    assert material == bytes(len(material))
