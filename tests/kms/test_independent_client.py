"""The independent PyPI client ``etsi-qkd-014-client`` fetches keys from two real KMEs over mutual TLS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from etsi_qkd_014_client import QKD014Client

from tests.kms.servers import Served, serve_site


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    site = serve_site(tmp_path)
    yield site
    site.stop()


def _client(served: Served, kme: str, sae: str) -> QKD014Client:
    identity = served.site.pki.saes[sae]
    return QKD014Client(
        f"127.0.0.1:{served.ports[kme]}",
        str(identity.certificate),
        str(identity.private_key),
        str(served.site.pki.ca),
    )


def test_both_ends_get_the_same_bytes(served: Served) -> None:
    served.feed()
    master, slave = _client(served, "kme-a", "sae-a1"), _client(served, "kme-b", "sae-b1")
    code, status = master.get_status("sae-b1")
    assert code == 200
    assert status.target_kme_id == "kme-b"
    assert status.stored_key_count == 128
    code, simple = master.get_key("sae-b1")
    assert code == 200
    assert len(simple.keys) == 1
    code, posted = master.get_key("sae-b1", number=3, size=512)
    assert code == 200
    assert len(posted.keys) == 3
    sent = [*simple.keys, *posted.keys]
    code, got = slave.get_key_with_key_IDs("sae-a1", [k.key_id for k in sent])
    assert code == 200
    assert [(k.key_id, k.key) for k in got.keys] == [(k.key_id, k.key) for k in sent]


def test_errors_reach_the_client_as_error_objects(served: Served) -> None:
    master, other = _client(served, "kme-a", "sae-a1"), _client(served, "kme-b", "sae-b2")
    code, error = master.get_key("sae-b1", size=257)
    assert (code, error.message) == (400, "size shall be a multiple of 8")
    code, error = master.get_key("sae-b1")
    assert code == 503
    assert error.message
    code, error = other.get_key_with_key_IDs("sae-a1", ["6d3f1c5e-0000-4000-8000-000000000000"])
    assert (code, error.message) == (400, "one or more keys specified are not found on KME")
    code, error = _client(served, "kme-a", "sae-x").get_status("sae-b1")
    assert code == 401
    assert error.message
