"""The rows of the ETSI GS QKD 014 behaviour matrix, as checks that run against any pair of KMEs.

Each row is an async function of an environment that hands out SAE clients and feeds key. The same rows
run in-process (test_api.py) and over real HTTPS with mutual TLS against started servers
(test_conformance.py).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

NOT_FOUND = "one or more keys specified are not found on KME"


class Env(Protocol):
    def client(self, kme: str, pem_of: str | None) -> httpx.AsyncClient: ...

    def feed(self, blocks: int = 1, size_bits: int = 65536) -> None: ...


def is_error(response: httpx.Response, status: int, message: str | None = None) -> dict[str, Any]:
    """Check an error reply: the status, a JSON content type and the standard's Error body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("message"), str)
    assert body["message"]
    assert set(body) <= {"message", "details"}
    if message is not None:
        assert body["message"] == message
    return body


async def _enc(env: Env, slave: str = "sae-b1", master: str = "sae-a1", **request: Any) -> dict[str, Any]:
    async with env.client("kme-a", master) as sae:
        response = await sae.post(f"/api/v1/keys/{slave}/enc_keys", json=request)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def round_trip_get(env: Env) -> None:
    env.feed()
    async with env.client("kme-a", "sae-a1") as master, env.client("kme-b", "sae-b1") as slave:
        sent = (await master.get("/api/v1/keys/sae-b1/enc_keys")).json()
        key_id = sent["keys"][0]["key_ID"]
        got = (await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id})).json()
    assert got == sent
    assert len(base64.b64decode(sent["keys"][0]["key"])) == 32  # default size = key_size 256 bits
    assert uuid.UUID(key_id)


async def round_trip_post(env: Env) -> None:
    env.feed()
    sent = await _enc(env, number=3, size=512)
    ids = [{"key_ID": k["key_ID"]} for k in sent["keys"]]
    async with env.client("kme-b", "sae-b1") as slave:
        got = (await slave.post("/api/v1/keys/sae-a1/dec_keys", json={"key_IDs": ids})).json()
    assert got == sent
    assert len({k["key"] for k in sent["keys"]}) == 3


async def number_and_size(env: Env) -> None:
    env.feed()
    five = await _enc(env, number=5)
    assert len(five["keys"]) == 5
    big = await _enc(env, size=1024)
    assert [len(base64.b64decode(k["key"])) for k in big["keys"]] == [128]
    async with env.client("kme-a", "sae-a1") as sae:
        got = (await sae.get("/api/v1/keys/sae-b1/enc_keys", params={"number": "2", "size": "64"})).json()
    assert [len(base64.b64decode(k["key"])) for k in got["keys"]] == [8, 8]


async def empty_post_body_means_defaults(env: Env) -> None:
    env.feed()
    async with env.client("kme-a", "sae-a1") as sae:
        response = await sae.post("/api/v1/keys/sae-b1/enc_keys")
        ignored = await sae.post("/api/v1/keys/sae-b1/enc_keys", json={"number": 1, "vendor_field": [1, 2]})
    assert response.status_code == 200
    assert len(response.json()["keys"]) == 1
    assert ignored.status_code == 200


async def status_reports_the_pair(env: Env) -> None:
    env.feed()
    async with env.client("kme-a", "sae-a1") as sae:
        before = (await sae.get("/api/v1/keys/sae-b1/status")).json()
        await sae.post("/api/v1/keys/sae-b1/enc_keys", json={"number": 4})
        after = (await sae.get("/api/v1/keys/sae-b1/status")).json()
    assert before["source_KME_ID"] == "kme-a"
    assert before["target_KME_ID"] == "kme-b"
    assert before["master_SAE_ID"] == "sae-a1"
    assert before["slave_SAE_ID"] == "sae-b1"
    assert (before["key_size"], before["min_key_size"], before["max_key_size"]) == (256, 64, 8192)
    assert (before["max_key_per_request"], before["max_SAE_ID_count"]) == (16, 2)
    assert before["stored_key_count"] == 128  # half of a 256-unit block is allocated by kme-a
    assert after["stored_key_count"] == before["stored_key_count"] - 4


async def multicast_to_additional_slaves(env: Env) -> None:
    env.feed()
    sent = await _enc(env, number=2, additional_slave_SAE_IDs=["sae-b2"])
    ids = [k["key_ID"] for k in sent["keys"]]
    async with env.client("kme-b", "sae-b1") as b1, env.client("kme-b", "sae-b2") as b2:
        first = (
            await b1.post("/api/v1/keys/sae-a1/dec_keys", json={"key_IDs": [{"key_ID": i} for i in ids]})
        ).json()
        one = (await b2.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": ids[0]})).json()
        two = (await b2.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": ids[1]})).json()
        again = await b2.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": ids[1]})
    assert first == sent
    assert one["keys"] + two["keys"] == sent["keys"]
    is_error(again, 400, NOT_FOUND)


async def each_key_once(env: Env) -> None:
    env.feed()
    key_id = (await _enc(env))["keys"][0]["key_ID"]
    async with env.client("kme-b", "sae-b1") as slave:
        assert (await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id})).status_code == 200
        is_error(await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id}), 400, NOT_FOUND)


async def unknown_key_is_400_all_or_nothing(env: Env) -> None:
    env.feed()
    key_id = (await _enc(env))["keys"][0]["key_ID"]
    async with env.client("kme-b", "sae-b1") as slave:
        body = {"key_IDs": [{"key_ID": key_id}, {"key_ID": str(uuid.uuid4())}]}
        is_error(await slave.post("/api/v1/keys/sae-a1/dec_keys", json=body), 400, NOT_FOUND)
        assert (await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id})).status_code == 200


async def non_uuid_key_id_is_400(env: Env) -> None:
    async with env.client("kme-b", "sae-b1") as slave:
        is_error(await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": "not-a-uuid"}), 400)
        is_error(await slave.post("/api/v1/keys/sae-a1/dec_keys", json={"key_IDs": [{"key_ID": "x"}]}), 400)
        is_error(await slave.post("/api/v1/keys/sae-a1/dec_keys", json={"key_IDs": []}), 400)
        is_error(await slave.get("/api/v1/keys/sae-a1/dec_keys"), 400)


async def other_sae_gets_401(env: Env) -> None:
    env.feed()
    key_id = (await _enc(env))["keys"][0]["key_ID"]
    async with env.client("kme-b", "sae-b2") as other, env.client("kme-b", "sae-b1") as slave:
        is_error(await other.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id}), 401)
        is_error(await slave.get("/api/v1/keys/sae-a2/dec_keys", params={"key_ID": key_id}), 401)
        assert (await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id})).status_code == 200


async def master_cannot_dec_keys(env: Env) -> None:
    env.feed()
    key_id = (await _enc(env))["keys"][0]["key_ID"]
    async with env.client("kme-a", "sae-a1") as master:
        is_error(await master.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id}), 401)
    async with env.client("kme-b", "sae-a1") as master_at_b:
        is_error(await master_at_b.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id}), 401)


async def unregistered_certificate_gets_401(env: Env) -> None:
    async with env.client("kme-a", "sae-x") as stranger:
        for path in ("sae-b1/status", "sae-b1/enc_keys", f"sae-a1/dec_keys?key_ID={uuid.uuid4()}"):
            is_error(await stranger.get(f"/api/v1/keys/{path}"), 401)
        is_error(await stranger.post("/api/v1/keys/sae-b1/enc_keys", json={}), 401)
    async with env.client("kme-a", "kme-b") as peer_as_sae:
        is_error(await peer_as_sae.get("/api/v1/keys/sae-b1/status"), 401)


async def blank_or_unknown_sae_is_400(env: Env) -> None:
    async with env.client("kme-a", "sae-a1") as sae:
        for blank in ("%20", ""):
            is_error(await sae.get(f"/api/v1/keys/{blank}/status"), 400)
            is_error(await sae.get(f"/api/v1/keys/{blank}/enc_keys"), 400)
            is_error(await sae.post(f"/api/v1/keys/{blank}/enc_keys", json={}), 400)
            is_error(
                await sae.get(f"/api/v1/keys/{blank}/dec_keys", params={"key_ID": str(uuid.uuid4())}), 400
            )
            is_error(
                await sae.post(f"/api/v1/keys/{blank}/dec_keys", json={"key_IDs": [{"key_ID": "x"}]}), 400
            )
        is_error(await sae.get("/api/v1/keys/sae-nowhere/status"), 400)
        is_error(await sae.get("/api/v1/keys/sae-nowhere/enc_keys"), 400)
        is_error(await sae.get("/api/v1/keys/sae-a1/status"), 400)  # master = slave
        is_error(await sae.get("/api/v1/keys/sae-a1/enc_keys"), 400)


async def bad_number_is_400(env: Env) -> None:
    env.feed()
    async with env.client("kme-a", "sae-a1") as sae:
        for value in ("0", "-8", "abc01", "1.5", "17"):
            is_error(await sae.get("/api/v1/keys/sae-b1/enc_keys", params={"number": value}), 400)
        for value in (0, -8, "abc01", "3", 1.5, 17, None):
            is_error(
                await sae.post(
                    "/api/v1/keys/sae-b1/enc_keys",
                    json={"number": value} if value else {"number": None, "size": "x"},
                ),
                400,
            )


async def bad_size_is_400(env: Env) -> None:
    env.feed()
    async with env.client("kme-a", "sae-a1") as sae:
        for value in ("0", "-8", "abc01", "56", "8200"):
            is_error(await sae.get("/api/v1/keys/sae-b1/enc_keys", params={"size": value}), 400)
        for value in (0, -8, "abc01", "256", 56, 8200, 12.0):
            is_error(await sae.post("/api/v1/keys/sae-b1/enc_keys", json={"size": value}), 400)
        multiple = "size shall be a multiple of 8"
        is_error(await sae.get("/api/v1/keys/sae-b1/enc_keys", params={"size": "257"}), 400, multiple)
        is_error(await sae.post("/api/v1/keys/sae-b1/enc_keys", json={"size": 257}), 400, multiple)


async def bad_additional_slaves_are_400(env: Env) -> None:
    env.feed()
    cases = [
        [],
        ["sae-b2", "sae-b2"],
        [" "],
        ["sae-a1"],
        ["sae-b1"],
        ["sae-b2", "sae-b3", "sae-a2"],
        ["sae-a2"],
        [3],
    ]
    async with env.client("kme-a", "sae-a1") as sae:
        for case in cases:
            is_error(
                await sae.post("/api/v1/keys/sae-b1/enc_keys", json={"additional_slave_SAE_IDs": case}), 400
            )


async def extensions(env: Env) -> None:
    env.feed()
    async with env.client("kme-a", "sae-a1") as sae:
        mandatory = {"extension_mandatory": [{"abc_route_type": "direct"}]}
        body = is_error(
            await sae.post("/api/v1/keys/sae-b1/enc_keys", json=mandatory),
            400,
            "not all extension_mandatory parameters are supported",
        )
        assert body["details"] == [{"extension_mandatory_unsupported": "abc_route_type"}]
        optional = {"extension_optional": [{"abc_route_type": "direct"}]}
        assert (await sae.post("/api/v1/keys/sae-b1/enc_keys", json=optional)).status_code == 200


async def shortage_is_503(env: Env) -> None:
    async with env.client("kme-a", "sae-a1") as sae:
        body = is_error(await sae.get("/api/v1/keys/sae-b1/enc_keys"), 503)
        assert body["details"][0]["units_needed"] == 1
        status = (await sae.get("/api/v1/keys/sae-b1/status")).json()
    assert status["stored_key_count"] == 0


async def wrong_json_types_are_400(env: Env) -> None:
    async with env.client("kme-a", "sae-a1") as sae:
        is_error(
            await sae.post(
                "/api/v1/keys/sae-b1/enc_keys",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            400,
        )
        is_error(await sae.post("/api/v1/keys/sae-b1/enc_keys", json=[1, 2]), 400)
        is_error(await sae.post("/api/v1/keys/sae-a1/dec_keys", json={"key_IDs": "x"}), 400)


async def number_is_strict_on_get(env: Env) -> None:
    env.feed()
    async with env.client("kme-a", "sae-a1") as sae:
        for value in ("1.0", "+1", " 1", "1 ", "\uff11", "0x1", "1e0", "01.0"):
            body = is_error(await sae.get("/api/v1/keys/sae-b1/enc_keys", params={"number": value}), 400)
            assert "decimal integer" in body["message"], body
        is_error(await sae.get("/api/v1/keys/sae-b1/enc_keys", params={"size": "256.0"}), 400)
        assert (await sae.get("/api/v1/keys/sae-b1/enc_keys", params={"number": "2"})).status_code == 200


async def unsupported_query_parameters_are_400(env: Env) -> None:
    env.feed()
    async with env.client("kme-a", "sae-a1") as sae:
        enc = "/api/v1/keys/sae-b1/enc_keys"
        body = is_error(await sae.get(enc, params={"additional_slave_SAE_IDs": "sae-b2"}), 400)
        assert "additional_slave_SAE_IDs" in body["message"]
        is_error(await sae.get(enc, params={"extension_mandatory": "x"}), 400)
        is_error(await sae.get(f"{enc}?number=1&number=2"), 400)
        is_error(await sae.get("/api/v1/keys/sae-b1/status", params={"number": "1"}), 400)
        is_error(await sae.post(enc, params={"number": "2"}, json={}), 400)
    async with env.client("kme-b", "sae-b1") as slave:
        query = {"key_ID": str(uuid.uuid4()), "number": "1"}
        is_error(await slave.get("/api/v1/keys/sae-a1/dec_keys", params=query), 400)


async def key_ids_only_in_canonical_form(env: Env) -> None:
    env.feed()
    key_id = (await _enc(env))["keys"][0]["key_ID"]
    fullwidth = key_id.translate({ord(d): 0xFF10 + int(d) for d in "0123456789"})
    variants = ["{" + key_id + "}", f"urn:uuid:{key_id}", key_id.replace("-", ""), fullwidth, f" {key_id}"]
    async with env.client("kme-b", "sae-b1") as slave:
        for variant in variants:
            body = is_error(await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": variant}), 400)
            assert "canonical" in body["message"], (variant, body)
            ids = {"key_IDs": [{"key_ID": variant}]}
            is_error(await slave.post("/api/v1/keys/sae-a1/dec_keys", json=ids), 400)
        upper = await slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id.upper()})
        assert upper.status_code == 200, upper.text
        assert upper.json()["keys"][0]["key_ID"] == key_id


async def too_many_key_ids_are_400(env: Env) -> None:
    async with env.client("kme-b", "sae-b1") as slave:
        ids = {"key_IDs": [{"key_ID": str(uuid.uuid4())} for _ in range(1001)]}
        body = is_error(await slave.post("/api/v1/keys/sae-a1/dec_keys", json=ids), 400)
        assert "max_key_ids_per_request (1000)" in body["message"]


async def api_documents_are_not_served(env: Env) -> None:
    for kme, caller in (("kme-a", "sae-a1"), ("kme-a", "kme-b")):
        async with env.client(kme, caller) as client:
            for path in ("/docs", "/redoc", "/openapi.json"):
                response = await client.get(path)
                is_error(response, 404)
                assert "openapi" not in response.text


Row = Callable[[Env], Awaitable[None]]

ROWS: list[Row] = [
    round_trip_get,
    round_trip_post,
    number_and_size,
    empty_post_body_means_defaults,
    status_reports_the_pair,
    multicast_to_additional_slaves,
    each_key_once,
    unknown_key_is_400_all_or_nothing,
    non_uuid_key_id_is_400,
    other_sae_gets_401,
    master_cannot_dec_keys,
    unregistered_certificate_gets_401,
    blank_or_unknown_sae_is_400,
    bad_number_is_400,
    bad_size_is_400,
    bad_additional_slaves_are_400,
    extensions,
    shortage_is_503,
    wrong_json_types_are_400,
    number_is_strict_on_get,
    unsupported_query_parameters_are_400,
    key_ids_only_in_canonical_form,
    too_many_key_ids_are_400,
    api_documents_are_not_served,
]
