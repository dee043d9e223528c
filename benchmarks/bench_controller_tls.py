"""Route requests to the controller over TLS (a KME's client certificate) against plain HTTP (the token).

A KME relaying a key asks the controller for a route once per relayed request, so the controller's
transport sits on the relay's path. Two controller processes serve the same five-KME line (scenarios/
line5.yaml, every link reported up): one over plain HTTP on 127.0.0.1 with the bearer token, one over TLS
with a KME's client certificate, as ``network up --controller-tls`` runs it. The client is the KME's own
:class:`openqci.kms.route_provider.ControllerRoutes` on keep-alive connections; every answer is checked to
be the four-hop route kme1 to kme5. Printed: p50 and p99 latency of sequential requests, requests per
second with concurrent requests, and TLS as a ratio to plain HTTP measured in the same run.

Run with ``./run bench controller_tls`` (options: ``--requests N --concurrency C``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KMES = [f"kme{i}" for i in range(1, 6)]
LINKS = [(f"kme{i}-kme{i + 1}", f"kme{i}", f"kme{i + 1}") for i in range(1, 5)]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _start(root: Path, *, tls: bool) -> tuple[subprocess.Popen[bytes], str]:
    from openqci.network.controller_tls import bind_controller, issue_controller_certificate
    from openqci.network.statedir import StateDir

    layout = StateDir(root)
    sock = bind_controller("127.0.0.1", 0)
    args = ["--state-dir", str(root), "--fd", str(sock.fileno())]
    if tls:
        files = issue_controller_certificate(layout.pki_dir, "127.0.0.1")
        args += ["--tls-certificate", str(files.certificate), "--tls-key", str(files.private_key)]
        args += ["--tls-ca", str(files.ca)]
    url = f"{'https' if tls else 'http'}://127.0.0.1:{sock.getsockname()[1]}"
    module = [sys.executable, "-m", "openqci.network.controller_server"]
    process = subprocess.Popen([*module, *args], pass_fds=[sock.fileno()])
    sock.close()
    return process, url


def _report_everything_up(url: str, token: str, verify: object) -> None:
    """Both ends of every link and every node report, as the site processes would."""
    nodes = [{"qkdn_id": kme, "kme_url": f"https://127.0.0.1:{8443 + i}"} for i, kme in enumerate(KMES)]
    ends = [
        {"qkdl_id": link, "qkdn_id": end, "skr_bps": 1e4, "eskr_bps": 1e4, "qber": 0.02,
         "available_key_bits": 10**7, "blocks": 10, "up": True}
        for link, a, b in LINKS for end in (a, b)
    ]  # fmt: skip
    headers = {"authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = httpx.post(
                f"{url}/api/v1/reports",
                json={"nodes": nodes, "links": ends},
                headers=headers,
                verify=verify,  # type: ignore[arg-type]
                timeout=5.0,
            )
            answer.raise_for_status()
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _keep_reporting(url: str, token: str, verify: object, stop: threading.Event) -> None:
    """Report every second, as the sites do, so that no link goes silent (down after 5 s) meanwhile."""
    while not stop.wait(1.0):
        _report_everything_up(url, token, verify)


async def _measure(routes: object, requests: int, concurrency: int) -> dict[str, float]:
    async def one() -> float:
        start = time.perf_counter()
        route = await routes.route("kme1", "kme5", 256)  # type: ignore[attr-defined]
        assert route.kmes == tuple(KMES), route
        return time.perf_counter() - start

    for _ in range(20):  # warm the connection pool
        await one()
    latencies = np.array([await one() for _ in range(requests)])
    start = time.perf_counter()
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    await routes.aclose()  # type: ignore[attr-defined]
    return {
        "p50_ms": float(np.percentile(latencies, 50) * 1e3),
        "p99_ms": float(np.percentile(latencies, 99) * 1e3),
        "req_per_s": requests / elapsed,
    }


def main(argv: list[str] | None = None) -> None:
    """Measure both transports in one run and print them with their ratio."""
    from openqci.kms.pki import init_pki
    from openqci.kms.route_provider import ControllerRoutes
    from openqci.kms.tls import client_context
    from openqci.network.controller_tls import client_verify
    from openqci.network.statedir import StateDir, write_secret

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        processes = []
        try:
            for tls in (False, True):
                root = Path(folder) / ("tls" if tls else "plain")
                root.mkdir()
                layout = StateDir(root)
                shutil.copyfile(ROOT / "scenarios" / "line5.yaml", layout.scenario_file)
                token = secrets.token_urlsafe(32)
                write_secret(layout.token_file, token.encode())
                init_pki(layout.pki_dir, KMES, [])
                process, url = _start(root, tls=tls)
                processes.append(process)
                ca = layout.pki_dir / "ca.pem"
                check = client_verify(ca) if tls else True
                _report_everything_up(url, token, check)
                stop = threading.Event()
                reporter = threading.Thread(
                    target=_keep_reporting, args=(url, token, check, stop), daemon=True
                )
                reporter.start()
                if tls:
                    pki = layout.pki_dir
                    verify = client_context(ca, pki / "kme1.pem", pki / "kme1.key")
                    routes = ControllerRoutes(url, None, verify=verify)
                else:
                    routes = ControllerRoutes(url, token)
                name = "TLS, KME certificate" if tls else "plain HTTP, token"
                try:
                    results[name] = asyncio.run(_measure(routes, args.requests, args.concurrency))
                finally:
                    stop.set()
                    reporter.join()
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
    print(f"CPU: {_cpu_name()}; {args.requests} route requests kme1 -> kme5, concurrency {args.concurrency}")
    print(f"{'transport':<24} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for name, figures in results.items():
        print(f"{name:<24} {figures['p50_ms']:8.2f} {figures['p99_ms']:8.2f} {figures['req_per_s']:8.0f}")
    plain, tls = results["plain HTTP, token"], results["TLS, KME certificate"]
    print(
        f"TLS / plain: p50 x{tls['p50_ms'] / plain['p50_ms']:.2f}, "
        f"throughput x{tls['req_per_s'] / plain['req_per_s']:.2f}"
    )
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
