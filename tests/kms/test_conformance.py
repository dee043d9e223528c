"""ETSI GS QKD 014 conformance over real HTTPS with mutual TLS, against two started KME servers."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import httpx
import pytest

from tests.kms.matrix import ROWS, Row
from tests.kms.servers import Served, serve_site


@pytest.fixture
def served(tmp_path) -> Iterator[Served]:
    site = serve_site(tmp_path)
    yield site
    site.stop()


@pytest.mark.parametrize("row", ROWS, ids=[r.__name__ for r in ROWS])
def test_behaviour_matrix_over_mutual_tls(served: Served, row: Row) -> None:
    asyncio.run(row(served))


def test_the_app_sees_the_identity_of_the_client_certificate(served: Served) -> None:
    with httpx.Client(
        base_url=f"https://127.0.0.1:{served.ports['kme-a']}", verify=served.context("sae-a2")
    ) as c:
        status = c.get("/api/v1/keys/sae-b3/status").json()
    assert status["master_SAE_ID"] == "sae-a2"


def test_a_client_without_certificate_is_refused_at_the_handshake(served: Served) -> None:
    context = ssl.create_default_context(cafile=str(served.site.pki.ca))
    with (
        httpx.Client(base_url=f"https://127.0.0.1:{served.ports['kme-a']}", verify=context) as c,
        pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)),
    ):
        c.get("/api/v1/keys/sae-b1/status")


def test_keep_alive_serves_many_requests_on_one_connection(served: Served) -> None:
    served.feed()
    with httpx.Client(
        base_url=f"https://127.0.0.1:{served.ports['kme-a']}", verify=served.context("sae-a1")
    ) as c:
        streams = {c.get("/api/v1/keys/sae-b1/enc_keys").extensions["network_stream"] for _ in range(5)}
    assert len(streams) == 1
