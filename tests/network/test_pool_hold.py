"""A link end whose KME's pool is full holds the block: the source keeps it and both ends end up alike.

Before ``max_key_count`` stopped the intake, a KME stored every block it was handed; now the engine's
intake answers "hold" and the engine keeps the block spooled, and a model-run end rewinds its source to
the refused block instead of skipping it, so the two ends of a link never hold different blocks.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from pathlib import Path

import pytest

from openqci.keysource import KeyBlock, SourceState
from openqci.kms.errors import PoolFullError
from openqci.network.engine import BlockSpool, _Delivery, _EndSender
from openqci.network.intake import IntakeClient, IntakeHeldError, IntakeServer, intake_address
from openqci.network.link_simulator import LinkKeyStream, LinkPlan
from openqci.network.model_source import ModelKeySource
from openqci.network.site import LinkEnd
from tests.kms.harness import in_process, make_site

SEED = bytes(range(32))
STATE = SourceState(up=True, qber=0.02, skr_bps=1e6, eskr_bps=9e5, blocks=1)
PLAN = LinkPlan("link-ab", "kme-a", "kme-b", "yuan2018", "decoy-bb84", 25.0, 1.0, 65536.0, 1.0, 1000.0, 256)


def _source() -> ModelKeySource:
    return ModelKeySource(PLAN, LinkKeyStream(SEED, PLAN.link), lambda: [])


def test_a_model_source_held_at_a_block_cuts_the_same_blocks_as_the_other_end() -> None:
    free, full = _source(), _source()
    taken_free = [b.block_id for b in free.blocks_due(1010.0)]
    first = full.blocks_due(1005.0)
    full.hold(first[2])  # the KME took two blocks, then its pool was full
    assert "pool is full" in full.state().reason
    assert full.state().eskr_bps == 0.0
    assert full.blocks_due(1007.0)[0].block_id == first[2].block_id  # the held block alone, again
    full.hold(first[2])
    later = full.blocks_due(1010.0)  # room again: the held block first, then the rest
    assert len(later) == 1
    later += full.blocks_due(1010.0)
    taken_full = [b.block_id for b in first[:2]] + [b.block_id for b in later]
    assert taken_full == taken_free
    assert full.state().blocks == free.state().blocks == len(taken_free)


async def _serve(tmp_path: Path, answers: list[bool]) -> tuple[IntakeServer, list[KeyBlock]]:
    received: list[KeyBlock] = []

    async def on_block(block: KeyBlock) -> bool:
        stored = answers.pop(0) if answers else True
        if stored:
            received.append(block)
        return stored

    address = intake_address(str(tmp_path), "link-ab", "kme-a")
    server = IntakeServer(address, b"k" * 32, "link-ab", on_block=on_block, on_state=lambda s: None)
    await server.start()
    return server, received


def _block() -> KeyBlock:
    return KeyBlock("link-ab", uuid.uuid4(), os.urandom(512), 4096, 0.02, 1e-10)


def test_a_full_end_answers_hold_and_takes_the_block_when_offered_again(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        server, received = await _serve(tmp_path, [False])
        client = IntakeClient(server.address, b"k" * 32, "link-ab", timeout_s=5.0)
        block = _block()
        try:
            with pytest.raises(IntakeHeldError):
                await asyncio.to_thread(client.send_block, block, STATE)
            await asyncio.to_thread(client.send_block, block, STATE)  # same connection, room now
        finally:
            client.close()
            await server.close()
        return server.held, len(received)

    assert asyncio.run(scenario()) == (1, 1)


def test_the_engine_keeps_a_held_block_spooled_until_the_end_takes_it(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[bool], int]:
        server, received = await _serve(tmp_path, [False, False])
        spool = BlockSpool(tmp_path / "spool")
        block = _block()
        spool.put(block)
        client = IntakeClient(server.address, b"k" * 32, "link-ab", timeout_s=5.0)
        sender = _EndSender("kme-a", client, threading.Event())
        sender.send_block(_Delivery(block, STATE, spool, ends=1))
        spooled = []
        for _ in range(2):  # held twice, a retry a second later each time
            spooled.append(bool(spool.pending()))
            await asyncio.sleep(0.9)
        await asyncio.to_thread(sender.close)
        await server.close()
        return [*spooled, bool(spool.pending())], len(received)

    assert asyncio.run(scenario()) == ([True, True, False], 1)


@pytest.mark.anyio
async def test_a_kme_takes_no_block_past_max_key_count_and_resumes_once_key_is_consumed(tmp_path) -> None:
    site = make_site(tmp_path)
    for path in site.config_paths.values():  # eight 256-bit keys per half: 16 free units in all
        path.write_text(path.read_text().replace("max_key_per_request: 16", "max_key_count: 8"))
    env = in_process(site)
    try:
        a, b = env.kmes["kme-a"].manager, env.kmes["kme-b"].manager
        first, second = KeyBlock("link-ab", uuid.uuid4(), os.urandom(512), 4096, 0.02, 1e-10), _block()
        for manager in (a, b):
            assert manager.add_block(first) == 16
            with pytest.raises(PoolFullError):
                manager.add_block(second)
        delivery = await a.enc_keys("sae-a1", "sae-b1", number=1)
        assert a.add_block(second) == 16  # kme-a consumed a unit: room for one more block
        with pytest.raises(PoolFullError):
            b.add_block(second)  # kme-b has not heard of the delivery yet: it holds
        key_id = str(delivery.keys[0].key_id)
        assert [k.material for k in await b.dec_keys("sae-b1", "sae-a1", [key_id])] == [
            delivery.keys[0].material
        ]
        assert b.add_block(second) == 16  # the record bound kme-b's copy: the same pool at both ends
        for manager in (a, b):
            assert manager._store.key_counts("link-ab")[0] == 32
    finally:
        await env.close()


@pytest.mark.anyio
async def test_a_model_run_link_end_holds_at_its_full_kme_and_catches_up(tmp_path) -> None:
    site = make_site(tmp_path)
    for path in site.config_paths.values():
        path.write_text(path.read_text().replace("max_key_per_request: 16", "max_key_count: 100"))
    env = in_process(site)
    try:
        kme = env.kmes["kme-a"]
        end = LinkEnd(PLAN, "kme-a", kme, kme.manager._store, source=_source())
        await end.catch_up(1005.0)
        assert end.blocks == 1  # one block of 256 units filled the pool of 200; the next is held
        assert "pool is full" in end.state.reason
        await kme.manager.enc_keys("sae-a1", "sae-b1", number=100)
        made_before = kme.manager._store.key_counts("link-ab")[0]
        await end.catch_up(1005.0)
        assert end.blocks == 2
        assert kme.manager._store.key_counts("link-ab")[0] > made_before
    finally:
        await env.close()
