"""The air-traffic-control exchange: surveillance tracks from Toulouse to the Paris region over the channel.

The master application (the civil-aviation site) reads the simulated picture every ``tick_s`` seconds
(:meth:`.TrackFeed.records_between`: the track updates due in that second), cuts it into CAT062 data blocks
and sends each block as one record of the encrypted channel (:mod:`openqci.services.channel`), as a radar
data processing system sends one data block per datagram. The slave application (the control centre)
listens on 127.0.0.1 in a thread of its own. Each end takes its keys from its own KME over ETSI GS QKD
014; between KMEs several trusted nodes apart, each key is relayed hop by hop, and the KME names the route
in the answer's ``qci_routes`` extension, which :class:`RoutedSaeClient` keeps.

What the receiver checks of every record beyond the channel's own checks (authentication, order, key use):
its SHA-256 equals the sender's for the same position, and it is a well-formed CAT062 data block. The
decoding of the tracks themselves is left to the caller (``on_received``), since a full decoder costs far
more than the channel.

What the exchange holds is bounded by its duration: one entry per key (``keys``) and per second
(``timeline``), and at most :data:`MAX_LATENCY_SAMPLES` record latencies; the records in flight are bounded
by the sockets' buffers.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openqci.services.atc.asterix_062 import CATEGORY, RECORD_BYTES, AsterixError, split_blocks
from openqci.services.atc.feed import TrackFeed
from openqci.services.channel import (
    ChannelConfig,
    ChannelError,
    ChannelListener,
    ChannelMode,
    ChannelReceiver,
    ChannelSender,
)
from openqci.services.hybrid_kdf import parameter_set
from openqci.services.sae_client import KeyContainer, SaeClient

__all__ = [
    "MAX_LATENCY_SAMPLES",
    "AtcExchange",
    "EpochKey",
    "ExchangeProgress",
    "ExchangeResult",
    "ExchangeSettings",
    "KeyTaken",
    "RoutedSaeClient",
    "SecondFigures",
]

MAX_LATENCY_SAMPLES = 200_000
"""The most record latencies one exchange keeps for its percentiles (later ones only count per second)."""


class _StoppedError(ChannelError):
    """Raised inside the paused sender's wait when the exchange is asked to stop."""


def _default_channel() -> ChannelConfig:
    return ChannelConfig(mode=ChannelMode.HYBRID, rekey_seconds=5.0, retry_s=0.25, max_retry_s=2.0)


@dataclass(frozen=True)
class ExchangeSettings:
    """What the exchange sends and how.

    Parameters
    ----------
    duration_s
        Seconds of sending.
    tick_s
        The feed is read once per tick: each read carries the track updates due in the tick.
    feed_offset_s
        Seconds into the feed's busy period at which sending starts (the sky is full by then).
    channel
        The channel's settings (both ends); by default hybrid keys, fail closed, a new key every 5 s.
    """

    duration_s: float = 60.0
    tick_s: float = 1.0
    feed_offset_s: float = 900.0
    channel: ChannelConfig = field(default_factory=_default_channel)

    def __post_init__(self) -> None:
        if not self.duration_s > 0 or not self.tick_s > 0 or self.feed_offset_s < 0:
            raise ValueError("duration_s and tick_s must be > 0, feed_offset_s >= 0")


@dataclass(frozen=True)
class KeyTaken:
    """One key the master SAE got with ``enc_keys``: the route its KME relayed it on, and how long it took."""

    key_id: uuid.UUID
    route: tuple[str, ...]
    at_s: float
    latency_s: float


class RoutedSaeClient(SaeClient):
    """An SAE client that keeps, for every key ``enc_keys`` returns, the route the KME relayed it on.

    The route is the one the KME names for the slave's KME in the answer's ``qci_routes`` extension (empty
    for a neighbour KME, which relays nothing). One entry per key taken.
    """

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.taken: dict[uuid.UUID, KeyTaken] = {}
        self.origin = time.monotonic()

    def enc_keys(self, slave_sae_id: str, **request: Any) -> KeyContainer:
        started = time.monotonic()
        container = super().enc_keys(slave_sae_id, **request)
        routes = container.extension.get("qci_routes") or {}
        route = tuple(str(kme) for kme in next(iter(routes.values()), ()))
        for key in container.keys:
            self.taken[key.key_id] = KeyTaken(
                key.key_id, route, started - self.origin, time.monotonic() - started
            )
        return container


@dataclass
class EpochKey:
    """One key of the channel: when it began, which QKD key (None: post-quantum only), and its route."""

    epoch: int
    started_s: float
    key_id: uuid.UUID | None
    route: tuple[str, ...]
    kind: str
    relay_latency_s: float
    records: int = 0

    @property
    def qkd(self) -> bool:
        return self.key_id is not None


@dataclass
class SecondFigures:
    """Records sent and received in one second of the exchange, and their delivery latency."""

    second: int
    sent: int = 0
    received: int = 0
    latency_sum_s: float = 0.0
    latency_max_s: float = 0.0
    paused: bool = False

    @property
    def latency_mean_s(self) -> float:
        return self.latency_sum_s / self.received if self.received else math.nan


@dataclass(frozen=True)
class ExchangeProgress:
    """How the exchange stands now (read from another thread for a display)."""

    elapsed_s: float
    records_sent: int
    records_received: int
    tracks_sent: int
    epoch: int
    route: tuple[str, ...]
    paused: bool
    pause_reason: str


@dataclass
class ExchangeResult:
    """What happened: records and tracks sent, received and verified, every key, latencies, events."""

    settings: ExchangeSettings
    duration_s: float = 0.0
    records_sent: int = 0
    records_received: int = 0
    records_verified: int = 0
    tracks_sent: int = 0
    tracks_received: int = 0
    bytes_sent: int = 0
    feed_window: tuple[float, float] = (0.0, 0.0)
    keys: list[EpochKey] = field(default_factory=list)
    sender_key_ids: list[uuid.UUID] = field(default_factory=list)
    receiver_key_ids: list[uuid.UUID] = field(default_factory=list)
    pauses: int = 0
    paused_s: float = 0.0
    pause_reasons: list[str] = field(default_factory=list)
    latencies_s: list[float] = field(default_factory=list)
    timeline: list[SecondFigures] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)
    sender_error: str = ""
    receiver_error: str = ""
    last_received: bytes = field(default=b"", repr=False)

    @property
    def complete(self) -> bool:
        """Every record sent was received and verified, and neither end stopped on an error."""
        return (
            not self.sender_error
            and not self.receiver_error
            and self.records_sent == self.records_received == self.records_verified
        )

    def latency_percentile_s(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of the records' delivery latency (NaN without records)."""
        if not self.latencies_s:
            return math.nan
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]

    def routes(self) -> dict[tuple[str, ...], int]:
        """Each route the keys took, with the number of keys on it, in order of first use."""
        counts: dict[tuple[str, ...], int] = {}
        for key in self.keys:
            counts[key.route] = counts.get(key.route, 0) + 1
        return counts

    def record(self) -> dict[str, Any]:
        """The figures as plain data (for ``--json`` and the report)."""
        elapsed = max(self.duration_s, 1e-9)
        return {
            "duration_s": self.duration_s,
            "records_sent": self.records_sent,
            "records_received": self.records_received,
            "records_verified": self.records_verified,
            "tracks_sent": self.tracks_sent,
            "tracks_received": self.tracks_received,
            "bytes_sent": self.bytes_sent,
            "records_per_s": self.records_received / elapsed,
            "tracks_per_s": self.tracks_received / elapsed,
            "keys": [
                {
                    "epoch": k.epoch,
                    "started_s": k.started_s,
                    "key_ID": str(k.key_id) if k.key_id else None,
                    "route": list(k.route),
                    "kind": k.kind,
                    "qkd": k.qkd,
                    "relay_latency_s": k.relay_latency_s,
                    "records": k.records,
                }
                for k in self.keys
            ],
            "rekeys": max(len(self.keys) - 1, 0),
            "routes": [{"route": list(r), "keys": n} for r, n in self.routes().items()],
            "latency_ms": {
                q: self.latency_percentile_s(p) * 1e3 for q, p in (("p50", 50), ("p95", 95), ("max", 100))
            },
            "pauses": self.pauses,
            "paused_s": self.paused_s,
            "pause_reasons": self.pause_reasons,
            "events": [{"at_s": at, "what": what} for at, what in self.events],
            "same_keys_at_both_ends": self.sender_key_ids == self.receiver_key_ids,
            "complete": self.complete,
            "sender_error": self.sender_error,
            "receiver_error": self.receiver_error,
        }


def _kind(config: ChannelConfig, qkd: bool) -> str:
    if config.mode is ChannelMode.QKD:
        return "QKD key"
    name = parameter_set(config.parameter_set).name
    return f"hybrid: QKD + {name}" if qkd else f"post-quantum only (no QKD key): {name}"


def _tracks_in(block: bytes) -> int:
    """Records in one CAT062 data block; raises :class:`AsterixError` if it is not one."""
    (category, whole), *rest = list(split_blocks(block))
    if rest or category != CATEGORY or (len(whole) - 3) % RECORD_BYTES:
        raise AsterixError("not one CAT062 data block of whole system-track records")
    return (len(whole) - 3) // RECORD_BYTES


class AtcExchange:
    """One run of the feed from the master SAE to the slave SAE; :meth:`run` blocks until it is over.

    Parameters
    ----------
    feed
        The surveillance feed to send.
    master, slave
        Each SAE's client of its own KME (the master's a :class:`RoutedSaeClient` to know the routes).
    master_sae_id, slave_sae_id
        The two SAEs as the KMEs know them.
    settings
        Duration, tick and the channel's settings.
    through
        Given the receiver's address, the address the sender connects to (a relay in between); default
        the receiver itself.
    on_sent, on_received
        Called with each record's payload as it is sent and as it is received (in order).
    """

    def __init__(
        self,
        feed: TrackFeed,
        master: RoutedSaeClient,
        slave: SaeClient,
        *,
        master_sae_id: str,
        slave_sae_id: str,
        settings: ExchangeSettings | None = None,
        through: Callable[[tuple[str, int]], tuple[str, int]] | None = None,
        on_sent: Callable[[bytes], None] | None = None,
        on_received: Callable[[bytes], None] | None = None,
    ) -> None:
        self.feed = feed
        self.settings = settings or ExchangeSettings()
        self._master, self._slave = master, slave
        self._ids = (master_sae_id, slave_sae_id)
        self._through = through or (lambda address: address)
        self._on_sent, self._on_received = on_sent, on_received
        self._lock = threading.Lock()
        self._in_flight: deque[tuple[bytes, float]] = deque()
        self._started = time.monotonic()
        self._sender: ChannelSender | None = None
        self._pause_began: float | None = None
        self._receiver: ChannelReceiver | None = None
        self.result = ExchangeResult(self.settings)

    def mark(self, what: str) -> None:
        """Note an event (a cut fibre, say) at the current time of the exchange."""
        with self._lock:
            self.result.events.append((time.monotonic() - self._started, what))

    def progress(self) -> ExchangeProgress:
        """The figures so far; safe to call from another thread while :meth:`run` runs."""
        result, sender = self.result, self._sender
        with self._lock:
            keys = result.keys
            return ExchangeProgress(
                time.monotonic() - self._started,
                result.records_sent,
                result.records_received,
                result.tracks_sent,
                keys[-1].epoch if keys else 0,
                keys[-1].route if keys else (),
                bool(sender and sender.stats.paused),
                sender.stats.pause_reason if sender and sender.stats.paused else "",
            )

    def run(self, stop: threading.Event | None = None) -> ExchangeResult:
        """Send for ``duration_s`` (or until ``stop`` is set), then close and wait for the receiver.

        Errors of either end do not raise: they end the run and are kept in ``sender_error`` and
        ``receiver_error``; :attr:`ExchangeResult.complete` says whether everything arrived.
        """
        stop = stop or threading.Event()
        config = self.settings.channel
        master_id, slave_id = self._ids
        with ChannelListener(
            self._slave, master_sae_id=master_id, slave_sae_id=slave_id, config=config
        ) as ear:
            receiving = threading.Thread(target=self._receive, args=(ear,), name="atc-receiver", daemon=True)
            receiving.start()
            self._started = time.monotonic()
            self._master.origin = self._started
            try:
                self._send(self._through(ear.address), stop)
            finally:
                if self._sender is not None:
                    self._sender.close()
                else:
                    ear.close()  # no sender will come: the receiver's accept ends at once
                receiving.join(config.io_timeout_s)
                if receiving.is_alive() and self._receiver is not None:
                    self._receiver.close()
                    receiving.join(5.0)
        return self._finish()

    def _send(self, address: tuple[str, int], stop: threading.Event) -> None:
        master_id, slave_id = self._ids
        settings = self.settings
        end = self._started + settings.duration_s
        try:
            self._sender = ChannelSender.connect(
                address,
                self._master,
                master_sae_id=master_id,
                slave_sae_id=slave_id,
                config=settings.channel,
                sleep=lambda seconds: self._paused_wait(stop, end, seconds),
            )
            t0 = self.feed.start + settings.feed_offset_s
            ticks = math.ceil(settings.duration_s / settings.tick_s)
            for tick in range(ticks):
                due = self._started + tick * settings.tick_s
                if stop.wait(max(0.0, due - time.monotonic())):
                    break
                start = t0 + tick * settings.tick_s
                self.result.feed_window = (t0, start + settings.tick_s)
                for _, block in split_blocks(self.feed.records_between(start, start + settings.tick_s)):
                    self._send_one(self._sender, block, due)
                    if stop.is_set():
                        break
        except _StoppedError:
            self._ended_paused()
        except ChannelError as error:
            self.result.sender_error = str(error)

    def _send_one(self, sender: ChannelSender, block: bytes, due: float) -> None:
        with self._lock:
            self._in_flight.append((hashlib.sha256(block).digest(), due))
        epoch = sender.epoch
        sender.send(block)
        self._pause_began = None
        if self._on_sent is not None:
            self._on_sent(block)
        with self._lock:
            result = self.result
            result.records_sent += 1
            result.tracks_sent += (len(block) - 3) // RECORD_BYTES
            result.bytes_sent += len(block)
            self._second(time.monotonic()).sent += 1
            if sender.epoch != epoch:
                self._new_epoch(sender)
            if sender.stats.pauses > result.pauses:
                self._mark_paused(sender)
            if result.keys:
                result.keys[-1].records += 1

    def _new_epoch(self, sender: ChannelSender) -> None:
        result, stats = self.result, sender.stats
        key_id = stats.key_ids[-1] if len(stats.key_ids) > len(result.sender_key_ids) else None
        if key_id is not None:
            result.sender_key_ids.append(key_id)
        taken = self._master.taken.get(key_id) if key_id is not None else None
        result.keys.append(
            EpochKey(
                sender.epoch,
                time.monotonic() - self._started,
                key_id,
                taken.route if taken else (),
                _kind(self.settings.channel, key_id is not None),
                taken.latency_s if taken else 0.0,
            )
        )

    def _mark_paused(self, sender: ChannelSender) -> None:
        """Mark the seconds of the pause that just ended, and keep its reason."""
        result, stats = self.result, sender.stats
        now_s = time.monotonic() - self._started
        for second in range(max(int(now_s - (stats.paused_s - result.paused_s)), 0), int(now_s) + 1):
            self._second_at(second).paused = True
        result.pause_reasons.append(stats.pause_reason)
        result.pauses, result.paused_s = stats.pauses, stats.paused_s

    def _paused_wait(self, stop: threading.Event, end: float, seconds: float) -> None:
        """The paused sender's wait (the sender calls it only while paused): note when the pause began."""
        if self._pause_began is None:
            self._pause_began = time.monotonic()
        _wait_or_stop(stop, end, seconds)

    def _ended_paused(self) -> None:
        """The exchange ended during a pause: count it, mark its seconds and keep its reason."""
        assert self._sender is not None
        assert self._pause_began is not None
        stats, now = self._sender.stats, time.monotonic()
        with self._lock:
            result = self.result
            for second in range(int(self._pause_began - self._started), int(now - self._started) + 1):
                self._second_at(second).paused = True
            result.pause_reasons.append(stats.pause_reason)
            result.pauses = stats.pauses
            result.paused_s = stats.paused_s + now - self._pause_began
        self.mark("ended while the sender was paused for want of key")

    def _second(self, at: float) -> SecondFigures:
        return self._second_at(int(max(at - self._started, 0.0)))

    def _second_at(self, second: int) -> SecondFigures:
        timeline = self.result.timeline
        while len(timeline) <= second:
            timeline.append(SecondFigures(len(timeline)))
        return timeline[second]

    def _receive(self, listener: ChannelListener) -> None:
        try:
            self._receiver = listener.accept(self.settings.channel.io_timeout_s)
            for payload in self._receiver:
                self._received(payload)
        except ChannelError as error:
            self.result.receiver_error = str(error)
        except OSError as error:  # the listener closed before a sender came
            self.result.receiver_error = f"no sender: {error}"

    def _received(self, payload: bytes) -> None:
        now = time.monotonic()
        with self._lock:
            digest, due = self._in_flight.popleft() if self._in_flight else (b"", now)
        verified = digest == hashlib.sha256(payload).digest()
        try:
            tracks = _tracks_in(payload)
        except AsterixError:
            verified, tracks = False, 0
        if self._on_received is not None:
            self._on_received(payload)
        if verified:
            self.result.last_received = payload
        latency = now - due
        with self._lock:
            result = self.result
            result.records_received += 1
            result.records_verified += verified
            result.tracks_received += tracks
            if len(result.latencies_s) < MAX_LATENCY_SAMPLES:
                result.latencies_s.append(latency)
            second = self._second(now)
            second.received += 1
            second.latency_sum_s += latency
            second.latency_max_s = max(second.latency_max_s, latency)

    def _finish(self) -> ExchangeResult:
        result = self.result
        result.duration_s = time.monotonic() - self._started
        if self._sender is not None:
            stats = self._sender.stats
            result.pauses, result.paused_s = stats.pauses, max(result.paused_s, stats.paused_s)
        if self._receiver is not None:
            result.receiver_key_ids = list(self._receiver.stats.key_ids)
        return result


def _wait_or_stop(stop: threading.Event, end: float, seconds: float) -> None:
    """The paused sender's wait before asking its KME again, cut short when the exchange stops or ends."""
    if stop.wait(max(0.0, min(seconds, end - time.monotonic()))) or time.monotonic() >= end:
        raise _StoppedError("the exchange ended while the sender was paused")
