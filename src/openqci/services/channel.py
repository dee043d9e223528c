"""An encrypted channel between a master and a slave SAE that rekeys from the KMS.

The master application (the sender) opens a TCP connection to the slave application (the receiver) and
sends a stream of records sealed with AES-256-GCM. Every key comes from the KMEs: the sender takes it with
``enc_keys`` (mode ``qkd``), or makes a hybrid key from one (mode ``hybrid``, :mod:`.hybrid`), and names it
in-band; the receiver takes the same key with ``dec_keys``. The sender rekeys every ``rekey_seconds`` or
``rekey_records`` records, whichever comes first, and never uses a key twice; the receiver refuses a key
ID it has seen. The wire format and the receiver's rules are in :mod:`.channel_records`; the policies and
limits in ``docs/services.md``.

When the KME has no key the sender fails closed: it sends nothing more, logs why, asks again with
back-off and counts the pause (``ChannelStats.pauses``, ``paused``, ``pause_reason``). In mode ``hybrid``
the policy ``pq-only`` may be chosen instead: the epoch's key is then made from ML-KEM and ECDH alone,
with the hybrid module's alarm at both ends.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from openqci.services.channel_records import (
    HEADER_BYTES,
    MAX_BYTES_PER_KEY,
    MAX_CONTROL_BYTES,
    MAX_RECORD_LIMIT,
    MAX_RECORDS_PER_KEY,
    ChannelError,
    ChannelMode,
    ChannelRecordError,
    Delivery,
    Header,
    KeyLedger,
    Opening,
    RecordReader,
    RecordType,
    RecordWriter,
    read_frame,
)
from openqci.services.hybrid import (
    HybridHello,
    HybridInitiator,
    HybridQkdUnavailableError,
    HybridReply,
    QkdPolicy,
    respond_from_kme,
)
from openqci.services.hybrid_kdf import HybridError, length_prefixed, parameter_set
from openqci.services.sae_client import QkdKey, SaeClient, SaeClientError, SaeUnavailableError

__all__ = [
    "ChannelClosedError",
    "ChannelConfig",
    "ChannelConfigError",
    "ChannelError",
    "ChannelKeyUnavailableError",
    "ChannelListener",
    "ChannelMode",
    "ChannelReceiver",
    "ChannelRecordError",
    "ChannelSender",
    "ChannelStats",
    "ChannelTimeoutError",
    "KeyLedger",
]

_log = logging.getLogger(__name__)


class ChannelConfigError(ChannelError, ValueError):
    """A channel setting is out of range or contradicts another."""


class ChannelKeyUnavailableError(ChannelError):
    """The sender stayed paused for ``max_pause_s`` without a key, or the receiver could not get one."""


class ChannelClosedError(ChannelError):
    """The connection is closed (by this end after an error, or by the peer)."""


class ChannelTimeoutError(ChannelError):
    """The peer was silent past ``io_timeout_s`` (inside a record) or ``idle_timeout_s`` (between records)."""


@dataclass(frozen=True)
class ChannelConfig:
    """The settings both ends of a channel use; each limit is documented in ``docs/services.md``.

    Parameters
    ----------
    mode
        ``qkd`` (a QKD key per epoch) or ``hybrid`` (a hybrid key per epoch, one round trip each).
    parameter_set
        The hybrid parameter set (mode ``hybrid`` only; a name or identifier, see ``PARAMETER_SETS``).
    policy
        When the KME has no key: ``fail-closed`` (pause); ``pq-only`` only in mode ``hybrid``.
    rekey_records, rekey_seconds
        The sender takes a new key after this many DATA records or seconds under one key, whichever comes
        first; the receiver refuses record ``rekey_records + 1`` under a key.
    key_bits
        Bits of each QKD key asked of the KME.
    max_record_bytes
        The largest payload of one record; the receiver refuses a header announcing more.
    read_buffer_bytes
        The receiver's read buffer (bytes held from the socket beyond the record being read).
    io_timeout_s
        Seconds a write, the rest of a started record, or a hybrid REPLY may take.
    idle_timeout_s
        Seconds the receiver waits for the next record (None: for ever); keep it above ``max_pause_s``.
    retry_s, max_retry_s
        The paused sender's first wait before asking the KME again, doubled up to ``max_retry_s``.
    max_pause_s
        The longest pause before the sender gives up (:class:`ChannelKeyUnavailableError`; None: never).
    """

    mode: ChannelMode = ChannelMode.QKD
    parameter_set: str = "CatKDF/HKDF-SHA256/X25519/ML-KEM-768"
    policy: QkdPolicy = QkdPolicy.FAIL_CLOSED
    rekey_records: int = 1_000_000
    rekey_seconds: float = 60.0
    key_bits: int = 256
    max_record_bytes: int = 65536
    read_buffer_bytes: int = 262144
    io_timeout_s: float = 30.0
    idle_timeout_s: float | None = 600.0
    retry_s: float = 0.5
    max_retry_s: float = 10.0
    max_pause_s: float | None = 300.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", ChannelMode(self.mode))
        object.__setattr__(self, "policy", QkdPolicy(self.policy))
        checks = [
            (
                1 <= self.rekey_records <= MAX_RECORDS_PER_KEY,
                f"rekey_records must be 1..{MAX_RECORDS_PER_KEY}",
            ),
            (self.rekey_seconds > 0, "rekey_seconds must be > 0"),
            (self.key_bits >= 128 and self.key_bits % 8 == 0, "key_bits must be a multiple of 8, >= 128"),
            (
                1 <= self.max_record_bytes <= MAX_RECORD_LIMIT,
                f"max_record_bytes must be 1..{MAX_RECORD_LIMIT}",
            ),
            (self.read_buffer_bytes >= 4096, "read_buffer_bytes must be >= 4096"),
            (self.io_timeout_s > 0, "io_timeout_s must be > 0"),
            (self.idle_timeout_s is None or self.idle_timeout_s > 0, "idle_timeout_s must be > 0 or None"),
            (0 < self.retry_s <= self.max_retry_s, "need 0 < retry_s <= max_retry_s"),
            (self.max_pause_s is None or self.max_pause_s >= 0, "max_pause_s must be >= 0 or None"),
            (
                self.policy is QkdPolicy.FAIL_CLOSED or self.mode is ChannelMode.HYBRID,
                "policy pq-only needs mode hybrid: a qkd channel has no key without the KME",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ChannelConfigError(message)
        if self.mode is ChannelMode.HYBRID:
            try:
                chosen = parameter_set(self.parameter_set)
                chosen.require_supported()
            except HybridError as error:
                raise ChannelConfigError(str(error)) from None
            object.__setattr__(self, "parameter_set", chosen.cid)

    @property
    def cid(self) -> str:
        """The parameter set's identifier as the OPEN record names it (empty in mode ``qkd``)."""
        return self.parameter_set if self.mode is ChannelMode.HYBRID else ""


@dataclass
class ChannelStats:
    """Counters of one end of one connection; ``record()`` gives them with throughput as a dict.

    ``keys_used`` counts the epochs' keys (``key_ids`` the QKD ones, in order; ``pq_only_keys`` those made
    without QKD under ``pq-only``) and ``rekeys`` the changes after the first. ``key_wait_s`` is the time
    spent getting keys: the KME's answers, a hybrid exchange's round trip and, at the sender, any pause.
    ``pauses`` counts the times the sender stopped for want of a key, ``paused_s`` their total length;
    ``paused`` and ``pause_reason`` say whether it is stopped now and why.
    """

    records_sent: int = 0
    bytes_sent: int = 0
    records_received: int = 0
    bytes_received: int = 0
    keys_used: int = 0
    key_ids: list[uuid.UUID] = field(default_factory=list)
    pq_only_keys: int = 0
    key_wait_s: float = 0.0
    pauses: int = 0
    paused_s: float = 0.0
    paused: bool = False
    pause_reason: str = ""
    started: float = field(default_factory=time.monotonic)
    stopped: float | None = None

    @property
    def rekeys(self) -> int:
        """Key changes after the first key."""
        return max(self.keys_used - 1, 0)

    def elapsed_s(self) -> float:
        return (self.stopped if self.stopped is not None else time.monotonic()) - self.started

    def record(self) -> dict[str, Any]:
        elapsed = max(self.elapsed_s(), 1e-9)
        records = self.records_sent + self.records_received
        data = self.bytes_sent + self.bytes_received
        return {
            "records_sent": self.records_sent,
            "bytes_sent": self.bytes_sent,
            "records_received": self.records_received,
            "bytes_received": self.bytes_received,
            "keys_used": self.keys_used,
            "rekeys": self.rekeys,
            "key_ids": [str(k) for k in self.key_ids],
            "pq_only_keys": self.pq_only_keys,
            "key_wait_s": self.key_wait_s,
            "pauses": self.pauses,
            "paused_s": self.paused_s,
            "paused": self.paused,
            "elapsed_s": elapsed,
            "records_per_s": records / elapsed,
            "bytes_per_s": data / elapsed,
        }


def _name(channel_id: bytes) -> str:
    return channel_id.hex()[:12]


class ChannelSender:
    """The master application's end: seals records and keeps them under fresh keys from the KME.

    Parameters
    ----------
    sock
        A connected TCP socket to the receiver (see :meth:`connect`).
    client
        The master SAE's client of its KME.
    master_sae_id, slave_sae_id
        This SAE and the receiver's SAE, as the KMEs know them.
    config
        The channel's settings (the receiver must use the same mode, parameter set and limits).
    clock, sleep
        Time sources (monotonic seconds, and waiting during a pause).
    """

    def __init__(
        self,
        sock: socket.socket,
        client: SaeClient,
        *,
        master_sae_id: str,
        slave_sae_id: str,
        config: ChannelConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or ChannelConfig()
        self._sock = sock
        self._client = client
        self._slave = slave_sae_id
        self._clock = clock
        self._sleep = sleep
        self.stats = ChannelStats()
        self._ledger = KeyLedger()
        self._closed = False
        self._key_started = 0.0
        sock.settimeout(self.config.io_timeout_s)
        opening = Opening(os.urandom(16), self.config.mode, self.config.cid, master_sae_id, slave_sae_id)
        self._writer = RecordWriter(opening)
        self.name = _name(opening.channel_id)
        self._replies = (
            sock.makefile("rb", buffering=MAX_CONTROL_BYTES + HEADER_BYTES)
            if self.config.mode is ChannelMode.HYBRID
            else None
        )
        self._write(self._writer.open_frame)
        _log.info(
            "channel %s: open from %s to %s (mode %s, rekey every %d records or %g s)",
            self.name,
            master_sae_id,
            slave_sae_id,
            self.config.mode.value,
            self.config.rekey_records,
            self.config.rekey_seconds,
        )

    @classmethod
    def connect(
        cls,
        address: tuple[str, int],
        client: SaeClient,
        *,
        master_sae_id: str,
        slave_sae_id: str,
        config: ChannelConfig | None = None,
        **options: Any,
    ) -> Self:
        """Connect to a receiver listening at ``address`` and open the channel.

        Raises
        ------
        ChannelClosedError
            If the connection cannot be made.
        """
        timeout = (config or ChannelConfig()).io_timeout_s
        try:
            sock = socket.create_connection(address, timeout=timeout)
        except OSError as error:
            raise ChannelClosedError(f"cannot connect to the receiver at {address}: {error}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            return cls(
                sock, client, master_sae_id=master_sae_id, slave_sae_id=slave_sae_id, config=config, **options
            )
        except BaseException:
            sock.close()
            raise

    @property
    def epoch(self) -> int:
        """The current key's epoch (0 before the first key)."""
        return self._writer.epoch

    def send(self, payload: bytes) -> None:
        """Seal and send one record, taking a new key first when the current one has served its limit.

        Blocks while the KME has no key (fail closed).

        Raises
        ------
        ChannelConfigError
            If the payload exceeds ``max_record_bytes`` (nothing is sent; the channel stays open).
        ChannelKeyUnavailableError
            If no key came within ``max_pause_s`` (the connection is closed).
        ChannelClosedError
            If the connection is closed or breaks.
        """
        self._require_open()
        if len(payload) > self.config.max_record_bytes:
            raise ChannelConfigError(
                f"a record of {len(payload)} bytes exceeds max_record_bytes={self.config.max_record_bytes}"
            )
        if self._due(len(payload)):
            self.rekey()
        self._write(self._writer.data_frame(payload))
        self.stats.records_sent += 1
        self.stats.bytes_sent += len(payload)

    def rekey(self) -> None:
        """Take a new key now and announce it (the next record is sealed under it).

        Raises
        ------
        ChannelKeyUnavailableError, ChannelClosedError
            As :meth:`send`.
        """
        self._require_open()
        started = time.monotonic()
        taken = self._take_key()
        try:
            if isinstance(taken, QkdKey):
                self._ledger.claim(taken.key_id)
                self._write(self._writer.key_frame(taken.key, taken.key_id.bytes))
                key_id: uuid.UUID | None = taken.key_id
            else:
                key_id = self._hybrid_epoch(taken)
        except (ChannelClosedError, ChannelTimeoutError):
            raise
        except (ChannelError, HybridError) as error:
            self._abort(f"rekey failed: {error}")
            raise ChannelClosedError(f"channel {self.name}: rekey failed: {error}") from error
        self._key_started = self._clock()
        self.stats.key_wait_s += time.monotonic() - started
        self.stats.keys_used += 1
        if key_id is None:
            self.stats.pq_only_keys += 1
        else:
            self.stats.key_ids.append(key_id)
        _log.info(
            "channel %s: sending epoch %d under key %s", self.name, self._writer.epoch, key_id or "pq-only"
        )

    def close(self) -> None:
        """Send the CLOSE record (when a key was ever taken) and close the connection."""
        if self._closed:
            return
        try:
            if self._writer.has_key:
                self._write(self._writer.close_frame())
                self._sock.shutdown(socket.SHUT_WR)
        except (ChannelError, OSError):
            pass
        finally:
            self._shut()
        _log.info(
            "channel %s: closed after %d records in %d epochs",
            self.name,
            self.stats.records_sent,
            self._writer.epoch,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _due(self, size: int) -> bool:
        writer, config = self._writer, self.config
        return (
            not writer.has_key
            or writer.records_in_epoch >= config.rekey_records
            or writer.bytes_in_epoch + size > MAX_BYTES_PER_KEY
            or self._clock() - self._key_started >= config.rekey_seconds
        )

    def _take_once(self) -> QkdKey | HybridInitiator:
        config = self.config
        if config.mode is ChannelMode.QKD:
            container = self._client.enc_keys(self._slave, number=1, size_bits=config.key_bits)
            if not container.keys:
                raise SaeClientError(f"the KME at {self._client.kme_url} answered enc_keys with no key")
            return container.keys[0]
        return HybridInitiator.from_kme(
            self._client,
            self._slave,
            config.parameter_set,
            policy=config.policy,
            size_bits=config.key_bits,
            context=self._writer.session,
        )

    def _take_key(self) -> QkdKey | HybridInitiator:
        """One key from the KME; while it has none, pause (fail closed) and ask again with back-off."""
        config = self.config
        wait, paused_at = config.retry_s, None
        while True:
            try:
                taken = self._take_once()
            except (SaeUnavailableError, HybridQkdUnavailableError) as error:
                now = self._clock()
                if paused_at is None:
                    paused_at = now
                    self._pause(str(error))
                waited = now - paused_at
                if config.max_pause_s is not None and waited >= config.max_pause_s:
                    self._resume(waited, None)
                    reason = (
                        f"paused {waited:.1f} s without a key (max_pause_s={config.max_pause_s}): {error}"
                    )
                    self._abort(reason)
                    raise ChannelKeyUnavailableError(f"channel {self.name}: {reason}") from error
                if waited > 0:
                    _log.info(
                        "channel %s: still paused after %.1f s; next try in %.2f s", self.name, waited, wait
                    )
                step = wait if config.max_pause_s is None else min(wait, config.max_pause_s - waited)
                self._sleep(max(step, 0.0))
                wait = min(wait * 2, config.max_retry_s)
                continue
            except SaeClientError as error:
                self._abort(f"the KME refused a key: {error}")
                raise ChannelClosedError(f"channel {self.name}: the KME refused a key: {error}") from error
            except HybridError as error:
                self._abort(f"no hybrid key: {error}")
                raise ChannelClosedError(f"channel {self.name}: no hybrid key: {error}") from error
            if paused_at is not None:
                self._resume(self._clock() - paused_at, taken)
            return taken

    def _pause(self, reason: str) -> None:
        stats = self.stats
        stats.pauses += 1
        stats.paused = True
        stats.pause_reason = reason
        _log.warning(
            "channel %s: PAUSED: no key from the KME (%s); policy fail-closed sends nothing until a key "
            "arrives, asking again from %.2f s with back-off",
            self.name,
            reason,
            self.config.retry_s,
        )

    def _resume(self, waited: float, taken: QkdKey | HybridInitiator | None) -> None:
        self.stats.paused = False
        self.stats.paused_s += waited
        if taken is not None:
            _log.warning("channel %s: RESUMED after %.2f s paused: a key arrived", self.name, waited)

    def _hybrid_epoch(self, initiator: HybridInitiator) -> uuid.UUID | None:
        assert self._replies is not None
        hello = initiator.hello
        if hello.key_id is not None:
            self._ledger.claim(hello.key_id)
        hello_bytes = hello.to_bytes()
        self._write(self._writer.hello_frame(hello_bytes))
        try:
            raw = self._replies.read(HEADER_BYTES)
            if len(raw) < HEADER_BYTES:
                self._abort("the receiver closed the connection before its REPLY")
                raise ChannelClosedError(f"channel {self.name}: the receiver closed the connection")
            reply = self._writer.accept_reply(raw, self._replies.read)
        except TimeoutError:
            self._abort(f"no REPLY within io_timeout_s={self.config.io_timeout_s}")
            raise ChannelTimeoutError(
                f"channel {self.name}: no REPLY within {self.config.io_timeout_s} s"
            ) from None
        except OSError as error:
            self._abort(f"connection lost waiting for the REPLY: {error}")
            raise ChannelClosedError(f"channel {self.name}: connection lost: {error}") from None
        key = initiator.finish(HybridReply.from_bytes(reply))
        transcript = hashlib.sha256(length_prefixed(hello_bytes, reply)).digest()
        self._write(self._writer.key_frame(key.key, transcript))
        return hello.key_id

    def _require_open(self) -> None:
        if self._closed:
            raise ChannelClosedError(f"channel {self.name} is closed")

    def _write(self, frame: bytes) -> None:
        try:
            self._sock.sendall(frame)
        except OSError as error:
            self._abort(f"connection lost: {error}")
            raise ChannelClosedError(f"channel {self.name}: connection lost: {error}") from None

    def _abort(self, reason: str) -> None:
        if not self._closed:
            _log.warning("channel %s: closing the connection: %s", self.name, reason)
        self._shut()

    def _shut(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stats.stopped = time.monotonic()
        if self._replies is not None:
            self._replies.close()
        self._sock.close()


class _KmeKeys:
    """The receiver's keys: by key_ID from its KME, or the slave's side of a hybrid exchange."""

    def __init__(self, client: SaeClient, master_sae_id: str, policy: QkdPolicy, stats: ChannelStats) -> None:
        self._client = client
        self._master = master_sae_id
        self._policy = policy
        self._stats = stats

    def qkd_key(self, key_id: uuid.UUID) -> bytes:
        started = time.monotonic()
        try:
            container = self._client.dec_keys(self._master, [key_id])
        finally:
            self._stats.key_wait_s += time.monotonic() - started
        found = [k.key for k in container.keys if k.key_id == key_id]
        if not found:
            raise ChannelKeyUnavailableError(f"the KME at {self._client.kme_url} did not return key {key_id}")
        return found[0]

    def hybrid_reply(self, hello: HybridHello, session: bytes) -> tuple[bytes, bytes]:
        started = time.monotonic()
        try:
            reply, key = respond_from_kme(
                self._client, self._master, hello, policy=self._policy, context=session
            )
        finally:
            self._stats.key_wait_s += time.monotonic() - started
        return reply.to_bytes(), key.key


class _SocketInput:
    """Exact reads from a socket through a buffer of ``capacity`` bytes.

    The buffer is refilled only when it runs dry; a read longer than the buffer (a record larger than
    ``read_buffer_bytes``) is assembled in a buffer of its own size, which the header check has bounded.
    Waiting for data takes ``idle_s`` between records and ``io_s`` inside one; the socket's timeout is only
    changed when a wait needs the other one.
    """

    def __init__(self, sock: socket.socket, capacity: int, idle_s: float | None, io_s: float) -> None:
        self._sock = sock
        self._buffer = bytearray(capacity)
        self._view = memoryview(self._buffer)
        self._start = self._end = 0
        self._idle_s, self._io_s = idle_s, io_s
        self._timeout: float | None = -1.0
        self.between_records = True
        self.waiting_idle = True

    def read(self, size: int) -> bytes:
        """``size`` bytes, or fewer only where the stream ends."""
        start = self._start
        if self._end - start >= size:
            self._start = start + size
            return bytes(self._view[start : start + size])
        held = self._view[start : self._end]
        if size > len(self._buffer):
            out = bytearray(size)
            out[: len(held)] = held
            got = len(held)
            self._start = self._end = 0
            while got < size:
                count = self._recv_into(memoryview(out)[got:])
                if not count:
                    return bytes(out[:got])
                got += count
            return bytes(out)
        self._buffer[: len(held)] = held
        self._start, self._end = 0, len(held)
        while self._end < size:
            count = self._recv_into(self._view[self._end :])
            if not count:
                break
            self._end += count
        taken = min(size, self._end)
        self._start = taken
        return bytes(self._view[:taken])

    def _recv_into(self, target: memoryview) -> int:
        idle = self.waiting_idle = self.between_records and self._start == self._end
        timeout = self._idle_s if idle else self._io_s
        if timeout != self._timeout:
            self._sock.settimeout(timeout)
            self._timeout = timeout
        return self._sock.recv_into(target)


class ChannelReceiver:
    """The slave application's end of one connection: takes records in order and opens them.

    Parameters
    ----------
    sock
        The accepted TCP socket (see :class:`ChannelListener`).
    client
        The slave SAE's client of its KME.
    master_sae_id, slave_sae_id
        The SAE allowed to send, and this SAE; an OPEN naming others is refused.
    config
        The channel's settings (mode, parameter set and limits must match the sender's).
    ledger
        Key IDs used before (a listener shares one among its connections).
    """

    def __init__(
        self,
        sock: socket.socket,
        client: SaeClient,
        *,
        master_sae_id: str,
        slave_sae_id: str,
        config: ChannelConfig | None = None,
        ledger: KeyLedger | None = None,
    ) -> None:
        self.config = config or ChannelConfig()
        self._sock = sock
        self._input = _SocketInput(
            sock, self.config.read_buffer_bytes, self.config.idle_timeout_s, self.config.io_timeout_s
        )
        self.stats = ChannelStats()
        self._closed = False
        self._done = False
        self.name = "-"
        self._reader = RecordReader(
            master_sae_id=master_sae_id,
            slave_sae_id=slave_sae_id,
            mode=self.config.mode,
            parameter_set=self.config.cid,
            max_record_bytes=self.config.max_record_bytes,
            max_records_per_key=self.config.rekey_records,
            ledger=ledger if ledger is not None else KeyLedger(),
            keys=_KmeKeys(client, master_sae_id, self.config.policy, self.stats),
        )

    @property
    def epoch(self) -> int:
        return self._reader.epoch

    def recv(self) -> bytes | None:
        """The next record's payload; None once the sender's CLOSE record has come.

        Raises
        ------
        ChannelRecordError
            A record was refused (tampered, replayed, out of order, truncated, under a used key...).
        ChannelKeyUnavailableError
            The KME could not give the key a record names.
        ChannelTimeoutError, ChannelClosedError
            The sender went silent or the connection broke.

        Every error closes the connection and is logged with its reason.
        """
        if self._done:
            return None
        if self._closed:
            raise ChannelClosedError(f"channel {self.name} is closed")
        try:
            while True:
                self._input.between_records = True
                frame = read_frame(self._input.read, self._check)
                if frame is None:
                    self._reader.end_of_stream()
                    return None
                delivery = self._reader.accept(*frame)
                if delivery.kind is RecordType.DATA:
                    self.stats.records_received += 1
                    self.stats.bytes_received += len(delivery.payload)
                    return delivery.payload
                if delivery.kind is RecordType.CLOSE:
                    self._done = True
                    self._shut()
                    _log.info("channel %s: closed by the sender", self.name)
                    return None
                self._control(delivery.kind, delivery)
        except ChannelRecordError as error:
            self._refuse(str(error))
            raise
        except TimeoutError:
            limit = (
                f"idle_timeout_s={self.config.idle_timeout_s}"
                if self._input.waiting_idle
                else f"io_timeout_s={self.config.io_timeout_s}"
            )
            reason = f"the sender was silent past the timeout ({limit})"
            self._refuse(reason)
            raise ChannelTimeoutError(f"channel {self.name}: {reason}") from None
        except (SaeClientError, HybridError, ChannelKeyUnavailableError) as error:
            self._refuse(f"no key for the record: {error}")
            raise ChannelKeyUnavailableError(f"channel {self.name}: no key: {error}") from error
        except OSError as error:
            self._refuse(f"connection lost: {error}")
            raise ChannelClosedError(f"channel {self.name}: connection lost: {error}") from None

    def __iter__(self) -> Iterator[bytes]:
        while (payload := self.recv()) is not None:
            yield payload

    def close(self) -> None:
        self._shut()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _check(self, raw: bytes) -> Header:
        self._input.between_records = False
        return self._reader.check_header(raw)

    def _control(self, kind: RecordType, delivery: Delivery) -> None:
        if kind is RecordType.OPEN:
            opening = self._reader.opening
            assert opening is not None
            self.name = _name(opening.channel_id)
            _log.info("channel %s: opened by %s", self.name, opening.master_sae_id)
        elif kind is RecordType.HELLO:
            self._sock.sendall(delivery.reply)
        elif kind is RecordType.KEY:
            self.stats.keys_used += 1
            if delivery.key_id is None:
                self.stats.pq_only_keys += 1
            else:
                self.stats.key_ids.append(delivery.key_id)
            _log.info(
                "channel %s: receiving epoch %d under key %s",
                self.name,
                self._reader.epoch,
                delivery.key_id or "pq-only",
            )

    def _refuse(self, reason: str) -> None:
        _log.warning(
            "channel %s: refused at record %d, closing the connection: %s",
            self.name,
            self._reader.next_seq,
            reason,
        )
        self._shut()

    def _shut(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stats.stopped = time.monotonic()
        self._sock.close()


class ChannelListener:
    """The slave application's listening socket (127.0.0.1 unless told otherwise); one ledger for all.

    Parameters
    ----------
    client
        The slave SAE's client of its KME.
    master_sae_id, slave_sae_id
        The SAE allowed to send, and this SAE.
    config
        The channel's settings.
    host, port
        Where to listen (port 0: any free port; see :attr:`address`).
    """

    def __init__(
        self,
        client: SaeClient,
        *,
        master_sae_id: str,
        slave_sae_id: str,
        config: ChannelConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 8,
    ) -> None:
        self.config = config or ChannelConfig()
        self._client = client
        self._master = master_sae_id
        self._slave = slave_sae_id
        self.ledger = KeyLedger()
        self._sock = socket.create_server((host, port), backlog=backlog)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._sock.getsockname()[:2]
        return str(host), int(port)

    def accept(self, timeout_s: float | None = None) -> ChannelReceiver:
        """Wait for the next sender's connection.

        Raises
        ------
        ChannelTimeoutError
            If none came within ``timeout_s``.
        """
        self._sock.settimeout(timeout_s)
        try:
            sock, _ = self._sock.accept()
        except TimeoutError:
            raise ChannelTimeoutError(f"no sender connected within {timeout_s} s") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return ChannelReceiver(
            sock,
            self._client,
            master_sae_id=self._master,
            slave_sae_id=self._slave,
            config=self.config,
            ledger=self.ledger,
        )

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
