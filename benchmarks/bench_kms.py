"""enc_keys throughput and latency of one KME process over mutual TLS on 127.0.0.1.

Two KMEs (kme-a serving the master SAE, kme-b its peer on the link) run as separate ``openqci kms serve``
processes with SQLite stores pre-filled with the same KeyBlocks. The master SAE asks kme-a for 256-bit keys
with ``number=1`` and ``number=10``: once over keep-alive connections, and once, as the baseline measured
in the same run, with a new TLS connection for every request. Prints requests per second, p50 and p99.

Run with ``./run bench kms`` (options: ``--requests N --concurrency C``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

from openqci.kms.config import load_config
from openqci.kms.node import open_store
from openqci.kms.pki import init_pki
from openqci.kms.tls import client_context
from openqci.kms.units import owned_parity
from openqci.link.keyblock import KeyBlock

TARGET_RPS = 1500.0
TARGET_P99_MS = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_site(root: Path) -> dict[str, int]:
    ports = {"kme-a": _free_port(), "kme-b": _free_port()}
    init_pki(root / "pki", ["kme-a", "kme-b"], ["sae-a", "sae-b"])
    for me, other in (("kme-a", "kme-b"), ("kme-b", "kme-a")):
        (root / f"{me}.masterkey").write_bytes(os.urandom(32))
        mine, theirs = ("sae-a", "sae-b") if me == "kme-a" else ("sae-b", "sae-a")
        (root / f"{me}.yaml").write_text(
            f"kme_id: {me}\nport: {ports[me]}\nmaster_key_file: {me}.masterkey\n"
            f"store: {{sqlite: {me}.sqlite}}\n"
            f"tls: {{ca: pki/ca.pem, certificate: pki/{me}.pem, private_key: pki/{me}.key}}\n"
            f"limits: {{max_key_per_request: 16}}\n"
            f"saes: [{{sae_id: {mine}, certificate: pki/{mine}.pem}}]\n"
            f"peers: [{{kme_id: {other}, url: 'https://127.0.0.1:{ports[other]}',"
            f" certificate: pki/{other}.pem,"
            f" link_id: link-ab, saes: [{theirs}]}}]\n"
        )
    return ports


def _fill(root: Path, units: int) -> None:
    """Give both stores the same KeyBlocks: ``units`` 256-bit units for kme-a to allocate."""
    blocks = [
        KeyBlock("link-ab", uuid.uuid4(), os.urandom(65536), 8 * 65536, 0.02, 1e-10)
        for _ in range(-(-2 * units // 2048))
    ]
    for me, other in (("kme-a", "kme-b"), ("kme-b", "kme-a")):
        store = open_store(load_config(root / f"{me}.yaml"))
        for block in blocks:
            store.add_block(block, unit_bits=256, parity=owned_parity(me, other))
        store.close()


def _start(root: Path, name: str, port: int) -> subprocess.Popen[bytes]:
    code = "from openqci.cli import main; main()"
    cmd = [sys.executable, "-c", code, "kms", "serve", "--config", str(root / f"{name}.yaml")]
    process = subprocess.Popen(cmd, cwd=root)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{name} did not start")


async def _load(
    url: str, context, number: int, requests: int, concurrency: int, keep_alive: bool
) -> list[float]:
    latencies: list[float] = []
    shared = (
        httpx.AsyncClient(verify=context, limits=httpx.Limits(max_connections=concurrency))
        if keep_alive
        else None
    )
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            start = time.perf_counter()
            if shared is not None:
                response = await shared.get(url, params={"number": number})
            else:
                async with httpx.AsyncClient(verify=context) as client:
                    response = await client.get(url, params={"number": number})
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if shared is not None:
        await shared.aclose()
    return latencies


def _measure(
    url: str, context, number: int, requests: int, concurrency: int, keep_alive: bool
) -> dict[str, float]:
    asyncio.run(_load(url, context, number, 50, concurrency, keep_alive))  # warm-up
    start = time.perf_counter()
    latencies = asyncio.run(_load(url, context, number, requests, concurrency, keep_alive))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1e3
    return {
        "rps": requests / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ports = _write_site(root)
        baseline_requests = max(200, args.requests // 10)
        _fill(root, 11 * (args.requests + baseline_requests + 200) + 1024)
        servers = [_start(root, name, port) for name, port in ports.items()]
        try:
            context = client_context(root / "pki/ca.pem", root / "pki/sae-a.pem", root / "pki/sae-a.key")
            url = f"https://127.0.0.1:{ports['kme-a']}/api/v1/keys/sae-b/enc_keys"
            print(f"enc_keys, 256-bit keys, {args.concurrency} concurrent clients, one kme-a process")
            print(f"{'number':>6} {'connection':>12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
            for number in (1, 10):
                fresh = _measure(url, context, number, baseline_requests, args.concurrency, keep_alive=False)
                kept = _measure(url, context, number, args.requests, args.concurrency, keep_alive=True)
                for label, row in (("new TLS", fresh), ("keep-alive", kept)):
                    rps, p50, p99 = row["rps"], row["p50_ms"], row["p99_ms"]
                    print(f"{number:>6} {label:>12} {rps:>9.0f} {p50:>8.2f} {p99:>8.2f}")
                print(f"{'':>6} {'ratio':>12} {kept['rps'] / fresh['rps']:>8.1f}x  (keep-alive over new TLS)")
                met = kept["rps"] >= TARGET_RPS and kept["p99_ms"] < TARGET_P99_MS
                verdict = "met" if met else "NOT met"
                target = f">= {TARGET_RPS:.0f} req/s, p99 < {TARGET_P99_MS:.0f} ms"
                print(f"{'':>6} {'target':>12} {target}: {verdict}")
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=10)


if __name__ == "__main__":
    main()
