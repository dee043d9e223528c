"""Access campaign: no SAE obtains a key it is not a party to, and relay messages need the neighbour's proof.

Three KMEs in a line (kme-a, kme-b, kme-c), built from real configurations in one process
(``tests.kms.relay_harness``), every request carrying a client certificate as mutual TLS would. Keys are
delivered directly (neighbours) and by relay (kme-a to kme-c through kme-b, multicast included). Then
every identity (each SAE, a valid certificate of the site CA that no KME registered, each KME) asks every
KME for those keys through every endpoint that can return key or key records, naming the true master and
every other SAE as master. Only the slaves at their own KME may get them; they must still get them once,
after all the probes. Relay messages are replayed, sent by the wrong neighbour or an SAE, tampered with,
and delivered late and out of order after their relay was voided: none may store or release key.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from openqci.kms.tls import with_client_certificate
from reliability.certs import issue_bad_identities
from reliability.outcome import Clock, Outcome
from tests.kms.conftest import Backend, query_store
from tests.kms.relay_harness import Net, make_net

__all__ = ["run_access"]

LINKS = {"ab": ("kme-a", "kme-b"), "bc": ("kme-b", "kme-c")}
SAES = {"sae-a": "kme-a", "sae-a2": "kme-a", "sae-b": "kme-b", "sae-c": "kme-c", "sae-c2": "kme-c"}
UNKNOWN = "unknown SAE (valid, not registered)"


@dataclass(frozen=True)
class Delivery:
    """Keys a master got, and the (slave, KME) pairs that may retrieve them."""

    master: str
    keys: list[dict[str, str]]
    parties: frozenset[tuple[str, str]]


def run_access(*, budget_s: float, seed: int, rounds: int = 1) -> Outcome:
    """Run the access matrix ``rounds`` times and the relay-message probes once."""
    outcome = Outcome("access: keys only to their parties")
    clock = Clock(budget_s)
    root = Path(tempfile.mkdtemp(prefix="openqci-access-"))
    try:
        asyncio.run(_campaign(root, outcome, clock, rounds, random.Random(seed)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    outcome.duration_s = clock.elapsed()
    return outcome


async def _campaign(root: Path, outcome: Outcome, clock: Clock, rounds: int, rng: random.Random) -> None:
    net = make_net(root, LINKS, SAES, Backend("sqlite"))
    try:
        for _ in range(4):
            net.feed()
        bad = {i.kind: i.certificate.read_text() for i in issue_bad_identities(root / "pki", root / "bad")}
        callers = {
            **{s: net.pem(s) for s in SAES},
            UNKNOWN: bad[UNKNOWN],
            **{k: net.pem(k) for k in net.kmes},
        }
        for _ in range(rounds):
            deliveries = await _deliver(net, outcome)
            await _probe_keys(net, outcome, deliveries, callers)
            await _probe_peer_endpoints(net, outcome, deliveries, callers)
            await _retrieve(net, outcome, deliveries)
            if clock.left() < 0:
                break
        await _relay_messages(net, outcome)
    finally:
        await net.close()


def _as(net: Net, kme: str, pem: str) -> httpx.AsyncClient:
    app = with_client_certificate(net.kmes[kme].app, pem)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://kme")


async def _enc(net: Net, outcome: Outcome, master: str, slave: str, **body: object) -> list[dict[str, str]]:
    async with net.client(master) as client:
        got = await client.post(f"/api/v1/keys/{slave}/enc_keys", json={"number": 2, **body})
    outcome.requests += 1
    if got.status_code != 200:
        outcome.errors[f"setup enc_keys {got.status_code}"] += 1
        return []
    return list(got.json()["keys"])


async def _deliver(net: Net, outcome: Outcome) -> list[Delivery]:
    plans = [
        ("sae-a", "sae-b", {}),  # direct, neighbours
        ("sae-b", "sae-a", {}),
        ("sae-a", "sae-c", {"additional_slave_SAE_IDs": ["sae-c2"]}),  # relay, multicast
        ("sae-c", "sae-a2", {}),  # relay the other way
    ]
    deliveries = []
    for master, slave, extra in plans:
        keys = await _enc(net, outcome, master, slave, **extra)
        slaves = [slave, *extra.get("additional_slave_SAE_IDs", [])]
        if keys:
            deliveries.append(Delivery(master, keys, frozenset((s, SAES[s]) for s in slaves)))
    return deliveries


async def _probe_keys(
    net: Net, outcome: Outcome, deliveries: list[Delivery], callers: dict[str, str]
) -> None:
    """Every caller, every KME, every master named in the path: only a party may see the key."""
    for delivery, (caller, pem), kme in itertools.product(deliveries, callers.items(), net.kmes):
        key_id = delivery.keys[0]["key_ID"]
        async with _as(net, kme, pem) as client:
            for named in SAES:
                if (caller, kme) in delivery.parties and named == delivery.master:
                    continue  # the legitimate retrieval comes after every probe
                for how, call in (
                    ("GET", client.get(f"/api/v1/keys/{named}/dec_keys", params={"key_ID": key_id})),
                    (
                        "POST",
                        client.post(f"/api/v1/keys/{named}/dec_keys", json={"key_IDs": [{"key_ID": key_id}]}),
                    ),
                ):
                    got = await call
                    outcome.requests += 1
                    outcome.faults += 1
                    _refused(outcome, got, delivery, f"dec_keys {how}")


def _refused(outcome: Outcome, got: httpx.Response, delivery: Delivery, what: str) -> None:
    if got.status_code == 200 or any(k["key"] in got.text for k in delivery.keys):
        outcome.violate(f"a key reached a caller that is no party to it through {what}")
    elif got.status_code >= 500 and got.status_code != 503:
        outcome.violate(f"HTTP {got.status_code} on {what}")
    else:
        outcome.errors[f"{what} refused {got.status_code}"] += 1


async def _probe_peer_endpoints(
    net: Net, outcome: Outcome, deliveries: list[Delivery], callers: dict[str, str]
) -> None:
    """The KME-to-KME endpoints refuse SAEs and KMEs that share no link with the KME asked."""
    neighbours = {frozenset(ends) for ends in LINKS.values()}
    for delivery, (caller, pem), kme in itertools.product(deliveries, callers.items(), net.kmes):
        if frozenset((caller, kme)) in neighbours:
            continue
        async with _as(net, kme, pem) as client:
            body = {"key_ids": [k["key_ID"] for k in delivery.keys]}
            got = await client.post("/kme/v1/deliveries/pull", json=body)
            outcome.requests += 1
            outcome.faults += 1
            _refused(outcome, got, delivery, "deliveries/pull")


async def _retrieve(net: Net, outcome: Outcome, deliveries: list[Delivery]) -> None:
    """After every probe, each party still gets its keys once, with the master's bytes."""
    for delivery in deliveries:
        ids = {"key_IDs": [{"key_ID": k["key_ID"]} for k in delivery.keys]}
        for slave, kme in sorted(delivery.parties):
            async with _as(net, kme, net.pem(slave)) as client:
                first = await client.post(f"/api/v1/keys/{delivery.master}/dec_keys", json=ids)
                again = await client.post(f"/api/v1/keys/{delivery.master}/dec_keys", json=ids)
            outcome.requests += 2
            if first.status_code != 200 or first.json()["keys"] != delivery.keys:
                outcome.violate("a slave could not retrieve its key after the probes")
            if again.status_code != 400:
                outcome.violate("a slave retrieved the same key twice")


def _keys_at(net: Net, kme: str) -> int:
    ((count,),) = query_store(net.kmes[kme].config.store, "SELECT count(*) FROM keys")
    return int(count)


def _consumed(net: Net) -> dict[tuple[str, str], int]:
    return {(k, link): net.consumed_units(k, link) for link, ends in LINKS.items() for k in ends}


async def _post(
    net: Net, sender_pem: str, receiver: str, body: bytes, path: str = "/kme/v1/ext_keys"
) -> httpx.Response:
    async with _as(net, receiver, sender_pem) as client:
        return await client.post(path, content=body, headers={"content-type": "application/json"})


def _rewrite(body: bytes, **changes: object) -> bytes:
    document = json.loads(body)
    document.update(changes)
    return orjson.dumps(document)


def _flip(body: bytes, field: str) -> bytes:
    document = json.loads(body)
    data = bytearray(base64.b64decode(document[field]))
    data[0] ^= 1
    document[field] = base64.b64encode(bytes(data)).decode()
    return orjson.dumps(document)


async def _relay_messages(net: Net, outcome: Outcome) -> None:
    """Replayed, misattributed, tampered and late, reordered hop messages store and release no key."""
    hop_ab, hop_bc = net.hops[("kme-a", "kme-b")], net.hops[("kme-b", "kme-c")]
    hop_ab.sent.clear()
    await _enc(net, outcome, "sae-a", "sae-c")
    (message,) = hop_ab.sent[-1:]
    stored, consumed = _keys_at(net, "kme-c"), _consumed(net)
    probes = [
        ("replayed by its sender", net.pem("kme-a"), message),
        ("replayed under a new relay ID", net.pem("kme-a"), _rewrite(message, relay_id=str(uuid.uuid4()))),
        ("sent by a KME that is not the named sender", net.pem("kme-c"), message),
        ("sent by an SAE", net.pem("sae-b"), message),
        (
            "ciphertext flipped, new relay ID",
            net.pem("kme-a"),
            _flip(_rewrite(message, relay_id=str(uuid.uuid4())), "ciphertext"),
        ),
        (
            "tag flipped, new relay ID",
            net.pem("kme-a"),
            _flip(_rewrite(message, relay_id=str(uuid.uuid4())), "tag"),
        ),
    ]
    for label, pem, body in probes:
        got = await _post(net, pem, "kme-b", body)
        outcome.requests += 1
        outcome.faults += 1
        relayed_again = got.status_code == 200 and got.json().get("status") == "relayed"
        if relayed_again and label != "replayed by its sender":
            outcome.violate(f"a relay message {label} was accepted")
        outcome.errors[f"relay message {label}: {got.status_code}"] += 1
    if _keys_at(net, "kme-c") != stored or _consumed(net) != consumed:
        outcome.violate("a replayed or forged relay message stored key or consumed link key")
    await _tampered_in_transit(net, outcome, hop_bc)
    await _late_and_reordered(net, outcome, hop_bc)


async def _tampered_in_transit(net: Net, outcome: Outcome, hop_bc: object) -> None:
    stored = _keys_at(net, "kme-c")

    def flip(request: httpx.Request) -> httpx.Request:
        return httpx.Request(
            request.method, request.url, headers=request.headers, content=_flip(request.content, "ciphertext")
        )

    hop_bc.tamper = flip  # type: ignore[attr-defined]
    keys = await _enc(net, outcome, "sae-a", "sae-c")
    hop_bc.tamper = None  # type: ignore[attr-defined]
    outcome.faults += 1
    if keys:
        outcome.violate("a relay whose hop was tampered with in transit released key to the master")
    if _keys_at(net, "kme-c") != stored:
        outcome.violate("a tampered relay left keys stored at the destination")


async def _late_and_reordered(net: Net, outcome: Outcome, hop_bc: object) -> None:
    """Two relays whose last hop never arrives are voided; their messages, delivered late and in reverse
    order, are refused."""

    def lost(request: httpx.Request) -> httpx.Request:
        raise httpx.ConnectError("lost on the way", request=request)

    hop_bc.sent.clear()  # type: ignore[attr-defined]
    hop_bc.tamper = lost  # type: ignore[attr-defined]
    for _ in range(2):
        if await _enc(net, outcome, "sae-a", "sae-c"):
            outcome.violate("a relay whose last hop was lost released key to the master")
    hop_bc.tamper = None  # type: ignore[attr-defined]
    late = list(dict.fromkeys(hop_bc.sent))  # type: ignore[attr-defined]
    stored = _keys_at(net, "kme-c")
    for body in reversed(late):
        got = await _post(net, net.pem("kme-b"), "kme-c", body)
        outcome.requests += 1
        outcome.faults += 1
        accepted = got.status_code == 200 and got.json().get("status") == "relayed"
        if accepted:
            outcome.violate("a late, reordered message of a voided relay was accepted")
        outcome.errors[f"late reordered relay message: {got.status_code}"] += 1
    if _keys_at(net, "kme-c") != stored:
        outcome.violate("a late message of a voided relay stored key at the destination")
