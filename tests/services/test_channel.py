"""The encrypted channel between a master and a slave SAE of two real KMEs over mutual TLS, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from openqci.services import SaeClient
from openqci.services.channel import (
    ChannelClosedError,
    ChannelConfig,
    ChannelConfigError,
    ChannelError,
    ChannelKeyUnavailableError,
    ChannelListener,
    ChannelMode,
    ChannelReceiver,
    ChannelRecordError,
    ChannelSender,
    ChannelTimeoutError,
)
from openqci.services.hybrid import QkdPolicy
from tests.kms.harness import SAES_A, SAES_B
from tests.kms.servers import Served, serve_site
from tests.services.frame_proxy import Change, FrameProxy, flip, replay, swap

MASTER, SLAVE = SAES_A[0], SAES_B[0]
LOGGER = "openqci.services.channel"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    site = serve_site(tmp_path)
    yield site
    site.stop()


def _client(served: Served, sae: str, kme: str) -> SaeClient:
    url = f"https://127.0.0.1:{served.ports[kme]}"
    return SaeClient.from_pki(served.site.root / "pki", sae, url, attempts=1)


class Receiving:
    """A receiver taking one connection in a thread: what it delivered, and the error that stopped it."""

    def __init__(self, listener: ChannelListener) -> None:
        self.payloads: list[bytes] = []
        self.error: ChannelError | None = None
        self.receiver: ChannelReceiver | None = None
        self._thread = threading.Thread(target=self._run, args=(listener,), daemon=True)
        self._thread.start()

    def _run(self, listener: ChannelListener) -> None:
        try:
            with listener.accept(timeout_s=20) as receiver:
                self.receiver = receiver
                self.payloads.extend(receiver)
        except ChannelError as error:
            self.error = error

    def join(self) -> Receiving:
        self._thread.join(30)
        assert not self._thread.is_alive()
        return self


@contextlib.contextmanager
def channel(served: Served, config: ChannelConfig) -> Iterator[tuple[ChannelListener, SaeClient]]:
    """A listening receiver (slave SAE) and the master SAE's client of its KME."""
    with (
        _client(served, MASTER, "kme-a") as ask,
        _client(served, SLAVE, "kme-b") as take,
        ChannelListener(take, master_sae_id=MASTER, slave_sae_id=SLAVE, config=config) as listener,
    ):
        yield listener, ask


def _connect(
    address: tuple[str, int], ask: SaeClient, config: ChannelConfig, **options: Any
) -> ChannelSender:
    return ChannelSender.connect(
        address, ask, master_sae_id=MASTER, slave_sae_id=SLAVE, config=config, **options
    )


def _send_all(
    address: tuple[str, int], ask: SaeClient, config: ChannelConfig, payloads: list[bytes]
) -> ChannelSender:
    with _connect(address, ask, config) as sender:
        for payload in payloads:
            sender.send(payload)
    return sender


def _payloads(count: int) -> list[bytes]:
    return [os.urandom(n) for n in [0, 1, 4096, *(17 + 97 * i for i in range(count - 3))]]


@pytest.mark.parametrize("mode", [ChannelMode.QKD, ChannelMode.HYBRID])
def test_every_record_arrives_unchanged_under_the_same_keys_each_used_once(
    served: Served, mode: ChannelMode
) -> None:
    served.feed()
    # a read buffer smaller than the largest record: such records are put together past the buffer
    config = ChannelConfig(mode=mode, rekey_records=7, max_record_bytes=4096, read_buffer_bytes=4096)
    payloads = _payloads(40)
    with channel(served, config) as (listener, ask):
        receiving = Receiving(listener)
        sender = _send_all(listener.address, ask, config, payloads)
        receiving.join()
    assert receiving.error is None
    assert receiving.payloads == payloads
    received = receiving.receiver
    assert received is not None
    assert sender.stats.key_ids == received.stats.key_ids
    assert len(set(sender.stats.key_ids)) == len(sender.stats.key_ids) == 6  # ceil(40 / 7)
    assert (sender.stats.records_sent, received.stats.records_received) == (40, 40)
    assert sender.stats.bytes_sent == received.stats.bytes_received == sum(map(len, payloads))
    assert (sender.stats.rekeys, sender.stats.pauses, sender.stats.pq_only_keys) == (5, 0, 0)
    assert received.stats.record()["records_per_s"] > 0


def _cut_after(index: int) -> Change:
    return lambda i, frame: [frame] if i < index else None


def _cut_inside(index: int) -> Change:
    return lambda i, frame: [frame] if i < index else [frame[: len(frame) // 2]] if i == index else None


# Frames: 0 OPEN, 1 KEY, then DATA: payload i is frame i + 2. Each change hits frame 3 or 4, after the
# receiver has delivered payloads 0 and 1.
ATTACKS = {
    "tampered": (flip(4), "record 4 (DATA, epoch 1) fails authentication"),
    "replayed": (replay(3), "replayed record: seq 3 was taken already"),
    "reordered": (swap(4), "record out of order: seq 5 where 4 was due"),
    "truncated": (_cut_after(4), "truncated: the stream ends after record 3 without a close record"),
    "cut inside a record": (_cut_inside(4), "truncated: the stream ends"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_changed_stream_is_refused_and_the_connection_closed(
    served: Served, attack: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    served.feed()
    change, expected = ATTACKS[attack]
    config = ChannelConfig(rekey_records=100)
    payloads = _payloads(8)
    with channel(served, config) as (listener, ask):
        receiving = Receiving(listener)
        proxy = FrameProxy(listener.address, change)
        with contextlib.suppress(ChannelClosedError):
            _send_all(proxy.address, ask, config, payloads)
        receiving.join()
        proxy.join()
    assert isinstance(receiving.error, ChannelRecordError)
    assert expected in str(receiving.error)
    assert receiving.payloads == payloads[:2]  # what came before the change, nothing after
    refusals = [r.getMessage() for r in caplog.records if "closing the connection" in r.getMessage()]
    assert len(refusals) == 1
    assert expected in refusals[0]


def test_a_connection_replayed_whole_is_refused_for_its_used_key(served: Served) -> None:
    served.feed()
    config = ChannelConfig()
    with channel(served, config) as (listener, ask):
        receiving = Receiving(listener)
        proxy = FrameProxy(listener.address)
        _send_all(proxy.address, ask, config, [b"pay 100 to Bob"])
        assert receiving.join().payloads == [b"pay 100 to Bob"]
        proxy.join()
        again = Receiving(listener)
        with socket.create_connection(listener.address) as replay:
            replay.sendall(b"".join(proxy.frames))
            again.join()
    assert again.payloads == []
    assert isinstance(again.error, ChannelRecordError)
    assert "was used before: a key is used once" in str(again.error)


def test_the_sender_rekeys_at_the_record_and_time_limits(served: Served) -> None:
    served.feed()
    now = [1000.0]
    config = ChannelConfig(rekey_records=4, rekey_seconds=10.0)
    keys_after: list[int] = []
    with channel(served, config) as (listener, ask):
        receiving = Receiving(listener)
        with _connect(listener.address, ask, config, clock=lambda: now[0]) as sender:
            for at in (0, 1, 2, 3, 4, 9.9, 13.9, 14, 20, 20, 20, 20):
                now[0] = 1000.0 + at
                sender.send(b"%g" % at)
                keys_after.append(sender.stats.keys_used)
        receiving.join()
    # the 5th record starts key 2 (count); 10 s after key 2 began, key 3 (time); 5th record under it, key 4
    assert keys_after == [1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4]
    assert receiving.error is None
    assert len(receiving.payloads) == 12


def test_a_sender_over_the_receivers_record_limit_is_refused(served: Served) -> None:
    served.feed()
    with channel(served, ChannelConfig(rekey_records=5)) as (listener, ask):
        receiving = Receiving(listener)
        with contextlib.suppress(ChannelClosedError):
            _send_all(listener.address, ask, ChannelConfig(rekey_records=10), _payloads(8))
        receiving.join()
    assert len(receiving.payloads) == 5
    assert "more than 5 records under the key of epoch 1: the sender did not rekey" in str(receiving.error)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_an_empty_pool_pauses_the_sender_until_key_arrives(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    config = ChannelConfig(retry_s=0.05, max_retry_s=0.2)
    payloads = [b"first", b"second", b"third"]
    with channel(served, config) as (listener, ask):
        receiving = Receiving(listener)
        sender = _connect(listener.address, ask, config)

        def send_all() -> None:
            with sender:
                for payload in payloads:
                    sender.send(payload)

        sending = threading.Thread(target=send_all)
        sending.start()
        _wait_for(lambda: sender.stats.paused)
        assert "PAUSED: no key from the KME" in caplog.text
        assert "HTTP 503" in sender.stats.pause_reason
        assert sender.stats.records_sent == 0
        time.sleep(0.3)
        assert sender.stats.paused
        served.feed()
        sending.join(20)
        receiving.join()
    assert receiving.payloads == payloads
    assert not sender.stats.paused
    assert sender.stats.pauses == 1
    assert sender.stats.paused_s >= 0.3
    assert "RESUMED after" in caplog.text
    assert "still paused" in caplog.text


def test_a_pause_longer_than_max_pause_closes_the_channel(served: Served) -> None:
    config = ChannelConfig(retry_s=0.02, max_retry_s=0.05, max_pause_s=0.2)
    with channel(served, config) as (listener, ask):
        receiving = Receiving(listener)
        sender = _connect(listener.address, ask, config)
        with pytest.raises(ChannelKeyUnavailableError, match=r"without a key \(max_pause_s=0.2\)"):
            sender.send(b"never")
        with pytest.raises(ChannelClosedError):
            sender.send(b"never")
        receiving.join()
    assert sender.stats.pauses == 1
    assert not sender.stats.paused
    assert receiving.payloads == []
    assert "truncated" in str(receiving.error)


def test_hybrid_pq_only_keeps_sending_without_qkd_with_an_alarm(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    config = ChannelConfig(mode=ChannelMode.HYBRID, policy=QkdPolicy.PQ_ONLY, rekey_records=2)
    with channel(served, config) as (listener, ask):
        receiving = Receiving(listener)
        sender = _send_all(listener.address, ask, config, [b"a", b"b", b"c"])
        receiving.join()
    assert receiving.payloads == [b"a", b"b", b"c"]
    assert (sender.stats.pq_only_keys, sender.stats.key_ids, sender.stats.pauses) == (2, [], 0)
    assert receiving.receiver is not None
    assert receiving.receiver.stats.pq_only_keys == 2
    assert caplog.text.count("ALARM hybrid key without QKD") == 4  # each end, each epoch


def test_settings_out_of_range_are_refused(served: Served) -> None:
    with pytest.raises(ChannelConfigError, match="pq-only needs mode hybrid"):
        ChannelConfig(policy=QkdPolicy.PQ_ONLY)
    with pytest.raises(ChannelConfigError, match="rekey_records"):
        ChannelConfig(rekey_records=0)
    with pytest.raises(ChannelConfigError, match="ML-KEM-512"):
        ChannelConfig(mode=ChannelMode.HYBRID, parameter_set="CatKDF/HKDF-SHA256/X25519/ML-KEM-512")
    served.feed()
    config = ChannelConfig(max_record_bytes=16)
    with channel(served, config) as (listener, ask):
        receiving = Receiving(listener)
        with _connect(listener.address, ask, config) as sender:
            with pytest.raises(ChannelConfigError, match="exceeds max_record_bytes=16"):
                sender.send(b"x" * 17)
            sender.send(b"x" * 16)
        receiving.join()
    assert receiving.payloads == [b"x" * 16]


@pytest.mark.parametrize(
    ("sent", "limit"), [(b"", "idle_timeout_s=0.2"), (b"\x01\x01\x00", "io_timeout_s=0.2")]
)
def test_a_silent_sender_is_cut_off(served: Served, sent: bytes, limit: str) -> None:
    config = ChannelConfig(idle_timeout_s=0.2, io_timeout_s=0.2)
    with channel(served, config) as (listener, _), socket.create_connection(listener.address) as raw:
        receiving = Receiving(listener)
        raw.sendall(sent)
        receiving.join()
    assert isinstance(receiving.error, ChannelTimeoutError)
    assert f"silent past the timeout ({limit})" in str(receiving.error)
