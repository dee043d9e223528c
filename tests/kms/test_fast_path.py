"""The fast path answers GET enc_keys and GET dec_keys exactly as the routes do: the same requests sent to
an app with it and to one without it over the same key manager give the same answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from openqci.kms.api.app import create_app
from openqci.kms.tls import with_client_certificate
from tests.kms.harness import STRANGER, InProcess, in_process, make_site

pytestmark = pytest.mark.anyio

ENC = "/api/v1/keys/sae-b1/enc_keys"
DEC = "/api/v1/keys/sae-a1/dec_keys"
UNKNOWN_KEY = str(uuid.uuid4())

# Requests whose answers do not depend on the key handed out: every refusal, byte for byte.
REFUSED = [
    ("sae-a1", ENC + "?number=0"),
    ("sae-a1", ENC + "?number=1.0"),
    ("sae-a1", ENC + "?number=%EF%BC%91"),  # a full-width digit
    ("sae-a1", ENC + "?number=99"),
    ("sae-a1", ENC + "?size=7"),
    ("sae-a1", ENC + "?size=8&size=16"),
    ("sae-a1", ENC + "?additional_slave_SAE_IDs=sae-b2"),
    ("sae-a1", "/api/v1/keys/sae-nobody/enc_keys"),
    ("sae-a1", "/api/v1/keys/%20/enc_keys"),
    ("sae-a1", "/api/v1/keys//enc_keys"),
    (STRANGER, ENC),
    (None, ENC),
    ("kme-b", ENC),
    ("sae-b1", DEC + "?key_ID=" + UNKNOWN_KEY),
    ("sae-b1", DEC + "?key_ID={" + UNKNOWN_KEY + "}"),
    ("sae-b1", DEC + "?key_ID=urn:uuid:" + UNKNOWN_KEY),
    ("sae-b1", DEC),
    ("sae-b1", DEC + "?key_ID=a&key_ID=b"),
    ("sae-b1", DEC + "?key_ID=" + UNKNOWN_KEY + "&number=1"),
    (None, DEC + "?key_ID=" + UNKNOWN_KEY),
    ("sae-a2", "/api/v1/keys/sae-a1/dec_keys?key_ID=" + UNKNOWN_KEY),
]


@pytest.fixture
async def env(tmp_path) -> AsyncIterator[InProcess]:  # type: ignore[no-untyped-def]
    site = in_process(make_site(tmp_path))
    site.feed(blocks=2)
    yield site
    await site.close()


def _clients(env: InProcess, kme: str, pem_of: str | None) -> tuple[httpx.AsyncClient, httpx.AsyncClient]:
    """Clients of ``kme``'s app as served (fast path on) and of a second app without the fast path."""
    served = env.kmes[kme].app
    plain = create_app(env.kmes[kme].manager, served.state.directory, fast_path=False)
    plain.state.serving = True
    pem = env.site.pem(pem_of) if pem_of else None
    return tuple(  # type: ignore[return-value]
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=with_client_certificate(app, pem)), base_url="https://kme"
        )
        for app in (served, plain)
    )


@pytest.mark.parametrize(("who", "path"), REFUSED)
async def test_a_refusal_reads_the_same_either_way(env: InProcess, who: str | None, path: str) -> None:
    kme = "kme-b" if "dec_keys" in path else "kme-a"
    fast, plain = _clients(env, kme, who)
    async with fast, plain:
        answers = [await client.get(path) for client in (fast, plain)]
    assert answers[0].status_code >= 400
    assert answers[0].status_code == answers[1].status_code
    assert answers[0].content == answers[1].content
    assert answers[0].headers == answers[1].headers


async def test_keys_from_either_path_are_retrieved_once_through_the_other(env: InProcess) -> None:
    fast_a, plain_a = _clients(env, "kme-a", "sae-a1")
    fast_b, plain_b = _clients(env, "kme-b", "sae-b1")
    async with fast_a, plain_a, fast_b, plain_b:
        for issue, fetch in ((fast_a, plain_b), (plain_a, fast_b)):
            issued = await issue.get(ENC + "?number=3&size=512")
            assert issued.status_code == 200
            assert issued.headers["content-type"] == "application/json"
            keys = issued.json()["keys"]
            assert len(keys) == 3
            for key in keys:
                got = await fetch.get(f"{DEC}?key_ID={key['key_ID']}")
                assert got.json() == {"keys": [key]}
                again = await fetch.get(f"{DEC}?key_ID={key['key_ID']}")
                assert again.status_code == 400


async def test_the_fast_path_is_counted_under_the_route_s_label(env: InProcess) -> None:
    fast, _plain = _clients(env, "kme-a", "sae-a1")
    async with fast:
        assert (await fast.get(ENC)).status_code == 200
        assert (await fast.get(ENC + "?number=0")).status_code == 400
        metrics = (await fast.get("/metrics")).text
    label = 'endpoint="GET /api/v1/keys/{slave_SAE_ID}/enc_keys"'
    counted = [
        line
        for line in metrics.splitlines()
        if line.startswith("openqci_etsi014_requests_total") and label in line
    ]
    assert any('status="200"' in line and line.endswith(" 1.0") for line in counted), counted
    assert any('status="400"' in line and line.endswith(" 1.0") for line in counted), counted


async def test_the_served_app_answers_enc_keys_on_the_fast_path(
    env: InProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openqci.kms.api.fast_path as fast_path

    answered: list[int] = []
    answer = fast_path.enc_keys_get

    async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        answered.append(1)
        return await answer(*args, **kwargs)

    monkeypatch.setattr(fast_path, "enc_keys_get", counting)
    fast, plain = _clients(env, "kme-a", "sae-a1")
    async with fast, plain:
        assert (await plain.get(ENC)).status_code == 200
        assert answered == []
        assert (await fast.get(ENC)).status_code == 200
        assert answered == [1]
