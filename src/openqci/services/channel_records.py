"""The encrypted channel's records: the wire format, each epoch's key, and what a receiver refuses.

Nothing here touches a socket or a KME. A :class:`RecordWriter` turns payloads into frames and a
:class:`RecordReader` turns frames back into payloads, so every rule can be checked on bytes alone
(``tests/services/test_channel_records.py``); :mod:`openqci.services.channel` moves the frames over TCP and
gets the keys from the KMEs.

Every frame is an 18-byte header and a body::

    version u8 (1) | type u8 | epoch u32 | seq u64 | length u32 | body (length bytes)

``seq`` counts the frames of one direction of one connection from 0 (the OPEN frame), and the receiver
takes only the next one, so a frame replayed, dropped or moved is refused. ``epoch`` counts the keys: a
KEY frame starts epoch ``e + 1``, and DATA and CLOSE frames are sealed with AES-256-GCM under the key of
their epoch, with the session digest and the whole header as associated data and the nonce ``iv xor seq``.
"""

from __future__ import annotations

import hashlib
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import NamedTuple, Protocol, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from openqci.errors import OpenQciError
from openqci.services.hybrid import HybridHello
from openqci.services.hybrid_kdf import HybridInputError, length_prefixed

__all__ = [
    "HEADER_BYTES",
    "MAX_BYTES_PER_KEY",
    "MAX_CONTROL_BYTES",
    "MAX_RECORDS_PER_KEY",
    "MAX_RECORD_LIMIT",
    "TAG_BYTES",
    "VERSION",
    "ChannelError",
    "ChannelMode",
    "ChannelRecordError",
    "Delivery",
    "EpochKey",
    "Header",
    "KeyLedger",
    "Opening",
    "ReceiverKeys",
    "RecordReader",
    "RecordType",
    "RecordWriter",
    "epoch_key",
    "read_frame",
]

VERSION = 1
_HEADER = struct.Struct(">BBIQI")
HEADER_BYTES = _HEADER.size
TAG_BYTES = 16
MAX_CONTROL_BYTES = 8192
"""The largest OPEN, HELLO, REPLY or KEY body (a hybrid hello with ML-KEM-1024 is under 2 KiB)."""
MAX_RECORD_LIMIT = 1 << 24
"""The largest ``max_record_bytes`` a channel may be configured with (16 MiB of payload per record)."""
MAX_RECORDS_PER_KEY = 1 << 24
"""The most DATA records under one key, whatever ``rekey_records`` says (RFC 8446's AES-GCM margin)."""
MAX_BYTES_PER_KEY = 1 << 36
"""The most payload bytes under one key (64 GiB): the sender rekeys before, the receiver refuses after."""

_OPEN_TAG = b"openqci-channel/1"
_KEY_DOMAIN = b"OpenQCI channel/1 epoch key"
_MAX_SEQ = (1 << 64) - 1


class ChannelError(OpenQciError):
    """The channel cannot go on; the message says why (the connection is closed)."""


class ChannelRecordError(ChannelError):
    """A record was refused: tampered, replayed, out of order, truncated, too large, or under a used key."""


class ChannelMode(StrEnum):
    """Where each epoch's key comes from."""

    QKD = "qkd"
    """A QKD key from ``enc_keys``/``dec_keys``, named in the KEY frame by its key_ID."""
    HYBRID = "hybrid"
    """A hybrid key (QKD + ML-KEM + ECDH, ETSI TS 103 744) from a HELLO/REPLY exchange before each KEY."""


class RecordType(IntEnum):
    """The frame types; REPLY is the only one the receiver sends."""

    OPEN = 1
    HELLO = 2
    REPLY = 3
    KEY = 4
    DATA = 5
    CLOSE = 6


_CONTROL = {RecordType.OPEN, RecordType.HELLO, RecordType.REPLY, RecordType.KEY}
_DATA = RecordType.DATA.value
_DATA_MIN = TAG_BYTES


class Header(NamedTuple):
    """A decoded frame header; ``raw`` is its 18 bytes, part of the associated data."""

    kind: RecordType
    epoch: int
    seq: int
    length: int
    raw: bytes


def _header(kind: RecordType, epoch: int, seq: int, length: int) -> bytes:
    return _HEADER.pack(VERSION, kind, epoch, seq, length)


_TYPES = {kind.value: kind for kind in RecordType}


def _decode_header(raw: bytes) -> Header:
    version, kind, epoch, seq, length = _HEADER.unpack(raw)
    if version != VERSION:
        raise ChannelRecordError(f"record version {version} is not {VERSION}")
    record_type = _TYPES.get(kind)
    if record_type is None:
        raise ChannelRecordError(f"unknown record type {kind}")
    return Header(record_type, epoch, seq, length, raw)


def read_frame(read: Callable[[int], bytes], check: Callable[[bytes], Header]) -> tuple[Header, bytes] | None:
    """Read one frame with ``read(n)`` (which returns fewer bytes only at the end of the stream).

    ``check`` decodes and checks the header before the body is read, so a length over the limit is refused
    before any memory is taken for it. Returns None at the end of the stream on a frame boundary.

    Raises
    ------
    ChannelRecordError
        If the stream ends inside a frame, or ``check`` refuses the header.
    """
    raw = read(HEADER_BYTES)
    if not raw:
        return None
    if len(raw) < HEADER_BYTES:
        raise ChannelRecordError(f"truncated: the stream ends {len(raw)} bytes into a record header")
    header = check(raw)
    body = read(header.length) if header.length else b""
    if len(body) < header.length:
        raise ChannelRecordError(
            f"truncated: the stream ends {len(body)} of {header.length} bytes into record {header.seq}"
        )
    return header, body


def _fields(data: bytes, what: str) -> list[bytes]:
    fields, offset = [], 0
    while offset < len(data):
        if offset + 4 > len(data):
            raise ChannelRecordError(f"{what} is malformed: truncated at byte {offset}")
        size = int.from_bytes(data[offset : offset + 4], "big")
        offset += 4
        if offset + size > len(data):
            raise ChannelRecordError(f"{what} is malformed: a field of {size} bytes at byte {offset}")
        fields.append(data[offset : offset + size])
        offset += size
    return fields


@dataclass(frozen=True)
class Opening:
    """The OPEN frame's content: who talks to whom, how keys are made, and a fresh channel ID.

    Its digest (with the header) is the session digest bound into every record and every epoch key.
    """

    channel_id: bytes
    mode: ChannelMode
    parameter_set: str
    master_sae_id: str
    slave_sae_id: str

    def to_bytes(self) -> bytes:
        return length_prefixed(
            _OPEN_TAG,
            self.channel_id,
            self.mode.value.encode(),
            self.parameter_set.encode(),
            self.master_sae_id.encode(),
            self.slave_sae_id.encode(),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        fields = _fields(data, "the open record")
        if len(fields) != 6 or fields[0] != _OPEN_TAG or len(fields[1]) != 16:
            raise ChannelRecordError(f"the open record is not an {_OPEN_TAG.decode()} opening")
        try:
            mode = ChannelMode(fields[2].decode())
            names = [field.decode() for field in fields[3:]]
        except (UnicodeDecodeError, ValueError):
            raise ChannelRecordError(
                "the open record names an unknown mode or a name that is not UTF-8"
            ) from None
        return cls(fields[1], mode, names[0], names[1], names[2])


@dataclass(frozen=True)
class EpochKey:
    """The AEAD and the nonce base of one epoch."""

    epoch: int
    aead: AESGCM
    iv: int

    def nonce(self, seq: int) -> bytes:
        """``iv xor seq``: seq never repeats on a connection and a key serves one epoch of one connection."""
        return (self.iv ^ seq).to_bytes(12, "big")


def epoch_key(secret: bytes, session: bytes, epoch: int, announce: bytes) -> EpochKey:
    """HKDF-SHA256 of the epoch's secret, salted with the session digest, for an AES-256 key and a 96-bit iv.

    ``announce`` is what the KEY frame names: the QKD key's key_ID, or the digest of the hybrid exchange.
    """
    info = length_prefixed(_KEY_DOMAIN, epoch.to_bytes(4, "big"), announce)
    material = HKDF(hashes.SHA256(), 44, session, info).derive(secret)
    return EpochKey(epoch, AESGCM(material[:32]), int.from_bytes(material[32:], "big"))


class KeyLedger:
    """Key IDs already used; a key ID is claimed once (shared by the connections of one listener)."""

    def __init__(self) -> None:
        self._seen: set[uuid.UUID] = set()
        self._lock = threading.Lock()

    def claim(self, key_id: uuid.UUID) -> None:
        """Mark ``key_id`` used.

        Raises
        ------
        ChannelRecordError
            If it was used before.
        """
        with self._lock:
            if key_id in self._seen:
                raise ChannelRecordError(f"key {key_id} was used before: a key is used once")
            self._seen.add(key_id)

    def __contains__(self, key_id: object) -> bool:
        with self._lock:
            return key_id in self._seen

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


class RecordWriter:
    """The sender's side: frames in order, each DATA and CLOSE record sealed under the current epoch's key."""

    def __init__(self, opening: Opening) -> None:
        self.opening = opening
        self._seq = 0
        self._reply_seq = 0
        self.epoch = 0
        self._key: EpochKey | None = None
        self.records_in_epoch = 0
        self.bytes_in_epoch = 0
        body = opening.to_bytes()
        self.open_frame = self._next_header(RecordType.OPEN, 0, len(body)) + body
        self.session = hashlib.sha256(self.open_frame).digest()

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def _next_header(self, kind: RecordType, epoch: int, length: int) -> bytes:
        if self._seq > _MAX_SEQ:
            raise ChannelError("the connection has used every sequence number: open a new one")
        header = _header(kind, epoch, self._seq, length)
        self._seq += 1
        return header

    def hello_frame(self, hello: bytes) -> bytes:
        """The HELLO frame that starts the hybrid exchange of the next epoch."""
        return self._next_header(RecordType.HELLO, self.epoch + 1, len(hello)) + hello

    def accept_reply(self, raw: bytes, read: Callable[[int], bytes]) -> bytes:
        """Check the receiver's REPLY frame for the next epoch (header ``raw``, body by ``read``).

        Raises
        ------
        ChannelRecordError
            If it is not the expected REPLY, or the stream ends inside it.
        """
        header = _decode_header(raw)
        want = (RecordType.REPLY, self.epoch + 1, self._reply_seq)
        if (header.kind, header.epoch, header.seq) != want:
            raise ChannelRecordError(
                f"expected REPLY for epoch {want[1]} (seq {want[2]}), got {header.kind.name} for epoch "
                f"{header.epoch} (seq {header.seq})"
            )
        if header.length > MAX_CONTROL_BYTES:
            raise ChannelRecordError(f"a REPLY of {header.length} bytes exceeds {MAX_CONTROL_BYTES}")
        body = read(header.length)
        if len(body) < header.length:
            raise ChannelRecordError("truncated: the stream ends inside the REPLY")
        self._reply_seq += 1
        return body

    def key_frame(self, secret: bytes, announce: bytes) -> bytes:
        """Start the next epoch with ``secret``: a KEY frame naming ``announce``, tagged under the new key."""
        epoch = self.epoch + 1
        key = epoch_key(secret, self.session, epoch, announce)
        seq = self._seq
        header = self._next_header(RecordType.KEY, epoch, len(announce) + TAG_BYTES)
        tag = key.aead.encrypt(key.nonce(seq), b"", self.session + header + announce)
        self.epoch, self._key = epoch, key
        self.records_in_epoch = self.bytes_in_epoch = 0
        return header + announce + tag

    def data_frame(self, payload: bytes) -> bytes:
        """A DATA record under the current key (the caller keeps to the rekey limits)."""
        return self._sealed(RecordType.DATA, payload)

    def close_frame(self) -> bytes:
        """The CLOSE record: the end of the stream, so a receiver can tell it from a truncation."""
        return self._sealed(RecordType.CLOSE, b"")

    def _sealed(self, kind: RecordType, payload: bytes) -> bytes:
        key = self._key
        if key is None:
            raise ChannelError("no key yet: a KEY frame must come before any sealed record")
        seq = self._seq
        header = self._next_header(kind, key.epoch, len(payload) + TAG_BYTES)
        if kind is RecordType.DATA:
            self.records_in_epoch += 1
            self.bytes_in_epoch += len(payload)
        return header + key.aead.encrypt(key.nonce(seq), payload, self.session + header)


class ReceiverKeys(Protocol):
    """Where a :class:`RecordReader` gets each epoch's secret (the receiver's KME, or a test's table)."""

    def qkd_key(self, key_id: uuid.UUID) -> bytes:
        """The QKD key a KEY frame names (``dec_keys``)."""
        ...

    def hybrid_reply(self, hello: HybridHello, session: bytes) -> tuple[bytes, bytes]:
        """Answer a hybrid hello: the REPLY message and the derived key."""
        ...


class Delivery(NamedTuple):
    """What one accepted frame gave: a DATA payload, a REPLY frame to send back, a new key, or the end."""

    kind: RecordType
    payload: bytes = b""
    reply: bytes = b""
    key_id: uuid.UUID | None = None


@dataclass
class _Pending:
    epoch: int
    secret: bytes
    transcript: bytes
    key_id: uuid.UUID | None


class RecordReader:
    """The receiver's side: takes frames in order and refuses anything that breaks the channel's rules.

    Once a frame is refused the reader refuses everything after it: the connection is over.

    Parameters
    ----------
    master_sae_id, slave_sae_id
        The SAEs the OPEN frame must name (this receiver is the slave).
    mode, parameter_set
        How keys must be made; an OPEN frame asking for anything else is refused (no downgrade).
    max_record_bytes
        The largest DATA payload taken; a header announcing more is refused before its body is read.
    max_records_per_key
        DATA records taken under one key; one more means the sender did not rekey.
    ledger
        The key IDs used before; a KEY or HELLO naming one is refused.
    keys
        Where the epochs' secrets come from.
    """

    def __init__(
        self,
        *,
        master_sae_id: str,
        slave_sae_id: str,
        mode: ChannelMode,
        parameter_set: str,
        max_record_bytes: int,
        max_records_per_key: int,
        ledger: KeyLedger,
        keys: ReceiverKeys,
    ) -> None:
        self._expect = Opening(b"", mode, parameter_set, master_sae_id, slave_sae_id)
        self._max_record = max_record_bytes
        self._max_records = min(max_records_per_key, MAX_RECORDS_PER_KEY)
        self._ledger = ledger
        self._keys = keys
        self.session: bytes | None = None
        self.opening: Opening | None = None
        self.epoch = 0
        self._key: EpochKey | None = None
        self._records = 0
        self._bytes = 0
        self._seq = 0
        self._reply_seq = 0
        self._pending: _Pending | None = None
        self.closed = False
        self._failed: str | None = None

    @property
    def next_seq(self) -> int:
        """The seq of the next frame taken (the number of frames taken so far)."""
        return self._seq

    def check_header(self, raw: bytes) -> Header:
        """Decode a header and check it against the stream's state, before its body is read.

        Raises
        ------
        ChannelRecordError
            Naming the rule broken.
        """
        if self._failed is not None:
            raise ChannelRecordError(f"the stream was refused before: {self._failed}")
        try:
            version, kind, epoch, seq, length = _HEADER.unpack(raw)
            if (  # the usual case, a DATA record of the current epoch, checked at once
                kind == _DATA
                and version == VERSION
                and seq == self._seq
                and epoch == self.epoch
                and self._key is not None
                and _DATA_MIN <= length <= self._max_record + TAG_BYTES
                and self._records < self._max_records
                and not self.closed
            ):
                return Header(RecordType.DATA, epoch, seq, length, raw)
            return self._check_header(raw)
        except Exception as error:
            self._failed = str(error)
            raise

    def accept(self, header: Header, body: bytes) -> Delivery:
        """Take the frame whose header :meth:`check_header` passed.

        Raises
        ------
        ChannelRecordError
            If the body fails authentication or breaks a rule; other errors come from ``keys``.
        """
        if self._failed is not None:
            raise ChannelRecordError(f"the stream was refused before: {self._failed}")
        try:
            if header.kind is RecordType.DATA and header.seq == self._seq:
                payload = self._open_sealed(header, body)
                self._records += 1
                self._bytes += len(payload)
                if self._bytes > MAX_BYTES_PER_KEY:
                    raise ChannelRecordError(f"more than {MAX_BYTES_PER_KEY} bytes under one key")
                self._seq += 1
                return Delivery(RecordType.DATA, payload)
            return self._accept(header, body)
        except Exception as error:
            self._failed = str(error)
            raise

    def end_of_stream(self) -> None:
        """The stream ended on a frame boundary.

        Raises
        ------
        ChannelRecordError
            Unless a CLOSE record came first: otherwise the stream was truncated.
        """
        if self._failed is not None:
            raise ChannelRecordError(f"the stream was refused before: {self._failed}")
        if not self.closed:
            self._failed = f"truncated: the stream ends after record {self._seq - 1} without a close record"
            raise ChannelRecordError(self._failed)

    def _check_header(self, raw: bytes) -> Header:
        if self.closed:
            raise ChannelRecordError("a record after the close record")
        header = _decode_header(raw)
        if header.seq != self._seq:
            if header.seq < self._seq:
                raise ChannelRecordError(
                    f"replayed record: seq {header.seq} was taken already (expected {self._seq})"
                )
            raise ChannelRecordError(
                f"record out of order: seq {header.seq} where {self._seq} was due (a record is missing or "
                "moved)"
            )
        kind = header.kind
        if self.session is None and kind is not RecordType.OPEN:
            raise ChannelRecordError(f"the first record must be OPEN, got {kind.name}")
        if kind in _CONTROL:
            if header.length > MAX_CONTROL_BYTES:
                raise ChannelRecordError(
                    f"a {kind.name} record of {header.length} bytes exceeds {MAX_CONTROL_BYTES}"
                )
        elif not TAG_BYTES <= header.length <= self._max_record + TAG_BYTES:
            raise ChannelRecordError(
                f"record {header.seq} announces {header.length - TAG_BYTES} payload bytes: the limit is "
                f"max_record_bytes={self._max_record}"
            )
        self._check_kind(header)
        return header

    def _check_kind(self, header: Header) -> None:
        kind, epoch = header.kind, header.epoch
        if kind is RecordType.OPEN:
            if self.session is not None:
                raise ChannelRecordError("a second OPEN record")
        elif kind is RecordType.REPLY:
            raise ChannelRecordError("a REPLY record from the sender")
        elif kind is RecordType.HELLO:
            if self._expect.mode is not ChannelMode.HYBRID:
                raise ChannelRecordError("a HELLO record on a channel opened in mode qkd")
            if epoch != self.epoch + 1 or self._pending is not None:
                raise ChannelRecordError(f"a HELLO for epoch {epoch} during epoch {self.epoch}")
        elif kind is RecordType.KEY:
            if epoch != self.epoch + 1:
                raise ChannelRecordError(f"a KEY for epoch {epoch} during epoch {self.epoch}")
            if self._expect.mode is ChannelMode.HYBRID and self._pending is None:
                raise ChannelRecordError(f"a KEY for epoch {epoch} without its HELLO")
        else:
            if self._key is None:
                raise ChannelRecordError(f"a {kind.name} record before any key")
            if epoch != self.epoch:
                raise ChannelRecordError(f"a {kind.name} record for epoch {epoch} during epoch {self.epoch}")
            if kind is RecordType.DATA and self._records >= self._max_records:
                raise ChannelRecordError(
                    f"more than {self._max_records} records under the key of epoch {epoch}: the sender did "
                    "not rekey"
                )

    def _accept(self, header: Header, body: bytes) -> Delivery:
        if header.seq != self._seq:
            raise ChannelRecordError(f"record {header.seq} was not the one checked ({self._seq})")
        kind = header.kind
        if kind is RecordType.OPEN:
            delivery = self._open(header, body)
        elif kind is RecordType.HELLO:
            delivery = self._hello(header, body)
        elif kind is RecordType.KEY:
            delivery = self._install(header, body)
        else:
            payload = self._open_sealed(header, body)
            if kind is RecordType.CLOSE:
                if payload:
                    raise ChannelRecordError("a close record with a payload")
                self.closed = True
                delivery = Delivery(kind)
            else:
                self._records += 1
                self._bytes += len(payload)
                if self._bytes > MAX_BYTES_PER_KEY:
                    raise ChannelRecordError(f"more than {MAX_BYTES_PER_KEY} bytes under one key")
                delivery = Delivery(kind, payload)
        self._seq += 1
        return delivery

    def _open(self, header: Header, body: bytes) -> Delivery:
        opening = Opening.from_bytes(body)
        expect = self._expect
        for what, got, want in (
            ("slave SAE", opening.slave_sae_id, expect.slave_sae_id),
            ("master SAE", opening.master_sae_id, expect.master_sae_id),
            ("mode", opening.mode.value, expect.mode.value),
            ("parameter set", opening.parameter_set, expect.parameter_set),
        ):
            if got != want:
                raise ChannelRecordError(
                    f"the channel opens with {what} {got!r}; this receiver takes {want!r}"
                )
        self.opening = opening
        self.session = hashlib.sha256(header.raw + body).digest()
        return Delivery(RecordType.OPEN)

    def _hello(self, header: Header, body: bytes) -> Delivery:
        assert self.session is not None
        try:
            hello = HybridHello.from_bytes(body)
        except HybridInputError as error:
            raise ChannelRecordError(f"the HELLO for epoch {header.epoch} is malformed: {error}") from None
        if hello.cid != self._expect.parameter_set:
            raise ChannelRecordError(
                f"the HELLO uses parameter set {hello.cid}; the channel opened with "
                f"{self._expect.parameter_set}"
            )
        if hello.key_id is not None:
            self._ledger.claim(hello.key_id)
        reply, secret = self._keys.hybrid_reply(hello, self.session)
        transcript = hashlib.sha256(length_prefixed(body, reply)).digest()
        self._pending = _Pending(header.epoch, secret, transcript, hello.key_id)
        frame = _header(RecordType.REPLY, header.epoch, self._reply_seq, len(reply)) + reply
        self._reply_seq += 1
        return Delivery(RecordType.HELLO, reply=frame)

    def _install(self, header: Header, body: bytes) -> Delivery:
        assert self.session is not None
        if len(body) < TAG_BYTES:
            raise ChannelRecordError(f"the KEY record for epoch {header.epoch} is too short")
        announce, tag = body[:-TAG_BYTES], body[-TAG_BYTES:]
        key_id: uuid.UUID | None = None
        if self._expect.mode is ChannelMode.QKD:
            if len(announce) != 16:
                raise ChannelRecordError(f"the KEY record for epoch {header.epoch} names no 16-byte key ID")
            key_id = uuid.UUID(bytes=announce)
            self._ledger.claim(key_id)
            secret = self._keys.qkd_key(key_id)
        else:
            pending = self._pending
            assert pending is not None
            if announce != pending.transcript:
                raise ChannelRecordError(
                    f"the KEY record for epoch {header.epoch} names another hybrid exchange: the HELLO or "
                    "the REPLY was changed on the way"
                )
            secret, key_id, self._pending = pending.secret, pending.key_id, None
        key = epoch_key(secret, self.session, header.epoch, announce)
        try:
            key.aead.decrypt(key.nonce(header.seq), tag, self.session + header.raw + announce)
        except InvalidTag:
            raise ChannelRecordError(
                f"the KEY record for epoch {header.epoch} fails authentication: the two ends hold different "
                "keys, or the record was changed"
            ) from None
        self.epoch, self._key, self._records, self._bytes = header.epoch, key, 0, 0
        return Delivery(RecordType.KEY, key_id=key_id)

    def _open_sealed(self, header: Header, body: bytes) -> bytes:
        assert self._key is not None
        assert self.session is not None
        try:
            return self._key.aead.decrypt(self._key.nonce(header.seq), body, self.session + header.raw)
        except InvalidTag:
            raise ChannelRecordError(
                f"record {header.seq} ({header.kind.name}, epoch {header.epoch}) fails authentication: it "
                "was changed on the way"
            ) from None
