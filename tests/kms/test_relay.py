"""Key relay between KMEs that share no link: per-hop one-time pad and tag, voiding, rerouting, retries.

The KMEs run in one process (:mod:`tests.kms.relay_harness`) on a diamond, two two-hop paths from kme-a
to kme-d, with a tail kme-e behind kme-d::

        kme-b
       /     \\
  kme-a       kme-d --- kme-e
       \\     /
        kme-c
"""

from __future__ import annotations

import base64
import itertools
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest

from openqci.kms.relay_crypto import MAC_KEY_BITS, canonical, one_time_pad, tag, verify
from tests.kms.conftest import Backend
from tests.kms.matrix import NOT_FOUND, is_error
from tests.kms.relay_harness import Net, make_net

pytestmark = pytest.mark.anyio

LINKS = {
    "ab": ("kme-a", "kme-b"),
    "bd": ("kme-b", "kme-d"),
    "ac": ("kme-a", "kme-c"),
    "cd": ("kme-c", "kme-d"),
    "de": ("kme-d", "kme-e"),
}
SAES = {"sae-a": "kme-a", "sae-b": "kme-b", "sae-d": "kme-d", "sae-e": "kme-e"}


@pytest.fixture
async def net(tmp_path, backend: Backend) -> AsyncIterator[Net]:
    built = make_net(tmp_path, LINKS, SAES, backend)
    built.feed()
    yield built
    await built.close()


async def enc(net: Net, slave: str, **body: object) -> httpx.Response:
    async with net.client("sae-a") as master:
        return await master.post(f"/api/v1/keys/{slave}/enc_keys", json=body)


async def dec(net: Net, slave: str, key_ids: list[str]) -> httpx.Response:
    async with net.client(slave) as client:
        return await client.post(
            "/api/v1/keys/sae-a/dec_keys", json={"key_IDs": [{"key_ID": k} for k in key_ids]}
        )


def route_of(response: httpx.Response, kme: str) -> list[str]:
    return list(response.json()["key_container_extension"]["qci_routes"][kme])


# -- the hop's cryptography -------------------------------------------------------------------------------


def test_one_time_pad_and_tag() -> None:
    key, pad, mac_key = b"\x00" * 32, bytes(range(32)), bytes(range(1, 33))
    assert one_time_pad(one_time_pad(key, pad), pad) == key
    with pytest.raises(ValueError, match="cannot cover"):
        one_time_pad(key, pad[:31])
    message = canonical({"b": 1, "a": [1, 2]})
    assert message == b'{"a":[1,2],"b":1}'
    given = tag(mac_key, message)
    assert verify(mac_key, message, given)
    assert not verify(mac_key, message + b" ", given)
    assert not verify(bytes(32), message, given)
    assert not verify(mac_key, message, given[:-1] + bytes([given[-1] ^ 1]))
    assert MAC_KEY_BITS == 256


# -- relaying across trusted nodes -----------------------------------------------------------------------


async def test_a_key_crosses_three_hops_and_the_slave_gets_the_same_bytes(net: Net) -> None:
    got = await enc(net, "sae-e", number=2, size=512)
    assert got.status_code == 200, got.text
    assert route_of(got, "kme-e") in (
        ["kme-a", "kme-b", "kme-d", "kme-e"],
        ["kme-a", "kme-c", "kme-d", "kme-e"],
    )
    keys = got.json()["keys"]
    assert [len(base64.b64decode(k["key"])) for k in keys] == [64, 64]
    taken = await dec(net, "sae-e", [k["key_ID"] for k in keys])
    assert taken.status_code == 200, taken.text
    assert taken.json()["keys"] == keys
    is_error(await dec(net, "sae-e", [keys[0]["key_ID"]]), 400, NOT_FOUND)


async def test_every_hop_consumes_the_same_link_key_at_both_ends(net: Net) -> None:
    before = {(k, link): net.consumed_units(k, link) for link, ends in LINKS.items() for k in ends}
    got = await enc(net, "sae-e", number=1, size=256)
    assert got.status_code == 200, got.text
    route = route_of(got, "kme-e")
    used = {
        name for name, ends in LINKS.items() if any(set(ends) == {x, y} for x, y in itertools.pairwise(route))
    }
    for link, ends in LINKS.items():
        for kme in ends:
            spent = net.consumed_units(kme, link) - before[(kme, link)]
            # one 256-bit unit of pad and one for the Poly1305 key per hop, at both ends of it
            assert spent == (2 if link in used else 0), (kme, link)


async def test_each_hop_carries_different_ciphertext_never_the_key(net: Net) -> None:
    got = await enc(net, "sae-e", size=256)
    key = base64.b64decode(got.json()["keys"][0]["key"])
    messages = [json.loads(m) for hop in net.hops.values() for m in hop.sent]
    assert len(messages) == 3
    ciphertexts = {base64.b64decode(m["ciphertext"]) for m in messages}
    assert len(ciphertexts) == 3
    assert key not in ciphertexts
    assert all(key not in m for hop in net.hops.values() for m in hop.sent)


async def test_a_neighbour_slave_with_an_additional_slave_further_away_gets_the_same_keys(net: Net) -> None:
    got = await enc(net, "sae-b", number=1, additional_slave_SAE_IDs=["sae-e"])
    assert got.status_code == 200, got.text
    assert set(got.json()["key_container_extension"]["qci_routes"]) == {"kme-b", "kme-e"}
    key_ids = [k["key_ID"] for k in got.json()["keys"]]
    for slave in ("sae-b", "sae-e"):
        taken = await dec(net, slave, key_ids)
        assert taken.status_code == 200, taken.text
        assert taken.json()["keys"] == got.json()["keys"]


async def test_status_names_the_far_kme_and_what_the_route_can_carry(net: Net) -> None:
    async with net.client("sae-a") as master:
        status = (await master.get("/api/v1/keys/sae-e/status")).json()
    assert status["target_KME_ID"] == "kme-e"
    # 65,536 bits per link: kme-a allocates half, 128 units; a 256-bit relayed key spends 2 per hop
    assert status["stored_key_count"] == 64


# -- failures: voiding and rerouting ----------------------------------------------------------------------


def _flip_ciphertext(request: httpx.Request) -> httpx.Request:
    document = json.loads(request.content)
    data = bytearray(base64.b64decode(document["ciphertext"]))
    data[0] ^= 1
    document["ciphertext"] = base64.b64encode(bytes(data)).decode()
    return httpx.Request(request.method, request.url, headers=request.headers, content=orjson.dumps(document))


async def test_a_tampered_hop_fails_its_tag_is_voided_and_the_key_goes_round(net: Net) -> None:
    net.hops[("kme-b", "kme-d")].tamper = _flip_ciphertext
    assert net.routes is not None
    got = await enc(net, "sae-e")
    assert got.status_code == 200, got.text
    assert route_of(got, "kme-e") == ["kme-a", "kme-c", "kme-d", "kme-e"]
    assert net.routes.asked[-1] == ("bd",)
    first = json.loads(net.hops[("kme-a", "kme-b")].sent[0])
    ledger_b = net.kmes["kme-b"].manager.relay._ledger  # type: ignore[union-attr]
    ledger_d = net.kmes["kme-d"].manager.relay._ledger  # type: ignore[union-attr]
    relay_id = uuid.UUID(first["relay_id"])
    assert ledger_b.status(relay_id).name == "VOIDED"
    assert ledger_d.status(relay_id).name == "VOIDED"
    taken = await dec(net, "sae-e", [got.json()["keys"][0]["key_ID"]])
    assert taken.status_code == 200
    assert taken.json()["keys"] == got.json()["keys"]


async def test_a_dead_trusted_node_is_routed_around_without_a_failed_request(net: Net) -> None:
    net.hops[("kme-a", "kme-b")].down = True
    for _ in range(3):
        got = await enc(net, "sae-e")
        assert got.status_code == 200, got.text
        assert route_of(got, "kme-e") == ["kme-a", "kme-c", "kme-d", "kme-e"]


async def test_no_route_left_gives_503_with_every_reason(net: Net) -> None:
    net.hops[("kme-a", "kme-b")].down = True
    net.hops[("kme-a", "kme-c")].down = True
    got = await enc(net, "sae-e")
    assert got.status_code == 503
    message = got.json()["message"]
    assert "no key could be relayed from kme-a to kme-e" in message
    assert "kme-b unreachable" in message
    assert "kme-c unreachable" in message
    assert "no route from kme-a to kme-e" in message


async def test_a_drained_hop_gives_503_naming_the_link(tmp_path, backend: Backend) -> None:
    net = make_net(
        tmp_path,
        {"ab": ("kme-a", "kme-b"), "bd": ("kme-b", "kme-d")},
        {"sae-a": "kme-a", "sae-d": "kme-d"},
        backend,
    )
    try:
        net.feed("ab")
        net.feed("bd", size_bits=512)  # two units: one at each end, less than a hop needs
        before = net.consumed_units("kme-a", "ab")
        got = await enc(net, "sae-d")
        assert got.status_code == 503
        assert "not enough key on link bd at kme-b" in got.json()["message"]
        assert net.consumed_units("kme-a", "ab") == before + 2  # the first hop was spent, then voided
    finally:
        await net.close()


# -- idempotence and crash safety --------------------------------------------------------------------------


async def test_a_repeated_hop_gets_the_first_answer_and_consumes_nothing(net: Net) -> None:
    got = await enc(net, "sae-e")
    assert got.status_code == 200
    first = net.hops[("kme-a", "kme-b")].sent or net.hops[("kme-a", "kme-c")].sent
    receiver = "kme-b" if net.hops[("kme-a", "kme-b")].sent else "kme-c"
    before = {k: net.consumed_units(k, link) for link, ends in LINKS.items() for k in ends}
    async with net.peer_client("kme-a", receiver) as peer:
        again = await peer.post(
            "/kme/v1/ext_keys", content=first[0], headers={"content-type": "application/json"}
        )
    assert again.status_code == 200
    assert again.json()["status"] == "relayed"
    assert {k: net.consumed_units(k, link) for link, ends in LINKS.items() for k in ends} == before
    taken = await dec(net, "sae-e", [got.json()["keys"][0]["key_ID"]])
    assert taken.json()["keys"] == got.json()["keys"]


async def test_only_the_named_sender_may_send_a_hop(net: Net) -> None:
    await enc(net, "sae-e")
    sent = net.hops[("kme-a", "kme-b")].sent or net.hops[("kme-a", "kme-c")].sent
    async with net.peer_client("kme-d", "kme-b") as impostor:
        refused = await impostor.post(
            "/kme/v1/ext_keys", content=sent[0], headers={"content-type": "application/json"}
        )
    assert refused.status_code == 401


async def test_a_key_the_master_holds_survives_a_restart_of_the_destination(net: Net) -> None:
    got = await enc(net, "sae-e", number=3)
    assert got.status_code == 200
    await net.kmes["kme-e"].manager.aclose()
    net.rebuild("kme-e")
    key_ids = [k["key_ID"] for k in got.json()["keys"]]
    taken = await dec(net, "sae-e", key_ids)
    assert taken.status_code == 200, taken.text
    assert taken.json()["keys"] == got.json()["keys"]
    is_error(await dec(net, "sae-e", key_ids), 400, NOT_FOUND)


async def test_unknown_slaves_are_still_a_bad_request(net: Net) -> None:
    got = await enc(net, "sae-nobody")
    assert got.status_code == 400
    assert "not served by any KME known to kme-a" in got.json()["message"]
