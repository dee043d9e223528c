"""enc_keys throughput and latency of one KME process over mutual TLS on 127.0.0.1.

Two KMEs (kme-a serving the master SAE, kme-b its peer on the link) run as separate ``openqci kms serve``
processes with SQLite stores pre-filled with the same KeyBlocks. The master SAE asks kme-a for 256-bit keys
with ``number=1`` and ``number=10``: once over keep-alive connections, and once, as the baseline measured
in the same run, with a new TLS connection for every request. Prints requests per second, p50 and p99.

The load generator runs in a process of its own (uvloop, raw HTTP/1.1 over one shared TLS context, each
answer checked to be a container of ``number`` keys), so that on a small machine it competes with the
server only for CPU time, not for its event loop or its GIL.

Run with ``./run bench kms`` (options: ``--requests N --concurrency C``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from openqci.keysource import KeyBlock
from openqci.kms.config import load_config
from openqci.kms.node import open_store
from openqci.kms.pki import init_pki
from openqci.kms.tls import client_context
from openqci.kms.units import owned_parity

TARGET_RPS = 1500.0
TARGET_P99_MS = 20.0
_CONTENT_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


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


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, number: int
) -> None:
    """Send one HTTP/1.1 request and read its answer; it must be a key container of ``number`` keys."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(_CONTENT_LENGTH.search(head).group(1))  # type: ignore[union-attr]
    body = await reader.readexactly(length)
    if head[9:12] != b"200" or len(orjson.loads(body)["keys"]) != number:
        raise RuntimeError(f"unexpected answer: {head[:12]!r} {body[:200]!r}")


async def _load(spec: dict[str, Any]) -> list[float]:
    """Run the load of ``spec`` and return each request's latency in seconds."""
    context = client_context(Path(spec["ca"]), Path(spec["certificate"]), Path(spec["private_key"]))
    host, port, number = "127.0.0.1", spec["port"], spec["number"]
    path = f"/api/v1/keys/sae-b/enc_keys?number={number}"
    closing = b"" if spec["keep_alive"] else b"Connection: close\r\n"
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode() + closing + b"\r\n"
    latencies: list[float] = []
    remaining = iter(range(spec["requests"]))

    async def worker() -> None:
        connection = await asyncio.open_connection(host, port, ssl=context) if spec["keep_alive"] else None
        for _ in remaining:
            start = time.perf_counter()
            reader, writer = connection or await asyncio.open_connection(host, port, ssl=context)
            await _exchange(reader, writer, request, number)
            if connection is None:
                writer.close()
            latencies.append(time.perf_counter() - start)
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    return latencies


def _run_load(spec: dict[str, Any]) -> None:
    """The load generator's process: run ``spec`` (after a warm-up) and print the figures as JSON."""
    import uvloop

    uvloop.run(_load({**spec, "requests": 50}))
    start, cpu_start = time.perf_counter(), time.process_time()
    latencies = uvloop.run(_load(spec))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1e3
    figures = {
        "elapsed_s": elapsed,
        "load_cpu_s": time.process_time() - cpu_start,
        "rps": len(ms) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }
    print(json.dumps(figures))


def _measure(
    root: Path, port: int, number: int, requests: int, concurrency: int, keep_alive: bool
) -> dict[str, float]:
    """Run the load generator in its own process, so it does not take the server's event loop or GIL."""
    pki = root / "pki"
    spec = {
        "ca": str(pki / "ca.pem"),
        "certificate": str(pki / "sae-a.pem"),
        "private_key": str(pki / "sae-a.key"),
        "port": port,
        "number": number,
        "requests": requests,
        "concurrency": concurrency,
        "keep_alive": keep_alive,
    }
    done = subprocess.run(
        [sys.executable, __file__, "--load", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def _cpu_s(pid: int) -> float:
    """CPU time (user and system) that process ``pid`` has used so far, from ``/proc`` (0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _print_row(number: int, label: str, row: dict[str, float]) -> None:
    cores = "  ".join(f"{k.removesuffix('_cores')} {v:.2f}" for k, v in row.items() if k.endswith("_cores"))
    rps, p50, p99 = row["rps"], row["p50_ms"], row["p99_ms"]
    print(f"{number:>6} {label:>12} {rps:>9.0f} {p50:>8.2f} {p99:>8.2f}   {cores}")


def _measure_cpu(
    servers: list[subprocess.Popen[bytes]],
    root: Path,
    port: int,
    number: int,
    concurrency: int,
    requests: int,
    *,
    keep_alive: bool,
) -> dict[str, float]:
    """:func:`_measure`, adding the CPU each process used per second of the run (1.0: one core busy).

    The servers' CPU is taken over the whole load process (its start and warm-up included, so their
    figures are slightly low); the load generator's over the measured requests only.
    """
    before, start = [_cpu_s(s.pid) for s in servers], time.perf_counter()
    row = _measure(root, port, number, requests, concurrency, keep_alive)
    wall_s = time.perf_counter() - start
    used = [_cpu_s(s.pid) - b for s, b in zip(servers, before, strict=True)]
    row["gen_cores"] = row["load_cpu_s"] / row["elapsed_s"]
    row["kme-a_cores"], row["kme-b_cores"] = (u / wall_s for u in used)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run as the load generator
    args = parser.parse_args()
    if args.load:
        _run_load(json.loads(args.load))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ports = _write_site(root)
        baseline_requests = max(200, args.requests // 10)
        _fill(root, 11 * (args.requests + baseline_requests + 200) + 1024)
        servers = [_start(root, name, port) for name, port in ports.items()]
        try:
            print(f"enc_keys, 256-bit keys, {args.concurrency} concurrent clients, one kme-a process")
            print(f"{os.cpu_count()} CPU cores; CPU used per second of each run (1.0: one core busy)")
            print(f"{'number':>6} {'connection':>12} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   CPU (cores)")
            for number in (1, 10):
                port = ports["kme-a"]
                measure = (root, port, number, args.concurrency)
                fresh = _measure_cpu(servers, *measure, baseline_requests, keep_alive=False)
                kept = _measure_cpu(servers, *measure, args.requests, keep_alive=True)
                for label, row in (("new TLS", fresh), ("keep-alive", kept)):
                    _print_row(number, label, row)
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
