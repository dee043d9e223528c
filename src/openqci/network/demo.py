"""The pieces of the network demonstration: relayed keys between two SAEs, and what every link made and spent.

``openqci demo`` launches a scenario, watches its links make key, then has a master SAE ask its KME for
keys for a slave SAE several trusted nodes away over ETSI GS QKD 014 (mutual TLS), has the slave retrieve
them from its own KME, and reports the route, the latency and the key made and consumed on every link.
These functions do the work; the command only displays it.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from openqci.kms.tls import client_context
from openqci.network.errors import LaunchError
from openqci.network.statedir import StateDir, read_state

__all__ = ["LinkKey", "RelayedKey", "link_key", "relay_keys"]


@dataclass(frozen=True)
class RelayedKey:
    """One key relayed from the master SAE to the slave SAE: route, times taken, and whether it matched."""

    key_id: str
    route: tuple[str, ...]
    latency_s: float
    retrieved_s: float
    matched: bool


@dataclass(frozen=True)
class LinkKey:
    """Key a link has made and consumed so far, as counted in the store of its first end."""

    link: str
    made_bits: int
    consumed_bits: int


def relay_keys(
    state_dir: Path,
    *,
    master: str,
    master_kme: str,
    slave: str,
    slave_kme: str,
    number: int,
    size_bits: int = 256,
) -> list[RelayedKey]:
    """Have ``master`` get ``number`` keys for ``slave`` (one request each) and ``slave`` retrieve them.

    Raises
    ------
    LaunchError
        If a request fails; the message is the KME's (for a relay, which hop failed and why).
    """
    layout = StateDir(state_dir.resolve())
    urls = read_state(layout).kme_urls
    found = []
    with (
        _sae_client(layout, master, urls[master_kme]) as ask,
        _sae_client(layout, slave, urls[slave_kme]) as take,
    ):
        for _ in range(number):
            started = time.perf_counter()
            got = ask.post(f"/api/v1/keys/{slave}/enc_keys", json={"number": 1, "size": size_bits})
            latency_s = time.perf_counter() - started
            _check(got, "enc_keys")
            keys = got.json()["keys"]
            started = time.perf_counter()
            back = take.post(
                f"/api/v1/keys/{master}/dec_keys", json={"key_IDs": [{"key_ID": keys[0]["key_ID"]}]}
            )
            retrieved_s = time.perf_counter() - started
            _check(back, "dec_keys")
            routes = (got.json().get("key_container_extension") or {}).get("qci_routes", {})
            route = tuple(routes.get(slave_kme, (master_kme, slave_kme)))
            found.append(
                RelayedKey(keys[0]["key_ID"], route, latency_s, retrieved_s, back.json()["keys"] == keys)
            )
    return found


def link_key(state_dir: Path, links: dict[str, tuple[str, str]], unit_bits: int = 256) -> list[LinkKey]:
    """Key made and consumed on each of ``links`` (name to its two KMEs), read from the first end's store."""
    layout = StateDir(state_dir.resolve())
    figures = []
    for name, (end, _other) in links.items():
        path = layout.kme_dir(end) / "keys.sqlite"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0) as conn:
            made, consumed = conn.execute(
                "SELECT count(*), coalesce(sum(state = 3), 0) FROM units WHERE link_id = ?", (name,)
            ).fetchone()
        figures.append(LinkKey(name, int(made) * unit_bits, int(consumed) * unit_bits))
    return figures


def _sae_client(layout: StateDir, sae: str, url: str) -> httpx.Client:
    pki = layout.pki_dir
    context = client_context(pki / "ca.pem", pki / f"{sae}.pem", pki / f"{sae}.key")
    return httpx.Client(base_url=url, verify=context, timeout=60.0)


def _check(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        try:
            message = response.json().get("message", response.text)
        except ValueError:
            message = response.text
        raise LaunchError(f"{what} failed: HTTP {response.status_code}: {message}")
