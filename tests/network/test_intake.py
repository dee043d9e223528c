"""The engine-to-KME channel: blocks and states arrive authenticated, anything else is refused."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from pathlib import Path

import pytest

from openqci.keysource import KeyBlock, SourceState
from openqci.network.engine import BlockSpool
from openqci.network.intake import (
    MAX_CONNECTIONS,
    MAX_FRAME_BYTES,
    IntakeClient,
    IntakeError,
    IntakeServer,
    intake_address,
    intake_key,
)

SEED = bytes(range(32))
STATE = SourceState(up=True, qber=0.02, skr_bps=1e6, eskr_bps=9e5, blocks=1)


def _block(link: str = "a-b", size_bits: int = 4096) -> KeyBlock:
    return KeyBlock(link, uuid.uuid4(), os.urandom(size_bits // 8), size_bits, 0.02, 1e-10)


async def _exchange(tmp_path: Path, client_key: bytes, link_sent: str = "a-b") -> tuple[list, list, bool]:
    address = intake_address(str(tmp_path), "a-b", "kme-a")
    received: list[KeyBlock] = []
    states: list[SourceState] = []

    async def on_block(block: KeyBlock) -> bool:
        received.append(block)
        return True

    server = IntakeServer(
        address, intake_key(SEED, "a-b", "kme-a"), "a-b", on_block=on_block, on_state=states.append
    )
    await server.start()
    client = IntakeClient(address, client_key, link_sent, timeout_s=5.0)
    block = _block(link_sent)
    try:
        await asyncio.to_thread(client.send_block, block, STATE)
        await asyncio.to_thread(client.send_state, STATE)
        delivered = True
    except IntakeError:
        delivered = False
    finally:
        client.close()
        await server.close()
    assert server.refused == (0 if delivered else 1)
    return received, states, delivered


def test_a_block_and_a_state_arrive_whole(tmp_path: Path) -> None:
    received, states, delivered = asyncio.run(_exchange(tmp_path, intake_key(SEED, "a-b", "kme-a")))
    assert delivered
    assert len(received) == 1
    assert received[0].size_bits == 4096
    assert states == [STATE, STATE]


@pytest.mark.parametrize(
    "key",
    [intake_key(SEED, "a-b", "kme-b"), intake_key(os.urandom(32), "a-b", "kme-a")],
    ids=["the other end's key", "another seed"],
)
def test_a_frame_under_another_key_is_refused(tmp_path: Path, key: bytes) -> None:
    received, states, delivered = asyncio.run(_exchange(tmp_path, key))
    assert not delivered
    assert received == []
    assert states == []


def test_a_block_of_another_link_is_refused(tmp_path: Path) -> None:
    received, _, delivered = asyncio.run(_exchange(tmp_path, intake_key(SEED, "a-b", "kme-a"), "c-d"))
    assert not delivered
    assert received == []


def test_an_oversized_frame_is_refused_before_it_is_read(tmp_path: Path) -> None:
    async def scenario() -> int:
        address = intake_address(str(tmp_path), "a-b", "kme-a")

        async def on_block(block: KeyBlock) -> bool:
            raise AssertionError("no block may arrive")

        server = IntakeServer(address, b"k" * 32, "a-b", on_block=on_block, on_state=lambda s: None)
        await server.start()

        def send() -> bytes:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5.0)
                sock.connect(address)
                sock.sendall((1).to_bytes(8, "big") + (MAX_FRAME_BYTES + 1).to_bytes(4, "big"))
                return sock.recv(64)

        answer = await asyncio.to_thread(send)
        await server.close()
        assert answer == b""  # closed without an answer
        return server.refused

    assert asyncio.run(scenario()) == 1


def test_the_spool_keeps_blocks_until_removed_and_wipes_them(tmp_path: Path) -> None:
    spool = BlockSpool(tmp_path / "spool")
    first, second = _block(), _block()
    spool.put(first)
    spool.put(second)
    assert (tmp_path / "spool" / f"{first.block_id}.block").stat().st_mode & 0o077 == 0
    again = BlockSpool(tmp_path / "spool").pending()
    assert {b.block_id for b in again} == {first.block_id, second.block_id}
    assert {b.bits for b in again} == {first.bits, second.bits}
    spool.remove(first)
    assert [b.block_id for b in spool.pending()] == [second.block_id]


def test_an_end_holds_at_most_its_connection_cap(tmp_path: Path) -> None:
    async def scenario() -> list[bytes]:
        address = intake_address(str(tmp_path), "a-b", "kme-a")

        async def on_block(block: KeyBlock) -> bool:
            raise AssertionError("no block may arrive")

        server = IntakeServer(address, b"k" * 32, "a-b", on_block=on_block, on_state=lambda s: None)
        await server.start()

        def connect_all() -> list[bytes]:
            held = []
            for _ in range(MAX_CONNECTIONS):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(address)
                held.append(sock)
            extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            extra.settimeout(5.0)
            extra.connect(address)
            closed = extra.recv(1)  # b"" once the server has closed it
            first = held[0]
            first.settimeout(0.5)
            try:
                still_open = first.recv(1)
            except TimeoutError:
                still_open = b"open"
            for sock in [*held, extra]:
                sock.close()
            return [closed, still_open]

        answers = await asyncio.to_thread(connect_all)
        await server.close()
        return answers

    closed, still_open = asyncio.run(scenario())
    assert closed == b""
    assert still_open == b"open"
