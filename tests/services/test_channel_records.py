"""The channel's record layer on bytes alone: what goes in comes out, and any change on the way is refused."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openqci.services.channel import _SocketInput
from openqci.services.channel_records import (
    HEADER_BYTES,
    ChannelMode,
    ChannelRecordError,
    KeyLedger,
    Opening,
    RecordReader,
    RecordType,
    RecordWriter,
    read_frame,
)
from openqci.services.hybrid import HybridHello, HybridInitiator, HybridReply, respond
from openqci.services.hybrid_kdf import length_prefixed
from openqci.services.sae_client import QkdKey

MASTER, SLAVE = "sae-a1", "sae-b1"
HYBRID = "1721"


@dataclass
class TableKeys:
    """The receiver's keys from a table, as its KME would give them by key_ID."""

    keys: dict[uuid.UUID, bytes] = field(default_factory=dict)

    def qkd_key(self, key_id: uuid.UUID) -> bytes:
        if key_id not in self.keys:
            raise ChannelRecordError(f"no key {key_id}")
        return self.keys[key_id]

    def hybrid_reply(self, hello: HybridHello, session: bytes) -> tuple[bytes, bytes]:
        qkd = QkdKey(hello.key_id, self.keys[hello.key_id]) if hello.key_id is not None else None
        reply, key = respond(hello, qkd, context=session)
        return reply.to_bytes(), key.key


def _reader(
    keys: TableKeys,
    *,
    mode: ChannelMode = ChannelMode.QKD,
    max_record_bytes: int = 4096,
    max_records_per_key: int = 1000,
    ledger: KeyLedger | None = None,
) -> RecordReader:
    return RecordReader(
        master_sae_id=MASTER,
        slave_sae_id=SLAVE,
        mode=mode,
        parameter_set=HYBRID if mode is ChannelMode.HYBRID else "",
        max_record_bytes=max_record_bytes,
        max_records_per_key=max_records_per_key,
        ledger=KeyLedger() if ledger is None else ledger,
        keys=keys,
    )


def _writer(mode: ChannelMode = ChannelMode.QKD) -> RecordWriter:
    parameter_set = HYBRID if mode is ChannelMode.HYBRID else ""
    return RecordWriter(Opening(os.urandom(16), mode, parameter_set, MASTER, SLAVE))


def _new_key(keys: TableKeys) -> QkdKey:
    key = QkdKey(uuid.uuid4(), os.urandom(32))
    keys.keys[key.key_id] = key.key
    return key


def qkd_stream(payloads: list[bytes], rekey_every: int) -> tuple[list[bytes], TableKeys]:
    """The frames a sender writes for ``payloads``, rekeying every ``rekey_every`` records."""
    keys = TableKeys()
    writer = _writer()
    frames = [writer.open_frame]
    for index, payload in enumerate(payloads):
        if index % rekey_every == 0:
            key = _new_key(keys)
            frames.append(writer.key_frame(key.key, key.key_id.bytes))
        frames.append(writer.data_frame(payload))
    if not payloads:
        key = _new_key(keys)
        frames.append(writer.key_frame(key.key, key.key_id.bytes))
    frames.append(writer.close_frame())
    return frames, keys


def receive(stream: bytes, reader: RecordReader) -> tuple[list[bytes], Exception | None]:
    """What a receiver delivers from ``stream``, and the error that stopped it (None: a clean close)."""
    return receive_by(io.BytesIO(stream).read, reader)


def receive_by(read: Callable[[int], bytes], reader: RecordReader) -> tuple[list[bytes], Exception | None]:
    delivered: list[bytes] = []
    try:
        while (frame := read_frame(read, reader.check_header)) is not None:
            delivery = reader.accept(*frame)
            if delivery.kind is RecordType.DATA:
                delivered.append(delivery.payload)
        reader.end_of_stream()
    except ChannelRecordError as error:
        return delivered, error
    return delivered, None


payload_lists = st.lists(st.binary(max_size=200), max_size=12)


@settings(max_examples=60, deadline=None)
@given(payload_lists, st.integers(1, 5))
def test_every_payload_comes_out_as_it_went_in(payloads: list[bytes], rekey_every: int) -> None:
    frames, keys = qkd_stream(payloads, rekey_every)
    delivered, error = receive(b"".join(frames), _reader(keys))
    assert error is None
    assert delivered == payloads


@settings(max_examples=150, deadline=None)
@given(payload_lists, st.integers(1, 5), st.data())
def test_any_bit_flipped_is_refused(payloads: list[bytes], rekey_every: int, data: st.DataObject) -> None:
    frames, keys = qkd_stream(payloads, rekey_every)
    stream = bytearray(b"".join(frames))
    bit = data.draw(st.integers(0, 8 * len(stream) - 1))
    stream[bit // 8] ^= 1 << (bit % 8)
    delivered, error = receive(bytes(stream), _reader(keys))
    assert error is not None
    assert delivered == payloads[: len(delivered)]


@settings(max_examples=100, deadline=None)
@given(payload_lists, st.integers(1, 5), st.data())
def test_a_truncated_stream_is_refused(payloads: list[bytes], rekey_every: int, data: st.DataObject) -> None:
    frames, keys = qkd_stream(payloads, rekey_every)
    stream = b"".join(frames)
    cut = data.draw(st.integers(0, len(stream) - 1))
    delivered, error = receive(stream[:cut], _reader(keys))
    assert isinstance(error, ChannelRecordError)
    assert "truncated" in str(error) or cut < HEADER_BYTES
    assert delivered == payloads[: len(delivered)]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.binary(max_size=50), min_size=2, max_size=10),
    st.integers(1, 4),
    st.sampled_from(["drop", "replay", "swap"]),
    st.data(),
)
def test_a_frame_dropped_replayed_or_moved_is_refused(
    payloads: list[bytes], rekey_every: int, change: str, data: st.DataObject
) -> None:
    frames, keys = qkd_stream(payloads, rekey_every)
    index = data.draw(st.integers(0, len(frames) - 2))
    if change == "drop":
        del frames[index]
    elif change == "replay":
        frames.insert(index + 1, frames[index])
    else:
        frames[index], frames[index + 1] = frames[index + 1], frames[index]
    delivered, error = receive(b"".join(frames), _reader(keys))
    assert error is not None
    assert delivered == payloads[: len(delivered)]


def test_the_refusals_say_what_happened() -> None:
    frames, keys = qkd_stream([b"a", b"b", b"c"], 10)  # open, key, data x3, close
    cases = {
        "replayed record: seq 2": [*frames[:3], frames[2], *frames[3:]],
        "record out of order: seq 3 where 2": [*frames[:2], frames[3], frames[2], *frames[4:]],
        "truncated: the stream ends after record 3": frames[:4],
    }
    for expected, changed in cases.items():
        _, error = receive(b"".join(changed), _reader(keys))
        assert expected in str(error)
    tampered = bytearray(b"".join(frames))
    tampered[-1] ^= 1
    _, error = receive(bytes(tampered), _reader(keys))
    assert "record 5 (CLOSE, epoch 1) fails authentication" in str(error)


def test_a_key_id_is_taken_once_even_across_connections() -> None:
    keys = TableKeys()
    key = _new_key(keys)
    writer = _writer()
    twice = [writer.open_frame, writer.key_frame(key.key, key.key_id.bytes), writer.data_frame(b"x")]
    twice += [writer.key_frame(key.key, key.key_id.bytes), writer.data_frame(b"y"), writer.close_frame()]
    delivered, error = receive(b"".join(twice), _reader(keys))
    assert delivered == [b"x"]
    assert f"key {key.key_id} was used before" in str(error)

    ledger = KeyLedger()
    frames, keys = qkd_stream([b"once"], 1)
    assert receive(b"".join(frames), _reader(keys, ledger=ledger)) == ([b"once"], None)
    delivered, error = receive(b"".join(frames), _reader(keys, ledger=ledger))
    assert delivered == []
    assert "was used before" in str(error)


def test_a_sender_that_does_not_rekey_is_refused() -> None:
    frames, keys = qkd_stream([b"r"] * 6, 6)
    delivered, error = receive(b"".join(frames), _reader(keys, max_records_per_key=5))
    assert len(delivered) == 5
    assert "more than 5 records under the key of epoch 1: the sender did not rekey" in str(error)


def test_an_oversized_record_is_refused_before_its_body_is_read() -> None:
    frames, keys = qkd_stream([b"x" * 100], 1)
    asked: list[int] = []
    source = io.BytesIO(b"".join(frames))

    def read(size: int) -> bytes:
        asked.append(size)
        return source.read(size)

    reader = _reader(keys, max_record_bytes=64)
    delivered, error = receive_by(read, reader)
    assert delivered == []
    assert "announces 100 payload bytes: the limit is max_record_bytes=64" in str(error)
    assert max(asked) < 100
    forged = struct.pack(">BBIQI", 1, RecordType.DATA, 1, 3, 1 << 31)
    with pytest.raises(ChannelRecordError, match="refused before"):
        reader.check_header(forged)


def test_an_opening_for_another_mode_or_sae_is_refused() -> None:
    frames, keys = qkd_stream([b"x"], 1)
    _, error = receive(b"".join(frames), _reader(keys, mode=ChannelMode.HYBRID))
    assert "the channel opens with mode 'qkd'; this receiver takes 'hybrid'" in str(error)
    writer = RecordWriter(Opening(os.urandom(16), ChannelMode.QKD, "", MASTER, "sae-b2"))
    _, error = receive(writer.open_frame, _reader(keys))
    assert "slave SAE 'sae-b2'" in str(error)


def _hybrid_stream(keys: TableKeys, reader: RecordReader, change_reply: bool = False) -> list[bytes]:
    """Run the hybrid exchange of two epochs between a writer and ``reader``; return what was delivered."""
    writer = _writer(ChannelMode.HYBRID)
    out: list[bytes] = []

    def feed(frame: bytes) -> bytes:
        header = reader.check_header(frame[:HEADER_BYTES])
        delivery = reader.accept(header, frame[HEADER_BYTES:])
        if delivery.kind is RecordType.DATA:
            out.append(delivery.payload)
        return delivery.reply

    feed(writer.open_frame)
    for epoch in (1, 2):  # two epochs, each a HELLO, a REPLY back and a KEY
        qkd = _new_key(keys)
        initiator = HybridInitiator(HYBRID, qkd, context=writer.session)
        hello = initiator.hello.to_bytes()
        reply_frame = bytearray(feed(writer.hello_frame(hello)))
        if change_reply:
            reply_frame[-1] ^= 1
        source = io.BytesIO(bytes(reply_frame[HEADER_BYTES:]))
        reply = writer.accept_reply(bytes(reply_frame[:HEADER_BYTES]), source.read)
        key = initiator.finish(HybridReply.from_bytes(reply))
        transcript = hashlib.sha256(length_prefixed(hello, reply)).digest()
        feed(writer.key_frame(key.key, transcript))
        feed(writer.data_frame(b"epoch %d" % epoch))
    feed(writer.close_frame())
    assert reader.closed
    return out


def test_hybrid_epochs_come_from_the_exchange_and_a_changed_reply_is_refused() -> None:
    keys = TableKeys()
    assert _hybrid_stream(keys, _reader(keys, mode=ChannelMode.HYBRID)) == [b"epoch 1", b"epoch 2"]
    with pytest.raises(ChannelRecordError, match="names another hybrid exchange"):
        _hybrid_stream(keys, _reader(keys, mode=ChannelMode.HYBRID), change_reply=True)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 700), min_size=1), st.lists(st.integers(0, 5000)))
def test_the_socket_input_gives_exact_reads_however_the_bytes_arrive(
    stream: bytes, pieces: list[int], reads: list[int]
) -> None:
    ours, theirs = socket.socketpair()

    def write() -> None:
        offset, index = 0, 0
        while offset < len(stream):
            step = pieces[index % len(pieces)]
            theirs.sendall(stream[offset : offset + step])
            offset, index = offset + step, index + 1
        theirs.close()

    writer = threading.Thread(target=write)
    writer.start()
    source = _SocketInput(ours, 4096, 5.0, 5.0)
    got = [source.read(size) for size in reads]
    rest = source.read(len(stream))
    writer.join()
    ours.close()
    taken = b"".join(got)
    assert taken + rest == stream
    expected = 0
    for size, data in zip(reads, got, strict=True):
        assert len(data) == min(size, len(stream) - expected)
        expected += len(data)
