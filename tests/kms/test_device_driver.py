"""The ``etsi014`` key source: two KMEs take their link's key from two QKD devices over ETSI GS QKD 014.

Two OpenQCI KMEs stand in for the vendor devices (device-a and device-b share their own link, qkd-ab, fed
with KeyBlocks). kme-a and kme-b share link-ab, whose source is etsi014: each is an SAE (qkd-sae-a,
qkd-sae-b) of its device. Every process is a real ``openqci kms serve`` over mutual TLS on 127.0.0.1, so
a device or a KME can be killed with SIGKILL and started again on its store.

The end-to-end test checks that keys flow to the SAE pair, that a killed device turns the link down with
its reason (Get status, the KME's log) at the end that sees it, that key flows again once it is back,
and, after kills of both devices and both KMEs, that no device key is lost at one end only, held twice or
held with other bytes. The in-process tests pin the agreement rules one at a time with scripted devices.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from openqci.kms.config import Etsi014SourceConfig, load_config
from openqci.kms.crypto import write_master_key
from openqci.kms.device_etsi014 import Etsi014Link
from openqci.kms.device_ledger import DeviceLedger, device_block_id
from openqci.kms.node import open_store
from openqci.kms.peer import PeerClient
from openqci.kms.pki import PkiLayout, init_pki
from openqci.kms.records import UnitState
from openqci.kms.sqlstore import SqlKeyStore
from openqci.kms.tls import client_context
from openqci.kms.units import cut_block, owned_parity
from openqci.services import SaeClient
from openqci.services.sae_client import (
    KeyContainer,
    KeyStatus,
    QkdKey,
    SaeBadRequestError,
    SaeUnavailableError,
)
from tests.kms.conftest import StoreFactory, make_block
from tests.kms.harness import InProcess, in_process, make_site
from tests.kms.matrix import NOT_FOUND, is_error
from tests.kms.servers import free_port

NAMES = ("device-a", "device-b", "kme-a", "kme-b")
DEVICE_OF = {"kme-a": "device-a", "kme-b": "device-b"}
QKD_SAE = {"kme-a": "qkd-sae-a", "kme-b": "qkd-sae-b"}
APP_SAE = {"kme-a": "sae-a1", "kme-b": "sae-b1"}
OTHER = {"kme-a": "kme-b", "kme-b": "kme-a", "device-a": "device-b", "device-b": "device-a"}
LINK = "link-ab"
DEVICE_LINK = "qkd-ab"
OFFER = "/kme/v1/device_keys"

pytestmark = pytest.mark.anyio  # the in-process tests run on asyncio (conftest's anyio_backend)
DEVICE_BLOCKS = 24  # 65536-bit blocks fed to both devices: 3072 keys of 256 bits in device-a's half


# -- the site -----------------------------------------------------------------------------------------------


class Site:
    """Four KME processes (two devices, two KMEs), their files and their SAE clients."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {name: free_port() for name in NAMES}
        self.pki: PkiLayout = init_pki(
            root / "pki", list(NAMES), [*APP_SAE.values(), *QKD_SAE.values(), "sae-x"]
        )
        self.configs = {name: self._write_config(name) for name in NAMES}
        self.fed = [make_block(DEVICE_LINK, 65536) for _ in range(DEVICE_BLOCKS)]
        for device in ("device-a", "device-b"):
            store = open_store(load_config(self.configs[device]))
            for block in self.fed:
                store.add_block(block, unit_bits=256, parity=owned_parity(device, OTHER[device]))
            store.close()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.ports[name]}"

    def _write_config(self, name: str) -> Path:
        other = OTHER[name]
        write_master_key(self.root / f"{name}.masterkey")
        device = name.startswith("device")
        mine = [QKD_SAE["kme-a" if name == "device-a" else "kme-b"]] if device else [APP_SAE[name]]
        theirs = [QKD_SAE["kme-a" if other == "device-a" else "kme-b"]] if device else [APP_SAE[other]]
        peer: dict[str, Any] = {
            "kme_id": other,
            "url": self.url(other),
            "certificate": f"pki/{other}.pem",
            "link_id": DEVICE_LINK if device else LINK,
            "saes": theirs,
        }
        if not device:
            peer["source"] = {
                "kind": "etsi014",
                "url": self.url(DEVICE_OF[name]),
                "sae_id": QKD_SAE[name],
                "peer_sae_id": QKD_SAE[other],
                "ca": "pki/ca.pem",
                "certificate": f"pki/{QKD_SAE[name]}.pem",
                "private_key": f"pki/{QKD_SAE[name]}.key",
                "key_size": 256,
                "keys_per_request": 4,
                "interval_s": 0.1,
                "timeout_s": 2.0,
                "max_backoff_s": 0.5,
            }
        document = {
            "kme_id": name,
            "port": self.ports[name],
            "master_key_file": f"{name}.masterkey",
            "store": {"sqlite": f"{name}.sqlite"},
            "tls": {"ca": "pki/ca.pem", "certificate": f"pki/{name}.pem", "private_key": f"pki/{name}.key"},
            "limits": {"max_key_per_request": 16},
            "saes": [{"sae_id": s, "certificate": f"pki/{s}.pem"} for s in mine],
            "peers": [peer],
        }
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(document))
        return path

    # -- processes ------------------------------------------------------------------------------------------

    def start(self, *names: str) -> None:
        """Start ``names`` at once (``openqci kms serve``) and wait until each accepts connections."""
        for name in names:
            log = (self.root / f"{name}.log").open("ab")
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "openqci", "kms", "serve", "--config", str(self.configs[name])],
                stdout=log,
                stderr=log,
            )
            log.close()
        for name in names:
            _until(lambda name=name: self._listening(name), 40, f"{name} to start")

    def _listening(self, name: str) -> bool:
        if self.procs[name].poll() is not None:
            raise RuntimeError(f"{name} exited: {self.log(name)[-2000:]}")
        try:
            with httpx.Client(verify=False, timeout=0.5) as probe:
                probe.get(self.url(name))
        except httpx.ConnectError:
            return False
        except httpx.HTTPError:
            return True
        return True

    def kill(self, *names: str) -> None:
        for name in names:
            os.kill(self.procs[name].pid, signal.SIGKILL)
            self.procs[name].wait(timeout=10)

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def close(self) -> None:
        for process in self.procs.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    # -- SAEs -----------------------------------------------------------------------------------------------

    def sae(self, kme: str) -> SaeClient:
        return SaeClient.from_pki(self.root / "pki", APP_SAE[kme], self.url(kme), attempts=1, timeout_s=5)

    def link(self, kme: str) -> dict[str, Any] | None:
        """The link as Get status at ``kme`` shows it (``status_extension.qci_link``); None if unreachable."""
        identity = self.pki.saes[APP_SAE[kme]]
        context = client_context(self.pki.ca, identity.certificate, identity.private_key)
        try:
            with httpx.Client(base_url=self.url(kme), verify=context, timeout=2) as client:
                response = client.get(f"/api/v1/keys/{APP_SAE[OTHER[kme]]}/status")
        except httpx.HTTPError:
            return None
        assert response.status_code == 200, response.text
        extension = response.json()["status_extension"]["qci_link"]
        assert extension["link_id"] == LINK
        return dict(extension)

    def device_keys(self) -> dict[uuid.UUID, bytes]:
        """Every key the devices could hand out: device key_ID (the unit ID of a 256-bit key) to bytes."""
        return {unit.unit_id: unit.material for block in self.fed for unit in cut_block(block, 256)}


def _until(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    made = Site(tmp_path)
    yield made
    made.close()


# -- what the SAEs see --------------------------------------------------------------------------------------


def _exchange(site: Site, master: str, number: int, device_keys: dict[uuid.UUID, bytes]) -> list[bytes]:
    """``number`` keys from the master's KME, the same ones from the slave's KME; return their bytes."""
    slave = OTHER[master]
    with site.sae(master) as ask, site.sae(slave) as take:
        got = ask.enc_keys(APP_SAE[slave], number=number, size_bits=256)
        back = take.dec_keys(APP_SAE[master], [k.key_id for k in got.keys])
    assert [(k.key_id, k.key) for k in back.keys] == [(k.key_id, k.key) for k in got.keys]
    made = set(device_keys.values())
    assert all(k.key in made for k in got.keys), "a key the SAEs got was not made by the devices"
    return [k.key for k in got.keys]


def _flowing(site: Site, kme: str, since: int) -> dict[str, Any] | None:
    """The link at ``kme`` once it is up and has stored more than ``since`` blocks."""
    link = site.link(kme)
    return link if link and link["up"] and link["blocks"] > since else None


def _until_flowing_again(site: Site) -> None:
    """Wait until both ends are up and have stored more blocks than now."""
    blocks = {kme: (site.link(kme) or {"blocks": 0})["blocks"] for kme in ("kme-a", "kme-b")}
    for kme, before in blocks.items():
        _until(lambda kme=kme, before=before: _flowing(site, kme, before), 20, f"key to flow again at {kme}")


def _down(site: Site, kme: str, *words: str) -> dict[str, Any] | None:
    link = site.link(kme)
    return link if link and not link["up"] and all(w in link["reason"] for w in words) else None


# -- what the stores hold -----------------------------------------------------------------------------------


def _units(store: SqlKeyStore) -> dict[str, tuple[str, int, int, bytes | None]]:
    """unit_id -> (block_id, index, state, material or None once wiped) for the link's units."""
    with store.transaction() as cur:
        cur.execute(
            "SELECT unit_id, block_id, idx, state, nonce, material FROM units WHERE link_id = ?", (LINK,)
        )
        rows = cur.fetchall()
    units = {}
    for unit_id, block_id, idx, state, nonce, sealed in rows:
        wiped = state == UnitState.CONSUMED
        material = None if wiped else store.master_key.open(bytes(nonce), bytes(sealed), unit_id.encode())
        units[unit_id] = (block_id, int(idx), int(state), material)
    return units


def _handed_out(site: Site) -> list[list[uuid.UUID]]:
    """The key_IDs of each enc_keys answer device-a gave kme-a, in the order of the answer."""
    store = open_store(load_config(site.configs["device-a"]))
    try:
        with store.transaction() as cur:
            cur.execute("SELECT record FROM deliveries ORDER BY seq")
            records = [json.loads(bytes(row[0])) for row in cur.fetchall()]
    finally:
        store.close()
    return [[uuid.UUID(k["key_id"]) for k in r["keys"]] for r in records]


def _check_stores(site: Site) -> dict[str, int]:
    """Both KMEs hold the same blocks of device keys, with the devices' bytes; no device key twice."""
    device_keys = site.device_keys()
    held: dict[str, dict[str, tuple[str, int, int, bytes | None]]] = {}
    pending: set[str] = set()
    for kme in ("kme-a", "kme-b"):
        store = open_store(load_config(site.configs[kme]))
        try:
            held[kme] = _units(store)
            if kme == "kme-a":
                with store.transaction() as cur:
                    cur.execute("SELECT offer_id FROM device_offers")
                    pending = {row[0] for row in cur.fetchall()}
        finally:
            store.close()
    blocks = {kme: {b for b, _, _, _ in units.values()} for kme, units in held.items()}
    handed = {str(device_block_id(LINK, ids)): ids for ids in _handed_out(site)}
    # every block is made of keys device-a handed out, and no device key is in two blocks
    assert blocks["kme-a"] <= set(handed)
    assert blocks["kme-b"] <= set(handed)
    seen = [k for ids in handed.values() for k in ids]
    assert len(seen) == len(set(seen))
    # what a device handed out is at both KMEs or at neither; what is still offered is at neither
    assert blocks["kme-a"] == blocks["kme-b"]
    assert not pending & blocks["kme-b"]
    assert held["kme-a"].keys() == held["kme-b"].keys()
    for unit_id, (block_id, idx, _, material) in held["kme-a"].items():
        other = held["kme-b"][unit_id]
        assert (other[0], other[1]) == (block_id, idx)
        expected = device_keys[handed[block_id][idx]]
        for copy in (material, other[3]):
            assert copy is None or copy == expected, "a unit differs from the device key it was cut from"
    # the halves: kme-a allocates the even units, kme-b the odd ones, of every block
    parity = {kme: owned_parity(kme, OTHER[kme]) for kme in held}
    assert parity == {"kme-a": 0, "kme-b": 1}
    return {"blocks": len(blocks["kme-a"]), "units": len(held["kme-a"]), "lost_offers": len(pending)}


# -- the test -----------------------------------------------------------------------------------------------


@pytest.mark.slow  # real processes started, attacked or killed for many seconds (CI runs the slow suite too)
def test_device_keys_flow_survive_device_and_kme_kills_and_agree(site: Site) -> None:
    device_keys = site.device_keys()
    site.start(*NAMES)
    got: list[bytes] = []
    for kme in ("kme-a", "kme-b"):
        _until(lambda kme=kme: _flowing(site, kme, 2), 30, f"key to flow at {kme}")
    got += _exchange(site, "kme-a", 3, device_keys)
    got += _exchange(site, "kme-b", 3, device_keys)

    # device-a (the offering end's device) is killed: kme-a's link goes down with the reason
    site.kill("device-a")
    down = _until(lambda: _down(site, "kme-a", site.url("device-a")), 15, "kme-a to see device-a down")
    assert "unreachable" in down["reason"]
    _until(lambda: "link link-ab is down" in site.log("kme-a"), 5, "kme-a to log the link down")
    got += _exchange(site, "kme-a", 2, device_keys)  # key stored before is still served
    site.start("device-a")
    _until_flowing_again(site)

    # device-b (the taking end's device) is killed: both ends see it
    site.kill("device-b")
    _until(lambda: _down(site, "kme-b", site.url("device-b")), 15, "kme-b to see device-b down")
    _until(
        lambda: _down(site, "kme-a", "kme-b", site.url("device-b")), 15, "kme-a to see kme-b's device down"
    )
    _until(lambda: "link link-ab is down" in site.log("kme-b"), 5, "kme-b to log the link down")
    site.start("device-b")
    _until_flowing_again(site)

    # the KMEs themselves are killed in the middle of the flow: offers are made again, nothing is doubled
    for kme in ("kme-b", "kme-a", "kme-b", "kme-a"):
        site.kill(kme)
        site.start(kme)
        _until(lambda kme=kme: _flowing(site, kme, 0), 20, f"key to flow after {kme} restarted")
    after = _until(lambda: _flowing(site, "kme-b", 0), 5, "the link up at kme-b")
    _until(lambda: _flowing(site, "kme-b", after["blocks"] + 2), 20, "more blocks after the restarts")
    got += _exchange(site, "kme-a", 4, device_keys)
    got += _exchange(site, "kme-b", 4, device_keys)
    assert len(set(got)) == len(got), "the SAEs got a key twice"

    # device-a is gone for good: what was offered settles, then nothing moves; stop and compare stores
    site.kill("device-a")
    _until(lambda: _down(site, "kme-a"), 15, "kme-a to see the link down")
    time.sleep(1.5)  # two more rounds (max_backoff_s is 0.5 s): every offer kme-b holds is settled
    site.kill("kme-a", "kme-b", "device-b")
    counts = _check_stores(site)
    assert counts["blocks"] > 10
    assert counts["lost_offers"] <= 1


# -- the agreement rules, one at a time, with scripted devices ----------------------------------------------


class DevicePair:
    """Two scripted QKD devices sharing a link: keys enc_keys hands out at one end wait for dec_keys, once."""

    def __init__(self) -> None:
        self.waiting: dict[uuid.UUID, bytes] = {}
        self.handed: list[list[uuid.UUID]] = []
        self.ends = {kme: ScriptedDevice(self, f"https://{DEVICE_OF[kme]}") for kme in ("kme-a", "kme-b")}


class ScriptedDevice:
    """One end of a :class:`DevicePair`, with the calls of :class:`openqci.services.SaeClient`."""

    def __init__(self, pair: DevicePair, url: str) -> None:
        self.pair = pair
        self.url = url
        self.down = False
        self.calls: list[str] = []

    def status(self, slave_sae_id: str) -> KeyStatus:
        self._call("status")
        return KeyStatus("d", "e", "m", slave_sae_id, 256, len(self.pair.waiting), 10**6, 128, 8192, 64, 0)

    def enc_keys(
        self,
        slave_sae_id: str,
        *,
        number: int = 1,
        size_bits: int | None = None,
        additional_slaves: Sequence[str] = (),
    ) -> KeyContainer:
        self._call("enc_keys")
        keys = tuple(QkdKey(uuid.uuid4(), os.urandom((size_bits or 256) // 8)) for _ in range(number))
        self.pair.waiting.update((k.key_id, k.key) for k in keys)
        self.pair.handed.append([k.key_id for k in keys])
        return KeyContainer(keys)

    def dec_keys(self, master_sae_id: str, key_ids: Iterable[uuid.UUID | str]) -> KeyContainer:
        self._call("dec_keys")
        ids = [uuid.UUID(str(k)) for k in key_ids]
        if any(k not in self.pair.waiting for k in ids):
            raise SaeBadRequestError(f"dec_keys: HTTP 400: {NOT_FOUND}", 400)
        return KeyContainer(tuple(QkdKey(k, self.pair.waiting.pop(k)) for k in ids))

    def close(self) -> None:
        pass

    def _call(self, what: str) -> None:
        if self.down:
            raise SaeUnavailableError(f"{what}: cannot connect to the KME at {self.url}: refused")
        self.calls.append(what)


class LoseAnswers(httpx.AsyncBaseTransport):
    """Passes requests on; with ``lose`` set, the answer is lost on the way back (after the peer acted)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lose = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.lose:
            await response.aread()
            raise httpx.ReadError("connection reset", request=request)
        return response


@dataclass
class Linked:
    """kme-a and kme-b in one process, their link-ab fed by a scripted device pair through the drivers."""

    env: InProcess
    pair: DevicePair
    links: dict[str, Etsi014Link]
    to_b: LoseAnswers

    def store(self, kme: str) -> SqlKeyStore:
        store: SqlKeyStore = self.env.kmes[kme].manager._store
        return store

    def blocks(self, kme: str) -> set[str]:
        return {b for b, _, _, _ in _units(self.store(kme)).values()}

    def pending(self) -> int:
        return DeviceLedger(self.store("kme-a"), link_id=LINK, unit_bits=256, parity=0, epsilon=0.1).count()


def _source(kme: str, **options: Any) -> Etsi014SourceConfig:
    settings: dict[str, Any] = {
        "kind": "etsi014",
        "url": f"https://{DEVICE_OF[kme]}",
        "sae_id": QKD_SAE[kme],
        "peer_sae_id": QKD_SAE[OTHER[kme]],
        "ca": "ca.pem",
        "certificate": "c.pem",
        "private_key": "c.key",
        "keys_per_request": 4,
        "interval_s": 0.02,
        "timeout_s": 2.0,
        "max_backoff_s": 0.05,
    }
    return Etsi014SourceConfig.model_validate(settings | options)


@pytest.fixture
async def linked(tmp_path: Path) -> AsyncIterator[Linked]:
    env = in_process(make_site(tmp_path))
    pair = DevicePair()
    to_b = LoseAnswers(env.forwards["kme-b"])
    links = {}
    for kme in ("kme-a", "kme-b"):
        manager = env.kmes[kme].manager
        transport = to_b if kme == "kme-a" else env.forwards["kme-a"]
        links[kme] = Etsi014Link(
            kme_id=kme,
            peer_kme_id=OTHER[kme],
            link_id=LINK,
            config=_source(kme),
            device=pair.ends[kme],
            peer=PeerClient(OTHER[kme], f"https://{OTHER[kme]}", transport),
            committer=manager.committer,
            store=manager._store,
            unit_bits=256,
        )
        manager.attach_source(links[kme])
        env.kmes[kme].app.state.device_links[LINK] = links[kme]
    yield Linked(env, pair, links, to_b)
    for link in links.values():
        # bounded: a test that failed half-way must not leave its teardown waiting for ever
        await asyncio.wait_for(link.stop(), timeout=10.0)
    await asyncio.wait_for(env.close(), timeout=10.0)


async def _round(linked: Linked) -> str:
    """One round of the offering end; the reason it stopped at, or ''."""
    try:
        await linked.links["kme-a"]._offer_round()
    except Exception as error:
        return str(getattr(error, "reason", error))
    return ""


async def _wait_for(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):  # up to 10 s: it returns as soon as the condition holds, however busy the machine
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_an_offer_becomes_the_same_block_at_both_ends(linked: Linked) -> None:
    assert linked.links["kme-a"].offering
    assert not linked.links["kme-b"].offering
    assert await _round(linked) == ""
    (ids,) = linked.pair.handed
    block = str(device_block_id(LINK, ids))
    assert linked.blocks("kme-a") == linked.blocks("kme-b") == {block}
    assert _units(linked.store("kme-a")) == _units(linked.store("kme-b"))
    assert linked.pending() == 0
    assert linked.pair.waiting == {}
    for kme in ("kme-a", "kme-b"):
        state = linked.links[kme].state()
        assert (state.up, state.blocks, state.reason) == (True, 1, "")
        assert state.eskr_bps > 0
    assert linked.links["kme-a"].blocks_due(time.time()) == ()


async def test_an_offer_the_peer_cannot_take_names_the_offering_ends_own_dead_device(linked: Linked) -> None:
    """While an offer waits for the peer no key is asked of the device, so a device that died meanwhile was
    never called: the link was reported down only for the peer's refusal (its device cannot confirm the
    keys this one handed out), intermittently in the launched test, never naming the dead device."""
    linked.pair.ends["kme-b"].down = True  # kme-b cannot take the offer: it stays pending
    assert "kme-b" in await _round(linked)
    assert linked.pending() == 1
    link = linked.links["kme-a"]
    own_device = f"QKD device https://{DEVICE_OF['kme-a']} unreachable"
    link.start()
    await _wait_for(lambda: "status" in linked.pair.ends["kme-a"].calls, "its own device to be asked")
    assert link.state().reason.startswith("peer KME kme-b")  # it answered: the peer's reason alone
    linked.pair.ends["kme-a"].down = True
    await _wait_for(lambda: link.state().reason.startswith(own_device), "the dead device named first")
    state = link.state()
    assert not state.up
    assert "; peer KME kme-b cannot take the device keys" in state.reason


async def test_a_lost_acknowledgement_is_offered_again_and_stored_once(linked: Linked) -> None:
    linked.to_b.lose = True
    reason = await _round(linked)
    assert "kme-b" in reason
    (ids,) = linked.pair.handed
    block = str(device_block_id(LINK, ids))
    assert linked.blocks("kme-b") == {block}  # kme-b took the keys and stored them
    assert linked.blocks("kme-a") == set()  # kme-a waits for the acknowledgement
    assert linked.pending() == 1
    assert not linked.links["kme-a"].state().up
    linked.to_b.lose = False
    assert await _round(linked) == ""  # the re-offer settles, then a fresh batch goes through
    assert linked.pair.ends["kme-b"].calls.count("dec_keys") == 2  # not one more for the re-offer
    assert block in linked.blocks("kme-a")
    assert linked.blocks("kme-a") == linked.blocks("kme-b")
    assert _units(linked.store("kme-a")) == _units(linked.store("kme-b"))
    assert linked.pending() == 0


async def test_keys_the_taking_device_no_longer_knows_are_dropped_at_both_ends(linked: Linked) -> None:
    linked.env.forwards["kme-b"].down = True
    assert "kme-b" in await _round(linked)
    assert await _round(linked) != ""
    assert len(linked.pair.handed) == 1  # no new key from the device while an offer waits
    (ids,) = linked.pair.handed
    for key_id in ids:  # as if kme-b took them from its device and was killed before storing them
        del linked.pair.waiting[key_id]
    linked.env.forwards["kme-b"].down = False
    assert await _round(linked) == ""
    lost = str(device_block_id(LINK, ids))
    assert lost not in linked.blocks("kme-a") | linked.blocks("kme-b")
    assert linked.pending() == 0
    assert len(linked.blocks("kme-a")) == 1  # the round went on with a fresh batch
    assert linked.blocks("kme-a") == linked.blocks("kme-b")


async def test_offers_left_over_the_cap_hold_back_new_keys(linked: Linked) -> None:
    capped = _source("kme-a", max_pending_offers=1)
    linked.links["kme-a"].config = capped
    ledger = DeviceLedger(linked.store("kme-a"), link_id=LINK, unit_bits=256, parity=0, epsilon=0.1)
    for _ in range(2):  # two offers from an earlier run whose keys kme-b's device never had
        keys = [(uuid.uuid4(), os.urandom(32)) for _ in range(4)]
        with linked.store("kme-a").group():
            ledger.record(keys, 256)
    assert "max_pending_offers" in await _round(linked)
    assert linked.pair.handed == []
    assert linked.pending() == 1
    assert await _round(linked) == ""
    assert linked.pending() == 0
    assert len(linked.pair.handed) == 1


async def test_a_device_down_turns_the_link_down_at_its_end_until_it_answers(linked: Linked) -> None:
    for link in linked.links.values():
        link.start()
    await _wait_for(lambda: linked.links["kme-a"].state().blocks >= 2, "key to flow")
    linked.pair.ends["kme-a"].down = True
    await _wait_for(lambda: not linked.links["kme-a"].state().up, "kme-a down")
    reason = linked.links["kme-a"].state().reason
    assert "https://device-a" in reason
    assert "unreachable" in reason
    async with linked.env.client("kme-a", "sae-a1") as sae:
        status = (await sae.get("/api/v1/keys/sae-b1/status")).json()
    assert status["status_extension"]["qci_link"]["up"] is False
    assert status["status_extension"]["qci_link"]["reason"] == reason
    linked.pair.ends["kme-a"].down = False
    blocks = linked.links["kme-a"].state().blocks
    await _wait_for(lambda: linked.links["kme-a"].state().blocks > blocks, "key to flow again")
    assert linked.links["kme-a"].state().up

    linked.pair.ends["kme-b"].down = True
    await _wait_for(lambda: not linked.links["kme-b"].state().up, "kme-b down")
    await _wait_for(
        lambda: "https://device-b" in linked.links["kme-a"].state().reason, "kme-a to see device-b"
    )
    assert "https://device-b" in linked.links["kme-b"].state().reason
    linked.pair.ends["kme-b"].down = False
    blocks = linked.links["kme-b"].state().blocks
    await _wait_for(lambda: linked.links["kme-b"].state().blocks > blocks, "key to flow again")
    for link in linked.links.values():
        await link.stop()
    assert linked.blocks("kme-a") <= linked.blocks("kme-b")
    assert len(linked.blocks("kme-b") - linked.blocks("kme-a")) <= linked.pending()


async def test_the_offer_endpoint_checks_caller_link_size_and_length(linked: Linked) -> None:
    offer = {"link_id": LINK, "key_ids": [str(uuid.uuid4())], "key_bits": 256}
    async with linked.env.client("kme-b", "kme-a") as peer:
        is_error(await peer.post(OFFER, json=offer | {"link_id": "link-zz"}), 400)
        is_error(await peer.post(OFFER, json=offer | {"key_bits": 512}), 400)
        is_error(await peer.post(OFFER, json=offer | {"key_ids": offer["key_ids"] * 2}), 400)
        body = b'{"link_id": "link-ab", "key_ids": [' + b'"x",' * 20000 + b'"x"], "key_bits": 256}'
        too_long = await peer.post(OFFER, content=body, headers={"content-type": "application/json"})
        assert "at most" in is_error(too_long, 400)["message"]
        refused = (await peer.post(OFFER, json=offer)).json()  # a key kme-b's device never had
        assert refused["accepted"] is False
        assert refused["block_id"] == str(device_block_id(LINK, [uuid.UUID(offer["key_ids"][0])]))
    async with linked.env.client("kme-a", "kme-b") as peer:  # kme-a offers; it takes no offers
        is_error(await peer.post(OFFER, json=offer), 400)
    async with linked.env.client("kme-b", "sae-a1") as sae:
        is_error(await sae.post(OFFER, json=offer), 401)
    assert linked.pair.ends["kme-b"].calls == ["dec_keys"]


def test_offers_are_sealed_settled_once_and_wiped_on_both_backends(store_factory: StoreFactory) -> None:
    store = store_factory()
    ledger = DeviceLedger(store, link_id=LINK, unit_bits=256, parity=1, epsilon=1e-9)
    keys = [(uuid.uuid4(), os.urandom(32)) for _ in range(4)]
    with store.group():
        offer = ledger.record(keys, 256)
        assert ledger.record(keys, 256) == offer  # the same keys again: still one offer
    assert offer.offer_id == device_block_id(LINK, [k for k, _ in keys])
    assert ledger.pending(10) == [offer]
    with store.transaction() as cur:
        cur.execute(store.sql("SELECT material FROM device_offers"))
        (sealed,) = cur.fetchall()[0]
    assert all(m not in bytes(sealed) for _, m in keys)
    with store.group():
        assert ledger.settle(offer.offer_id) == 4
        assert ledger.settle(offer.offer_id) == 0
    assert ledger.holds(offer.offer_id)
    assert ledger.pending(10) == []
    assert store.available_units(LINK) == 2  # the odd units: this end's half
    other = [(uuid.uuid4(), os.urandom(32))]
    with store.group():
        dropped = ledger.record(other, 256)
        ledger.discard(dropped.offer_id)
    assert ledger.count() == 0
    assert not ledger.holds(dropped.offer_id)
