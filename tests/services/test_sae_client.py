"""The SAE client against two real KMEs over mutual TLS: keys shared, the standard's errors as exceptions."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from openqci.services import (
    SaeBadRequestError,
    SaeClient,
    SaeClientError,
    SaeUnauthorizedError,
    SaeUnavailableError,
    mutual_tls_context,
)
from tests.kms.harness import SAES_A, SAES_B, STRANGER
from tests.kms.servers import Served, free_port, serve_site


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    site = serve_site(tmp_path)
    yield site
    site.stop()


def _client(served: Served, sae: str, kme: str, **options: object) -> SaeClient:
    url = f"https://127.0.0.1:{served.ports[kme]}"
    return SaeClient.from_pki(served.site.root / "pki", sae, url, **options)


def test_master_and_slave_get_the_same_keys(served: Served) -> None:
    served.feed(blocks=2)
    master, slave = SAES_A[0], SAES_B[0]
    with _client(served, master, "kme-a") as ask, _client(served, slave, "kme-b") as take:
        status = ask.status(slave)
        assert (status.source_kme_id, status.target_kme_id) == ("kme-a", "kme-b")
        assert status.stored_key_count > 0
        got = ask.enc_keys(slave, number=3, size_bits=256)
        assert len(got.keys) == 3
        assert all(len(k.key) == 32 for k in got.keys)
        back = take.dec_keys(master, [k.key_id for k in got.keys])
        assert back.keys == got.keys
        assert "key=" not in repr(got.keys[0])


def test_standard_errors_become_exceptions(served: Served) -> None:
    served.feed()
    master, slave = SAES_A[0], SAES_B[0]
    with _client(served, master, "kme-a", attempts=1) as ask, _client(served, slave, "kme-b") as take:
        with pytest.raises(SaeBadRequestError) as refused:
            ask.enc_keys(slave, number=10_000)
        assert refused.value.status == 400
        with pytest.raises(SaeBadRequestError):
            take.dec_keys(master, [uuid.uuid4()])
    with _client(served, STRANGER, "kme-a") as stranger, pytest.raises(SaeUnauthorizedError):
        stranger.enc_keys(slave)


def test_an_empty_pool_is_unavailable_after_the_retries(served: Served) -> None:
    master, slave = SAES_A[0], SAES_B[0]
    ask = _client(served, master, "kme-a", attempts=2, backoff_s=0.01)
    with ask, pytest.raises(SaeUnavailableError) as refused:
        ask.enc_keys(slave)
    assert refused.value.status == 503


def test_no_kme_listening_is_unavailable(tmp_path: Path, served: Served) -> None:
    port = free_port()  # nothing listens here
    context = mutual_tls_context(
        served.site.root / "pki" / "ca.pem",
        served.site.root / "pki" / f"{SAES_A[0]}.pem",
        served.site.root / "pki" / f"{SAES_A[0]}.key",
    )
    client = SaeClient(f"https://127.0.0.1:{port}", context, attempts=2, backoff_s=0.01)
    with client, pytest.raises(SaeUnavailableError, match="cannot connect"):
        client.status(SAES_B[0])


def test_unreadable_tls_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(SaeClientError, match="cannot load TLS files"):
        mutual_tls_context(tmp_path / "ca.pem", tmp_path / "me.pem", tmp_path / "me.key")
