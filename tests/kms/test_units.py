"""Cutting KeyBlocks into units and joining them into keys, checked as properties."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openqci.keysource import KeyBlock
from openqci.kms.crypto import MasterKey
from openqci.kms.errors import StoreError
from openqci.kms.units import (
    cut_block,
    join_units,
    owned_parity,
    unit_key_id,
    unit_key_id_texts,
    unit_owner,
    units_per_key,
)


@given(data=st.binary(min_size=0, max_size=600), unit_bytes=st.integers(1, 64), tail_bits=st.integers(0, 7))
def test_cutting_keeps_every_whole_unit_in_order(data: bytes, unit_bytes: int, tail_bits: int) -> None:
    size_bits = max(0, 8 * len(data) - tail_bits)
    block = KeyBlock("l", uuid.UUID(int=7), data, size_bits, 0.01, 1e-9)
    units = cut_block(block, 8 * unit_bytes)
    assert len(units) == size_bits // (8 * unit_bytes)
    assert b"".join(u.material for u in units) == data[: len(units) * unit_bytes]
    assert [u.unit_id for u in units] == [unit_key_id(block.block_id, i) for i in range(len(units))]
    assert len({u.unit_id for u in units}) == len(units)


@given(size_bytes=st.integers(1, 256), unit_bytes=st.integers(1, 64))
def test_a_key_takes_just_enough_units(size_bytes: int, unit_bytes: int) -> None:
    n = units_per_key(8 * size_bytes, 8 * unit_bytes)
    parts = [bytes([i]) * unit_bytes for i in range(n)]
    key = join_units(parts, 8 * size_bytes)
    assert len(key) == size_bytes
    assert (n - 1) * unit_bytes < size_bytes <= n * unit_bytes


def test_unit_ids_are_deterministic_version_5_uuids() -> None:
    block_id = uuid.UUID("0e5b7d2c-8a41-4f6e-9d3b-2c1a0f9e8d7c")
    assert unit_key_id(block_id, 3) == unit_key_id(uuid.UUID(str(block_id)), 3)
    assert unit_key_id(block_id, 3).version == 5


@given(block=st.uuids(), count=st.integers(0, 40))
def test_the_fast_unit_ids_are_the_uuid5_ids_as_text(block: uuid.UUID, count: int) -> None:
    assert unit_key_id_texts(block, count) == [str(unit_key_id(block, i)) for i in range(count)]


@given(materials=st.lists(st.binary(min_size=1, max_size=64), max_size=20))
def test_sealing_many_units_opens_each_with_its_own_id_and_fresh_nonces(materials: list[bytes]) -> None:
    key = MasterKey.generate()
    ids = [f"unit-{i}".encode() for i in range(len(materials))]
    sealed = key.seal_many(materials, ids)
    assert [
        key.open(nonce, box, unit_id) for (nonce, box), unit_id in zip(sealed, ids, strict=True)
    ] == materials
    assert len({nonce for nonce, _ in sealed}) == len(materials)
    if len(materials) > 1:  # bound to its own ID: a unit moved to another row does not open
        with pytest.raises(StoreError):
            key.open(sealed[0][0], sealed[0][1], ids[1])


def test_the_two_ends_split_a_link_pool() -> None:
    assert {owned_parity("kme-a", "kme-b"), owned_parity("kme-b", "kme-a")} == {0, 1}
    with pytest.raises(ValueError, match="two different"):
        owned_parity("kme-a", "kme-a")


def test_sealed_units_open_only_with_their_key_and_row() -> None:
    key = MasterKey.generate()
    nonce, sealed = key.seal(b"secret", b"unit-1")
    assert key.open(nonce, sealed, b"unit-1") == b"secret"
    assert b"secret" not in sealed
    assert "secret" not in repr(key)
    with pytest.raises(StoreError):
        key.open(nonce, sealed, b"unit-2")
    with pytest.raises(StoreError):
        MasterKey.generate().open(nonce, sealed, b"unit-1")


def test_one_unit_blocks_are_shared_between_both_ends_of_a_link() -> None:
    owners = [unit_owner(uuid.uuid4(), 0, 1) for _ in range(400)]
    assert 120 < sum(owners) < 280  # each end owns about half of a slow link's one-unit blocks
    block = uuid.uuid4()
    assert [unit_owner(block, i, 4) for i in range(4)] == [0, 1, 0, 1]
