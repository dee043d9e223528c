"""ETSI GS QKD 014 behaviour, in-process: two KMEs joined through ASGI transports, TLS identity injected."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from tests.kms.conftest import Backend
from tests.kms.harness import InProcess, in_process, make_site
from tests.kms.matrix import ROWS, Row, is_error

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(tmp_path, backend: Backend) -> AsyncIterator[InProcess]:
    site = in_process(make_site(tmp_path, backend=backend))
    yield site
    await site.close()


@pytest.mark.parametrize("row", ROWS, ids=[r.__name__ for r in ROWS])
async def test_behaviour_matrix(env: InProcess, row: Row) -> None:
    await row(env)


async def test_no_client_certificate_gets_401_with_a_body(env: InProcess) -> None:
    async with env.client("kme-a", None) as anonymous:
        is_error(await anonymous.get("/api/v1/keys/sae-b1/status"), 401)


async def test_peer_endpoints_refuse_saes_and_strangers(env: InProcess) -> None:
    async with env.client("kme-b", "sae-a1") as sae:
        is_error(await sae.post("/kme/v1/deliveries", json={"records": []}), 401)
        is_error(await sae.post("/kme/v1/deliveries/pull", json={"key_ids": [str(uuid.uuid4())]}), 401)
    async with env.client("kme-b", "kme-a") as peer:
        is_error(await peer.post("/kme/v1/deliveries", json={"records": [{"request_id": "x"}]}), 400)
        is_error(await peer.post("/kme/v1/deliveries/pull", json={"key_ids": []}), 400)


async def test_every_reply_is_json(env: InProcess) -> None:
    async with env.client("kme-a", "sae-a1") as sae:
        for method, path in (("GET", "/nowhere"), ("DELETE", "/api/v1/keys/sae-b1/status")):
            response = await sae.request(method, path)
            assert 400 <= response.status_code < 500
            assert response.json()["message"]
