"""KME-to-KME agreement: records pushed from the outbox, pulled on demand, and never a wrong key.

kme-a answers enc_keys from one local transaction; kme-b learns which units went to which key either
from the background push or, when a slave SAE asks first, by pulling the record from kme-a.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import orjson
import pytest

from openqci.kms.api.kx_models import DeliveryBatch, ReservationMessage
from openqci.kms.peer import _batch_json
from openqci.kms.units import cut_block
from tests.kms.conftest import Backend, StoreFactory, make_block
from tests.kms.harness import InProcess, in_process, make_site
from tests.kms.matrix import NOT_FOUND, is_error

pytestmark = pytest.mark.anyio

PULL = "/kme/v1/deliveries/pull"
PUSH = "/kme/v1/deliveries"


@pytest.fixture
async def env(tmp_path, backend: Backend) -> AsyncIterator[InProcess]:
    site = in_process(make_site(tmp_path, backend=backend))
    site.feed()
    yield site
    await site.close()


async def _enc(env: InProcess, number: int = 1) -> list[dict[str, str]]:
    async with env.client("kme-a", "sae-a1") as master:
        response = await master.post("/api/v1/keys/sae-b1/enc_keys", json={"number": number})
    assert response.status_code == 200, response.text
    return list(response.json()["keys"])


async def _dec(env: InProcess, key_id: str):
    async with env.client("kme-b", "sae-b1") as slave:
        return await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id})


def _outbox(env: InProcess) -> list:
    store = env.kmes["kme-a"].manager._store
    return store.pending("link-ab", 100)


async def test_enc_keys_needs_no_peer(env: InProcess) -> None:
    env.forwards["kme-b"].down = True
    keys = await _enc(env, number=3)
    assert len(keys) == 3
    assert env.forwards["kme-b"].seen == []
    assert len(_outbox(env)) == 1


async def test_a_slave_asking_before_the_push_pulls_the_record(env: InProcess) -> None:
    (key,) = await _enc(env)
    got = await _dec(env, key["key_ID"])
    assert got.status_code == 200, got.text
    assert got.json()["keys"] == [key]
    assert env.forwards["kme-a"].seen == [PULL]
    assert len(_outbox(env)) == 1  # not pushed: the record stays until the push confirms it
    is_error(await _dec(env, key["key_ID"]), 400, NOT_FOUND)
    assert env.forwards["kme-a"].seen == [PULL]  # a key taken already is refused without asking kme-a


async def test_records_survive_a_restart_of_the_owning_kme(env: InProcess) -> None:
    sent = await _enc(env, number=2)
    await env.restart("kme-a")
    for key in sent:
        got = await _dec(env, key["key_ID"])
        assert got.status_code == 200, got.text
        assert got.json()["keys"] == [key]
    assert env.forwards["kme-a"].seen == [PULL]  # one pull brings the whole record


async def test_an_unreachable_owner_gives_503_never_a_wrong_key(env: InProcess) -> None:
    (key,) = await _enc(env)
    env.forwards["kme-a"].down = True
    body = is_error(await _dec(env, key["key_ID"]), 503)
    assert "kme-a" in body["message"]
    is_error(await _dec(env, str(uuid.uuid4())), 400, NOT_FOUND)  # not a unit of kme-a: no need to ask
    env.forwards["kme-a"].down = False
    got = await _dec(env, key["key_ID"])
    assert got.json()["keys"] == [key]


async def test_a_key_never_delivered_is_not_found_after_asking(env: InProcess) -> None:
    await _enc(env)
    block = make_block("link-ab", 65536)
    for kme in env.kmes.values():
        kme.manager.add_block(block)
    never_delivered = cut_block(block, 256)[0].unit_id  # in kme-a's half (even units), still free
    is_error(await _dec(env, str(never_delivered)), 400, NOT_FOUND)
    assert env.forwards["kme-a"].seen == [PULL]


async def test_the_outbox_is_pushed_in_the_background(env: InProcess) -> None:
    for kme in env.kmes.values():
        kme.manager.start()
    sent = [k for _ in range(5) for k in await _enc(env, number=2)]
    for _ in range(200):
        if not _outbox(env):
            break
        await asyncio.sleep(0.01)
    assert _outbox(env) == []
    assert PUSH in env.forwards["kme-b"].seen
    env.forwards["kme-a"].down = True  # kme-b cannot pull: what it serves came by push
    async with env.client("kme-b", "sae-b1") as slave:
        ids = [{"key_ID": k["key_ID"]} for k in sent]
        got = await slave.post("/api/v1/keys/sae-a1/dec_keys", json={"key_IDs": ids})
    assert got.json()["keys"] == sent


async def test_a_lost_push_is_repeated(env: InProcess) -> None:
    env.forwards["kme-b"].refuse.add(PUSH)
    env.kmes["kme-a"].manager.start()
    sent = await _enc(env, number=2)
    await asyncio.sleep(0.1)
    assert len(_outbox(env)) == 1
    env.forwards["kme-b"].refuse.clear()
    for _ in range(300):
        if not _outbox(env):
            break
        await asyncio.sleep(0.01)
    assert _outbox(env) == []
    env.forwards["kme-a"].down = True
    for key in sent:
        assert (await _dec(env, key["key_ID"])).json()["keys"] == [key]


def test_the_pushed_batch_is_what_the_message_model_reads(store_factory: StoreFactory) -> None:
    store = store_factory()
    store.add_block(make_block(size_bits=8192), unit_bits=256, parity=0)
    for number, size_bits in ((1, 256), (3, 512)):
        store.deliver(
            request_id=uuid.uuid4(),
            link_id="link-ab",
            master_sae="sae-a1",
            slave_saes=("sae-b1", "sae-b2"),
            number=number,
            size_bits=size_bits,
            unit_bits=256,
        )
    records = store.pending("link-ab", 10)
    written = _batch_json(store.outbox("link-ab", 10))
    batch = DeliveryBatch.model_validate_json(written)
    assert [m.to_reservation() for m in batch.records] == records
    assert [len(r.keys) for r in records] == [1, 3]
    assert all(len(plan.unit_ids) == 2 for plan in records[1].keys)
    assert orjson.loads(written) == orjson.loads(
        DeliveryBatch(records=[ReservationMessage.from_reservation(r) for r in records]).model_dump_json()
    )


async def test_a_malformed_push_is_refused_with_the_error_body(env: InProcess) -> None:
    async with env.client("kme-b", "kme-a") as peer:
        for body in (b"{", b'{"records": [{"request_id": "not a uuid"}]}', b'{"records": 3}'):
            response = await peer.post(PUSH, content=body, headers={"content-type": "application/json"})
            is_error(response, 400)
