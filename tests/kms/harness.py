"""A test site: a PKI, two KMEs sharing link-ab, their SAEs, and ways to reach them in-process or over TLS."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from openqci.kms.config import KmeConfig
from openqci.kms.crypto import write_master_key
from openqci.kms.node import Kme, build_kme
from openqci.kms.pki import PkiLayout, init_pki
from openqci.kms.tls import with_client_certificate
from tests.kms.conftest import Backend, make_block

SAES_A = ["sae-a1", "sae-a2"]
SAES_B = ["sae-b1", "sae-b2", "sae-b3"]
STRANGER = "sae-x"  # signed by the site CA, registered with no KME


@dataclass
class Site:
    """Where a test site's files are."""

    root: Path
    pki: PkiLayout
    config_paths: dict[str, Path]

    def pem(self, name: str) -> str:
        identity = self.pki.kmes.get(name) or self.pki.saes[name]
        return identity.certificate.read_text()


def make_site(
    root: Path,
    ports: Mapping[str, int] | None = None,
    backend: Backend | None = None,
    serving: Mapping[str, object] | None = None,
    relayed: Sequence[str] = (),
) -> Site:
    """Write a PKI, master keys and the YAML configurations of kme-a and kme-b under ``root``.

    Each KME keeps its keys in a store of its own on ``backend`` (default: a SQLite file under ``root``);
    ``serving`` becomes both configurations' ``serving:`` section. kme-a reaches the SAEs of kme-b named in
    ``relayed`` by key relay over link-ab (one hop, ``ext_keys``) instead of from the shared pool.
    """
    ports = ports or {"kme-a": 0, "kme-b": 0}
    pki = init_pki(root / "pki", ["kme-a", "kme-b"], [*SAES_A, *SAES_B, STRANGER])
    paths = {}
    for me, other, mine, theirs in (("kme-a", "kme-b", SAES_A, SAES_B), ("kme-b", "kme-a", SAES_B, SAES_A)):
        write_master_key(root / f"{me}.masterkey")
        document = {
            "kme_id": me,
            "port": ports[me],
            "master_key_file": f"{me}.masterkey",
            "store": backend.store(me) if backend else {"sqlite": f"{me}.sqlite"},
            "tls": {"ca": "pki/ca.pem", "certificate": f"pki/{me}.pem", "private_key": f"pki/{me}.key"},
            "limits": {"max_key_per_request": 16, "max_SAE_ID_count": 2},
            "saes": [{"sae_id": s, "certificate": f"pki/{s}.pem"} for s in mine],
            "peers": [
                {
                    "kme_id": other,
                    "url": f"https://127.0.0.1:{ports[other]}",
                    "certificate": f"pki/{other}.pem",
                    "link_id": "link-ab",
                    "saes": [s for s in theirs if s not in relayed],
                }
            ],
        }
        if serving is not None:
            document["serving"] = dict(serving)
        if me == "kme-a" and relayed:
            document["relay"] = {"saes": {s: other for s in relayed}}
        paths[me] = root / f"{me}.yaml"
        paths[me].write_text(yaml.safe_dump(document))
    return Site(root, pki, paths)


class Forward(httpx.AsyncBaseTransport):
    """A transport whose target is set after construction, to wire two KMEs to each other.

    ``down`` makes the target unreachable; ``refuse`` lists paths that fail as if the network dropped them.
    ``seen`` records the paths of the requests that got through.
    """

    def __init__(self) -> None:
        self.inner: httpx.AsyncBaseTransport | None = None
        self.down = False
        self.refuse: set[str] = set()
        self.seen: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.inner is not None
        if self.down or request.url.path in self.refuse:
            raise httpx.ConnectError("peer KME down", request=request)
        self.seen.append(request.url.path)
        return await self.inner.handle_async_request(request)


@dataclass
class InProcess:
    """Two KMEs in one process, peers through ASGI transports."""

    site: Site
    kmes: dict[str, Kme]
    forwards: dict[str, Forward]

    def client(self, kme: str, pem_of: str | None) -> httpx.AsyncClient:
        """An SAE's client of ``kme`` presenting the certificate of ``pem_of`` (None: no certificate)."""
        pem = self.site.pem(pem_of) if pem_of else None
        transport = httpx.ASGITransport(app=with_client_certificate(self.kmes[kme].app, pem))
        return httpx.AsyncClient(transport=transport, base_url="https://kme")

    def feed(self, blocks: int = 1, size_bits: int = 65536) -> None:
        """Give both KMEs the same fresh KeyBlocks of link-ab."""
        for _ in range(blocks):
            block = make_block("link-ab", size_bits)
            for kme in self.kmes.values():
                kme.manager.add_block(block)

    async def restart(self, name: str) -> None:
        """Close KME ``name`` and build it again from its configuration and its store on disk."""
        await self.kmes[name].manager.aclose()
        self.kmes[name] = _build(self.site, name, self.forwards)

    async def close(self) -> None:
        """Stop both KMEs: their pushers, store threads and stores."""
        for kme in self.kmes.values():
            await kme.manager.aclose()


def in_process(site: Site) -> InProcess:
    """Build kme-a and kme-b from the site's configurations, wired to each other in-process.

    Nothing is pushed between them unless a test starts the managers: every key reaches the slave's KME by
    a pull, the path that must work when a push was lost.
    """
    forwards = {"kme-a": Forward(), "kme-b": Forward()}
    kmes = {name: _build(site, name, forwards) for name in ("kme-a", "kme-b")}
    return InProcess(site, kmes, forwards)


def _build(site: Site, name: str, forwards: dict[str, Forward]) -> Kme:
    from openqci.kms.config import load_config

    config: KmeConfig = load_config(site.config_paths[name])
    other = "kme-b" if name == "kme-a" else "kme-a"
    kme = build_kme(config, peer_transports={other: forwards[other]})
    app = with_client_certificate(kme.app, site.pem(other))
    forwards[name].inner = httpx.ASGITransport(app=app)
    return kme
