"""The authenticated local channel from a link engine's process to the site processes of its two KMEs.

The KME takes KeyBlocks only through its Python API, so the site process that serves a KME listens for
the engine of each of its engine-run links on a Unix socket in Linux's abstract namespace (no file to
clean up, no path-length limit). Anyone on the machine can connect, so every frame is authenticated:
HMAC-SHA256 under a key derived (HKDF) from the link's secret seed for that one link end, over a
sequence number and the frame. A frame from anyone without the seed, or replayed on another link end, is
refused and the connection closed; a block replayed on the same end changes nothing, since a store adds a
block ID once.

Each frame is either a block (its record, then its bits) or a state report (up or down, QBER, rates). The
site answers each with an authenticated acknowledgement once the block is in the KME's store, so the
engine forgets a block only when both ends hold it. An end whose pool is full (``max_key_count``) answers
**hold** instead: the block was not stored, and the engine keeps it spooled and offers it again, as a QKD
device holds its key while its KMS is full. Frames are capped at :data:`MAX_FRAME_BYTES`, a
connection that sends nothing for :data:`IDLE_TIMEOUT_S` is closed, and an end accepts at most
:data:`MAX_CONNECTIONS` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
import struct
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openqci.keysource import KeyBlock, SourceState

__all__ = [
    "IDLE_TIMEOUT_S",
    "MAX_CONNECTIONS",
    "MAX_FRAME_BYTES",
    "IntakeClient",
    "IntakeError",
    "IntakeHeldError",
    "IntakeServer",
    "block_from_record",
    "block_record",
    "intake_address",
    "intake_key",
]

MAX_FRAME_BYTES = 16 << 20
"""Largest frame an end accepts (a block of 2^20 key bits is 128 KiB)."""

IDLE_TIMEOUT_S = 300.0
"""An engine connection silent for this long is closed (engines report their state every second)."""

MAX_CONNECTIONS = 4
"""Connections one link end holds at once (its engine needs one)."""

_HEAD = struct.Struct(">QI")  # sequence number, frame length
_MAC_BYTES = 32
_OK, _REFUSED, _HOLD = b"\x00", b"\x01", b"\x02"


class IntakeError(Exception):
    """A frame could not be sent, was refused, or its acknowledgement did not authenticate."""


class IntakeHeldError(IntakeError):
    """The link end's pool is full: it did not take the block, which is to be offered again later."""


def intake_address(state_root: str, link: str, kme: str) -> str:
    """The abstract socket name of ``link``'s end at ``kme`` for the network run from ``state_root``."""
    digest = hashlib.sha256(f"{state_root}\0{link}\0{kme}".encode()).hexdigest()[:32]
    return f"\0openqci-intake-{digest}"


def intake_key(seed: bytes, link: str, kme: str) -> bytes:
    """The MAC key of one link end, derived from the link's secret seed."""
    info = f"openqci engine intake/{link}/{kme}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(seed)


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def block_record(block: KeyBlock) -> dict[str, Any]:
    """A block's record without its bits, as JSON values (frames and the engine's spool carry it)."""
    return {
        "link_id": block.link_id,
        "block_id": str(block.block_id),
        "size_bits": block.size_bits,
        "qber": block.qber,
        "epsilon": block.epsilon,
        "created_at": block.created_at.isoformat(),
    }


def block_from_record(record: dict[str, Any], bits: bytes) -> KeyBlock:
    """The block of :func:`block_record` and its bits (the record's values are checked by ``KeyBlock``)."""
    return KeyBlock(
        link_id=str(record["link_id"]),
        block_id=uuid.UUID(record["block_id"]),
        bits=bits,
        size_bits=int(record["size_bits"]),
        qber=float(record["qber"]),
        epsilon=float(record["epsilon"]),
        created_at=datetime.fromisoformat(record["created_at"]),
    )


def _encode_block(block: KeyBlock, state: SourceState) -> bytes:
    record = {"kind": "block", **block_record(block), "state": asdict(state)}
    return json.dumps(record).encode() + b"\n" + block.bits


def _encode_state(link: str, state: SourceState) -> bytes:
    return json.dumps({"kind": "state", "link_id": link, "state": asdict(state)}).encode() + b"\n"


def _decode(frame: bytes, link: str) -> tuple[KeyBlock | None, SourceState]:
    head, _, bits = frame.partition(b"\n")
    record: dict[str, Any] = json.loads(head)
    if record.get("link_id") != link:
        raise ValueError(f"a frame for link {record.get('link_id')!r} on the end of {link!r}")
    state = SourceState(**record["state"])
    if record["kind"] == "state":
        return None, state
    return block_from_record(record, bits), state


class IntakeServer:
    """One link end's listener in a site process: verifies frames and hands blocks to the KME.

    ``on_block`` must return only once the block is durably in the KME's store (True: the acknowledgement
    that follows lets the engine forget it), or return False when the KME's pool is full and the block
    was not stored (the answer is then "hold").
    """

    def __init__(
        self,
        address: str,
        key: bytes,
        link: str,
        *,
        on_block: Callable[[KeyBlock], Awaitable[bool]],
        on_state: Callable[[SourceState], None],
    ) -> None:
        self.address = address
        self.link = link
        self.refused = 0
        self.held = 0
        self._key = key
        self._on_block = on_block
        self._on_state = on_state
        self._server: asyncio.Server | None = None
        self._connections = 0

    async def start(self) -> None:
        """Listen on the abstract socket."""
        self._server = await asyncio.start_unix_server(self._serve, path=self.address)

    async def close(self) -> None:
        """Stop listening and close the connections."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._connections >= MAX_CONNECTIONS:
            writer.close()
            return
        self._connections += 1
        try:
            while await self._one_frame(reader, writer):
                pass
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # the site is stopping: end quietly (asyncio's stream callback would log a cancelled handler)
            pass
        finally:
            self._connections -= 1
            writer.close()

    async def _one_frame(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await asyncio.wait_for(reader.readexactly(_HEAD.size), timeout=IDLE_TIMEOUT_S)
        _, length = _HEAD.unpack(head)
        if length > MAX_FRAME_BYTES:
            self.refused += 1
            return False
        frame = await asyncio.wait_for(reader.readexactly(length + _MAC_BYTES), timeout=IDLE_TIMEOUT_S)
        body, tag = frame[:length], frame[length:]
        if not hmac.compare_digest(tag, _mac(self._key, head, body)):
            self.refused += 1
            return False
        try:
            block, state = _decode(body, self.link)
        except (ValueError, KeyError, TypeError):
            self.refused += 1
            writer.write(_REFUSED + _mac(self._key, head, _REFUSED))
            await writer.drain()
            return False
        answer = _OK
        if block is not None and not await self._on_block(block):
            self.held += 1
            answer = _HOLD
        self._on_state(state)
        writer.write(answer + _mac(self._key, head, answer))
        await writer.drain()
        return True


class IntakeClient:
    """The engine's side of one link end: sends frames and waits for each acknowledgement."""

    def __init__(self, address: str, key: bytes, link: str, *, timeout_s: float = 30.0) -> None:
        self.address = address
        self._key = key
        self._link = link
        self._timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._sequence = 0

    def send_block(self, block: KeyBlock, state: SourceState) -> None:
        """Deliver ``block``; returns once this end's KME holds it.

        Raises IntakeHeldError when the end's pool is full and it did not take the block.
        """
        self._send(_encode_block(block, state))

    def send_state(self, state: SourceState) -> None:
        """Report the link's state to this end."""
        self._send(_encode_state(self._link, state))

    def close(self) -> None:
        """Close the connection (the next frame opens a new one)."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _send(self, body: bytes) -> None:
        if len(body) > MAX_FRAME_BYTES:
            raise IntakeError(f"a frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte cap")
        self._sequence += 1
        head = _HEAD.pack(self._sequence, len(body))
        try:
            sock = self._connected()
            sock.sendall(head + body + _mac(self._key, head, body))
            answer = _receive(sock, 1 + _MAC_BYTES)
        except OSError as error:
            self.close()
            raise IntakeError(f"link end {self.address[1:]} unreachable: {error}") from None
        status, tag = answer[:1], answer[1:]
        authentic = hmac.compare_digest(tag, _mac(self._key, head, status))
        if authentic and status == _HOLD:
            raise IntakeHeldError("the link end's pool is full (max_key_count): it holds the block")
        if not authentic or status != _OK:
            self.close()
            raise IntakeError("the link end refused the frame or its answer did not authenticate")

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self._timeout_s)
            try:
                sock.connect(self.address)
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock


def _receive(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the link end closed the connection")
        data.extend(chunk)
    return bytes(data)
