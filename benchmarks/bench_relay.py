"""Key relay latency and keys per second against the number of hops (1 to 8), on a line of 9 KMEs.

Nine KMEs (kme1 ... kme9, a link between neighbours) run in one server process, each served by uvicorn
over mutual TLS on 127.0.0.1 with its own identity, port and SQLite store, pre-filled with the same
KeyBlocks at both ends of every link. The master SAE at kme1 asks for one 256-bit key for an SAE at
kme(1 + h), reached by relay over h hops (each hop: one-time pad and Poly1305 tag with fresh link key,
decrypt and re-encrypt at every trusted node, store and acknowledge at the destination). The same-run
baseline is a direct key for an SAE at kme2 (one local transaction, the neighbour told later). For each
route: p50 and p99 latency of sequential requests, then keys per second with concurrent clients, and both
as ratios to the baseline. Every answer is checked to hold one key and, for relays, the route of h hops.

Run with ``./run bench relay`` (options: ``--requests N --concurrency C``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import yaml

KMES = 9
BLOCKS_PER_LINK = 48
BLOCK_BITS = 65536


def _names() -> list[str]:
    return [f"kme{i}" for i in range(1, KMES + 1)]


def _saes_of(kme: str) -> list[str]:
    """kme1 serves the master; kme2 also serves the direct-key baseline's slave."""
    return {"kme1": ["sae-master"], "kme2": ["sae-direct", "sae-kme2"]}.get(kme, [f"sae-{kme}"])


def _write_line(root: Path) -> None:
    from openqci.kms.crypto import write_master_key
    from openqci.kms.pki import init_pki

    names = _names()
    init_pki(root / "pki", names, [s for k in names for s in _saes_of(k)])
    for i, me in enumerate(names):
        write_master_key(root / f"{me}.masterkey")
        neighbours = [n for n in (names[i - 1] if i else None, names[i + 1] if i + 1 < KMES else None) if n]
        peers = []
        for other in neighbours:
            saes = [s for s in _saes_of(other) if not (me == "kme1" and s == "sae-kme2")]
            link = "-".join(sorted((me, other), key=names.index))
            peers.append(
                {
                    "kme_id": other,
                    "url": "https://127.0.0.1:1",
                    "certificate": f"pki/{other}.pem",
                    "link_id": link,
                    "saes": saes,
                }
            )
        listed = {s for p in peers for s in p["saes"]}
        remote = {s: k for k in names if k != me for s in _saes_of(k) if s not in listed}
        document = {
            "kme_id": me,
            "port": 0,
            "master_key_file": f"{me}.masterkey",
            "store": {"sqlite": f"{me}.sqlite"},
            "tls": {"ca": "pki/ca.pem", "certificate": f"pki/{me}.pem", "private_key": f"pki/{me}.key"},
            "limits": {"max_key_per_request": 16},
            "saes": [{"sae_id": s, "certificate": f"pki/{s}.pem"} for s in _saes_of(me)],
            "peers": peers,
            "relay": {"saes": remote},
        }
        (root / f"{me}.yaml").write_text(yaml.safe_dump(document))


class LineRoutes:
    """The one route between two KMEs of the line (a benchmark needs no controller)."""

    async def route(self, source_kme: str, destination_kme: str, key_bits: int, *, avoid: Sequence[str] = ()):  # type: ignore[no-untyped-def]
        from openqci.kms.errors import RouteUnavailableError
        from openqci.kms.route_provider import RelayRoute

        names = _names()
        a, b = names.index(source_kme), names.index(destination_kme)
        step = 1 if b > a else -1
        kmes = tuple(names[a : b + step : step])
        links = tuple("-".join(sorted(pair, key=names.index)) for pair in itertools.pairwise(kmes))
        if set(links) & set(avoid):
            raise RouteUnavailableError(f"no route from {source_kme} to {destination_kme}")
        return RelayRoute(kmes, links)

    async def aclose(self) -> None:
        return None


def serve(root: Path) -> None:
    """The server process: build the nine KMEs, fill their stores, serve them all in one event loop."""
    import socket

    import uvicorn

    from openqci.keysource import KeyBlock
    from openqci.kms.config import load_config
    from openqci.kms.node import build_kme
    from openqci.kms.server import uvicorn_config

    sockets = {name: socket.create_server(("127.0.0.1", 0)) for name in _names()}
    ports = {name: s.getsockname()[1] for name, s in sockets.items()}
    for name in _names():  # peers' URLs are known only now
        path = root / f"{name}.yaml"
        document = yaml.safe_load(path.read_text())
        for peer in document["peers"]:
            peer["url"] = f"https://127.0.0.1:{ports[peer['kme_id']]}"
        path.write_text(yaml.safe_dump(document))
    kmes = {n: build_kme(load_config(root / f"{n}.yaml"), route_provider=LineRoutes()) for n in _names()}
    names = _names()
    for a, b in itertools.pairwise(names):
        for _ in range(BLOCKS_PER_LINK):
            block = KeyBlock(f"{a}-{b}", uuid.uuid4(), os.urandom(BLOCK_BITS // 8), BLOCK_BITS, 0.02, 1e-10)
            kmes[a].manager.add_block(block)
            kmes[b].manager.add_block(block)

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]
            yield

    async def run() -> None:
        servers = [Server(uvicorn_config(kmes[n], port=ports[n])) for n in names]
        tasks = [
            asyncio.create_task(s.serve(sockets=[sockets[n]])) for s, n in zip(servers, names, strict=True)
        ]
        while not all(s.started for s in servers):
            await asyncio.sleep(0.05)
        (root / "ports.json").write_text(json.dumps(ports))
        await asyncio.gather(*tasks)

    asyncio.run(run())


async def _measure(
    client: httpx.AsyncClient, slave: str, hops: int | None, requests: int, concurrency: int
) -> tuple[float, float, float]:
    async def one() -> float:
        started = time.perf_counter()
        response = await client.post(f"/api/v1/keys/{slave}/enc_keys", json={"number": 1, "size": 256})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"enc_keys for {slave} failed: {response.status_code} {response.text}")
        body = response.json()
        if len(body["keys"]) != 1:
            raise SystemExit("an answer without exactly one key")
        if (
            hops is not None
            and len(next(iter(body["key_container_extension"]["qci_routes"].values()))) != hops + 1
        ):
            raise SystemExit(f"a relay to {slave} did not take {hops} hops")
        return elapsed

    for _ in range(5):  # warm the connections along the route
        await one()
    latencies = np.array([await one() for _ in range(requests)])
    remaining = [requests] * 1

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    keys_per_s = requests / (time.perf_counter() - started)
    return float(np.percentile(latencies, 50)) * 1e3, float(np.percentile(latencies, 99)) * 1e3, keys_per_s


async def _bench(root: Path, ports: dict[str, int], requests: int, concurrency: int) -> None:
    from openqci.kms.tls import client_context

    pki = root / "pki"
    context = client_context(pki / "ca.pem", pki / "sae-master.pem", pki / "sae-master.key")
    limits = httpx.Limits(max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{ports['kme1']}", verify=context, limits=limits, timeout=30
    ) as client:
        p50_0, p99_0, rate_0 = await _measure(client, "sae-direct", None, requests, concurrency)
        print(f"{'route':<16}{'p50 ms':>9}{'p99 ms':>9}{'keys/s':>9}{'p50 x':>8}{'keys/s x':>10}")
        print(f"{'direct, 1 hop':<16}{p50_0:9.2f}{p99_0:9.2f}{rate_0:9.0f}{1.0:8.2f}{1.0:10.2f}   (baseline)")
        for hops in range(1, KMES):
            slave = f"sae-kme{hops + 1}"
            p50, p99, rate = await _measure(client, slave, hops, requests, concurrency)
            label = f"relay, {hops} hop" + ("s" if hops > 1 else "")
            ratios = f"{p50 / p50_0:8.2f}{rate / rate_0:10.2f}"
            print(f"{label:<16}{p50:9.2f}{p99:9.2f}{rate:9.0f}{ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100, help="requests per route, for each measure")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    with tempfile.TemporaryDirectory(prefix="openqci-bench-relay-") as tmp:
        root = Path(tmp)
        _write_line(root)
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(root)])
        try:
            deadline = time.monotonic() + 180
            while not (root / "ports.json").exists():
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the KME server process did not start")
                time.sleep(0.2)
            ports = json.loads((root / "ports.json").read_text())
            print(
                f"line of {KMES} KMEs over mutual TLS, one server process; 256-bit keys, "
                f"{args.requests} sequential requests (latency), "
                f"{args.requests} with {args.concurrency} clients (keys/s)"
            )
            asyncio.run(_bench(root, ports, args.requests, args.concurrency))
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    main()
