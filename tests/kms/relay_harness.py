"""Several KMEs in one process, joined by links as a graph says, with a route provider over that graph.

Every KME is built from a real YAML configuration and reaches each neighbour through an
``httpx.ASGITransport`` over the neighbour's app, presenting its own certificate, so the relay runs the
whole KME-to-KME path (routers, identities, store) without sockets. Routes come from :class:`GraphRoutes`,
a breadth-first search over the links that are not avoided.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from openqci.kms.config import load_config
from openqci.kms.crypto import write_master_key
from openqci.kms.errors import RouteUnavailableError
from openqci.kms.node import Kme, build_kme
from openqci.kms.pki import init_pki
from openqci.kms.route_provider import RelayRoute
from openqci.kms.tls import with_client_certificate
from tests.kms.conftest import Backend, make_block, query_store

Tamper = Callable[[httpx.Request], httpx.Request]


class GraphRoutes:
    """Shortest routes (fewest hops) over ``links``; ``asked`` records each request's ``avoid`` list."""

    def __init__(self, links: dict[str, tuple[str, str]]) -> None:
        self.links = links
        self.asked: list[tuple[str, ...]] = []

    async def route(
        self, source_kme: str, destination_kme: str, key_bits: int, *, avoid: Sequence[str] = ()
    ) -> RelayRoute:
        self.asked.append(tuple(avoid))
        usable = {name: ends for name, ends in self.links.items() if name not in avoid}
        previous: dict[str, tuple[str, str]] = {}
        queue = collections.deque([source_kme])
        while queue:
            here = queue.popleft()
            for name, (a, b) in usable.items():
                for x, y in ((a, b), (b, a)):
                    if x == here and y not in previous and y != source_kme:
                        previous[y] = (here, name)
                        queue.append(y)
        if destination_kme not in previous:
            raise RouteUnavailableError(
                f"no route from {source_kme} to {destination_kme} avoiding {list(avoid)}"
            )
        kmes, links, at = [destination_kme], [], destination_kme
        while at != source_kme:
            at, link = previous[at]
            kmes.append(at)
            links.append(link)
        return RelayRoute(tuple(reversed(kmes)), tuple(reversed(links)))

    async def aclose(self) -> None:
        return None


class Hop(httpx.AsyncBaseTransport):
    """One KME's transport to one neighbour: can be cut, can rewrite requests, records relay messages."""

    def __init__(self) -> None:
        self.inner: httpx.AsyncBaseTransport | None = None
        self.down = False
        self.tamper: Tamper | None = None
        self.sent: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.inner is not None
        if self.down:
            raise httpx.ConnectError("neighbour KME down", request=request)
        if request.url.path == "/kme/v1/ext_keys":
            self.sent.append(await request.aread())
            if self.tamper is not None:
                request = self.tamper(request)
        return await self.inner.handle_async_request(request)


@dataclass
class Net:
    """KMEs in one process: ``kmes`` by name, ``hops[(a, b)]`` the transport a uses to reach b."""

    root: Path
    links: dict[str, tuple[str, str]]
    saes: dict[str, str]
    kmes: dict[str, Kme] = field(default_factory=dict)
    hops: dict[tuple[str, str], Hop] = field(default_factory=dict)
    routes: GraphRoutes | None = None

    def pem(self, name: str) -> str:
        return (self.root / "pki" / f"{name}.pem").read_text()

    def client(self, sae: str) -> httpx.AsyncClient:
        """An SAE's client of its own KME."""
        app = with_client_certificate(self.kmes[self.saes[sae]].app, self.pem(sae))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://kme")

    def peer_client(self, sender: str, receiver: str) -> httpx.AsyncClient:
        """A client of ``receiver``'s app presenting ``sender``'s KME certificate."""
        app = with_client_certificate(self.kmes[receiver].app, self.pem(sender))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://kme")

    def feed(self, link: str | None = None, size_bits: int = 65536) -> None:
        """Give both ends of ``link`` (every link if None) the same fresh KeyBlock."""
        for name in [link] if link else list(self.links):
            block = make_block(name, size_bits)
            for kme in self.links[name]:
                self.kmes[kme].manager.add_block(block)

    def consumed_units(self, kme: str, link: str) -> int:
        """Units of ``link`` consumed at ``kme``, read from its store over a connection of its own."""
        sql = "SELECT count(*) FROM units WHERE link_id = ? AND state = 3"
        ((count,),) = query_store(self.kmes[kme].config.store, sql, (link,))
        return int(count)

    def rebuild(self, name: str) -> None:
        """Build KME ``name`` again from its configuration and its store on disk."""
        self.kmes[name] = self._build(name)
        for (sender, receiver), hop in self.hops.items():
            if receiver == name:
                hop.inner = httpx.ASGITransport(
                    app=with_client_certificate(self.kmes[name].app, self.pem(sender))
                )

    async def close(self) -> None:
        for kme in self.kmes.values():
            await kme.manager.aclose()

    def _build(self, name: str) -> Kme:
        neighbours = [b if a == name else a for a, b in self.links.values() if name in (a, b)]
        transports: dict[str, httpx.AsyncBaseTransport] = {n: self.hops[(name, n)] for n in neighbours}
        return build_kme(
            load_config(self.root / f"{name}.yaml"), peer_transports=transports, route_provider=self.routes
        )


def make_net(
    root: Path, links: dict[str, tuple[str, str]], saes: dict[str, str], backend: Backend | None = None
) -> Net:
    """Write a PKI and configurations for the KMEs of ``links`` (SAE to KME in ``saes``) and build them.

    Each KME keeps its keys in a store of its own on ``backend`` (default: a SQLite file under ``root``).
    """
    names = sorted({kme for ends in links.values() for kme in ends})
    init_pki(root / "pki", names, list(saes))
    net = Net(root, links, saes, routes=GraphRoutes(links))
    for name in names:
        write_master_key(root / f"{name}.masterkey")
        peers = []
        for link, (a, b) in links.items():
            if name in (a, b):
                other = b if a == name else a
                peers.append(
                    {
                        "kme_id": other,
                        "url": "https://kme",
                        "certificate": f"pki/{other}.pem",
                        "link_id": link,
                        "saes": [s for s, k in saes.items() if k == other],
                    }
                )
                net.hops[(name, other)] = Hop()
        neighbours = {p["kme_id"] for p in peers}
        remote = {s: k for s, k in saes.items() if k != name and k not in neighbours}
        document = {
            "kme_id": name,
            "master_key_file": f"{name}.masterkey",
            "store": backend.store(name) if backend else {"sqlite": f"{name}.sqlite"},
            "tls": {"ca": "pki/ca.pem", "certificate": f"pki/{name}.pem", "private_key": f"pki/{name}.key"},
            "saes": [{"sae_id": s, "certificate": f"pki/{s}.pem"} for s, k in saes.items() if k == name],
            "peers": peers,
            "relay": {"saes": remote, "hop_timeout_s": 2.0},
        }
        (root / f"{name}.yaml").write_text(yaml.safe_dump(document))
    for name in names:
        net.kmes[name] = net._build(name)
    for (sender, receiver), hop in net.hops.items():
        hop.inner = httpx.ASGITransport(app=with_client_certificate(net.kmes[receiver].app, net.pem(sender)))
    return net
