"""Crash safety: a KME killed by SIGKILL mid-stream restarts with no key delivered twice or lost at its peer.

Both KMEs run as real ``openqci kms serve`` processes over mutual TLS, on each store backend (their
configurations name a SQLite file or a PostgreSQL schema). A stream of enc_keys (at kme-a) and dec_keys
(at kme-b) runs while one of them is killed and restarted. Afterwards every key the master received is
retrievable exactly once by the slave, with the same bytes, and no key_ID was handed out twice.
A key whose dec_keys answer was lost in the kill may have been served (then it is not found again) or not
(then it is served now); either way never twice and never with other bytes.

kme-a answers enc_keys from its own store and tells kme-b later (push) or when asked (pull), so killing
kme-b checks that pushed records survive in kme-b's store, and killing kme-a that its outbox and delivery
records survive for the pushes and pulls after the restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from openqci.kms.config import load_config
from openqci.kms.node import open_store
from openqci.kms.units import owned_parity
from tests.kms.conftest import Backend, make_block
from tests.kms.harness import make_site
from tests.kms.servers import free_port, spawn_kme, wait_until_serving

NOT_FOUND = "one or more keys specified are not found on KME"


def _spawn(config: Path) -> subprocess.Popen[bytes]:
    return spawn_kme(config)


def _start(config: Path, port: int) -> subprocess.Popen[bytes]:
    return wait_until_serving(spawn_kme(config), port)


def _ready(process: subprocess.Popen[bytes], port: int) -> subprocess.Popen[bytes]:
    return wait_until_serving(process, port)


@pytest.mark.parametrize("victim", ["kme-a", pytest.param("kme-b", marks=pytest.mark.slow)])
def test_sigkill_mid_stream_loses_and_repeats_nothing(tmp_path, backend: Backend, victim) -> None:
    ports = {"kme-a": free_port(), "kme-b": free_port()}
    site = make_site(tmp_path, ports, backend)
    blocks = [make_block("link-ab", 65536) for _ in range(5)]
    for me, other in (("kme-a", "kme-b"), ("kme-b", "kme-a")):
        store = open_store(load_config(site.config_paths[me]))
        for block in blocks:
            store.add_block(block, unit_bits=256, parity=owned_parity(me, other))
        store.close()
    spawned = {k: _spawn(site.config_paths[k]) for k in ports}  # both start up at once
    procs = {k: _ready(spawned[k], ports[k]) for k in ports}
    pki = site.pki

    def client(kme: str, sae: str) -> httpx.Client:
        from openqci.kms.tls import client_context

        ctx = client_context(pki.ca, pki.saes[sae].certificate, pki.saes[sae].private_key)
        return httpx.Client(base_url=f"https://127.0.0.1:{ports[kme]}", verify=ctx, timeout=5)

    delivered: dict[str, str] = {}
    fetched: dict[str, str] = {}
    in_doubt: set[str] = set()  # the slave's request was sent, but the answer was lost in the kill
    killer = threading.Timer(0.8, lambda: os.kill(procs[victim].pid, signal.SIGKILL))
    killer.start()
    try:
        restarted = False
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            if procs[victim].poll() is not None and not restarted:
                procs[victim] = _start(site.config_paths[victim], ports[victim])
                restarted = True
            try:
                with client("kme-a", "sae-a1") as master:
                    response = master.post("/api/v1/keys/sae-b1/enc_keys", json={"number": 2})
                if response.status_code == 200:
                    for key in response.json()["keys"]:
                        assert key["key_ID"] not in delivered, "a key_ID was delivered twice"
                        delivered[key["key_ID"]] = key["key"]
                else:
                    assert response.status_code == 503, response.text
                pending = [k for k in delivered if k not in fetched and k not in in_doubt][:1]
                if pending:
                    in_doubt.add(pending[0])
                    with client("kme-b", "sae-b1") as slave:
                        got = slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": pending[0]})
                    in_doubt.discard(pending[0])
                    if got.status_code == 200:
                        fetched[pending[0]] = got.json()["keys"][0]["key"]
            except httpx.TransportError:
                time.sleep(0.05)
        assert restarted
        with client("kme-b", "sae-b1") as slave:
            for key_id, material in delivered.items():
                got = slave.get("/api/v1/keys/sae-a1/dec_keys", params={"key_ID": key_id})
                if key_id in in_doubt and got.status_code == 400:
                    assert got.json()["message"] == NOT_FOUND
                elif key_id in fetched:
                    assert got.status_code == 400
                    assert got.json()["message"] == NOT_FOUND
                    assert fetched[key_id] == material
                else:
                    assert got.status_code == 200, got.text
                    assert got.json()["keys"][0]["key"] == material
        assert len(delivered) > 10
        assert len(set(delivered.values())) == len(delivered)
    finally:
        killer.cancel()
        for process in procs.values():
            process.kill()
            process.wait(timeout=10)
