"""Hybrid keys end to end: a master and a slave SAE of two real KMEs, over mutual TLS, derive the same key."""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openqci.services import (
    HybridHello,
    HybridInitiator,
    HybridQkdUnavailableError,
    HybridReply,
    QkdPolicy,
    SaeBadRequestError,
    SaeClient,
    respond_from_kme,
)
from tests.kms.harness import SAES_A, SAES_B
from tests.kms.servers import Served, serve_site

MASTER, SLAVE = SAES_A[0], SAES_B[0]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    site = serve_site(tmp_path)
    yield site
    site.stop()


def _client(served: Served, sae: str, kme: str) -> SaeClient:
    url = f"https://127.0.0.1:{served.ports[kme]}"
    return SaeClient.from_pki(served.site.root / "pki", sae, url, attempts=1)


@pytest.mark.parametrize(
    "params", ["CatKDF/HKDF-SHA256/X25519/ML-KEM-768", "CasKDF/HMAC-SHA256/P-256/ML-KEM-768"]
)
def test_master_and_slave_derive_the_same_key_from_one_qkd_key(served: Served, params: str) -> None:
    served.feed()
    with _client(served, MASTER, "kme-a") as ask, _client(served, SLAVE, "kme-b") as take:
        initiator = HybridInitiator.from_kme(ask, SLAVE, params, size_bits=256, context=b"tunnel-7")
        assert initiator.hello.key_id is not None
        hello = HybridHello.from_bytes(initiator.hello.to_bytes())
        reply, slave_key = respond_from_kme(take, MASTER, hello, context=b"tunnel-7")
        master_key = initiator.finish(HybridReply.from_bytes(reply.to_bytes()))
    assert master_key == slave_key
    assert master_key.record.key_id == initiator.hello.key_id
    assert master_key.record.qkd is True
    assert master_key.record.parameter_set == params


def test_a_key_id_the_slave_kme_does_not_know_is_refused(served: Served) -> None:
    served.feed()
    with _client(served, MASTER, "kme-a") as ask, _client(served, SLAVE, "kme-b") as take:
        initiator = HybridInitiator.from_kme(ask, SLAVE, "1721")
        forged = dataclasses.replace(initiator.hello, key_id=uuid.uuid4())
        with pytest.raises(SaeBadRequestError):
            respond_from_kme(take, MASTER, forged)


def test_with_the_pool_empty_fail_closed_derives_nothing(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    refused = pytest.raises(HybridQkdUnavailableError, match="fail-closed policy derives no key")
    with _client(served, MASTER, "kme-a") as ask, refused:
        HybridInitiator.from_kme(ask, SLAVE, "1721")
    assert "ALARM" not in caplog.text


def test_with_the_pool_empty_pq_only_derives_a_key_marked_without_qkd(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="openqci.services.hybrid")
    with _client(served, MASTER, "kme-a") as ask, _client(served, SLAVE, "kme-b") as take:
        initiator = HybridInitiator.from_kme(ask, SLAVE, "1721", policy=QkdPolicy.PQ_ONLY)
        assert initiator.hello.key_id is None
        with pytest.raises(HybridQkdUnavailableError, match="without a QKD key; the fail-closed policy"):
            respond_from_kme(take, MASTER, initiator.hello)
        reply, slave_key = respond_from_kme(take, MASTER, initiator.hello, policy=QkdPolicy.PQ_ONLY)
        master_key = initiator.finish(reply)
    assert master_key == slave_key
    assert (master_key.record.qkd, master_key.record.key_id) == (False, None)
    alarms = [r for r in caplog.records if r.levelno == logging.WARNING and "ALARM" in r.getMessage()]
    assert [("initiator" in r.getMessage(), "responder" in r.getMessage()) for r in alarms] == [
        (True, False),
        (False, True),
    ]
