"""What the operations metrics cost a KME: per request (the counting middleware) and per scrape.

* Requests: the same FastAPI route answered through ``httpx.ASGITransport``, bare (the baseline) and
  wrapped in :class:`openqci.ops.request_metrics.RequestMetrics`, which counts and times every request.
  The ratio is the middleware's share of a request's cost in-process; over mutual TLS a request costs ~3 ms
  (see ``bench_kms.py``), so the share there is far smaller.
* Scrape: rendering a KME's registry after 10,000 requests over 6 endpoints and 4 statuses, 8 links and
  100 relays, against rendering an empty registry (the baseline). The key-store counts a real scrape reads
  are one ``count`` per link on the store, not included.

Run with ``./run bench ops_metrics``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest

sys.path.insert(0, str(Path(__file__).parent))
from bench_services import cpu_name
from openqci.ops.metrics_kme import KmeMetrics, LinkKeyCounts, StoreFigures
from openqci.ops.request_metrics import RequestMetrics
from timing import best_of

REQUESTS = 2000


def _app(counted: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/keys/{slave_SAE_ID}/status")
    async def status(slave_SAE_ID: str) -> dict[str, str]:
        return {"slave_SAE_ID": slave_SAE_ID}

    if counted:
        app.add_middleware(RequestMetrics, metrics=KmeMetrics("kme-a"))
    return app


def _requests_s(counted: bool) -> float:
    async def run() -> None:
        transport = httpx.ASGITransport(app=_app(counted))
        async with httpx.AsyncClient(transport=transport, base_url="http://kme") as client:
            for _ in range(REQUESTS):
                await client.get("/api/v1/keys/sae-b/status")

    return best_of(3, lambda: asyncio.run(run()))


def _busy_registry() -> CollectorRegistry:
    links = tuple(LinkKeyCounts(f"link-{i}", 10**6, 10**8, 10**7) for i in range(8))
    metrics = KmeMetrics("kme-a", lambda: StoreFigures(links, 10**8, 10**7))
    endpoints = [f"GET /api/v1/keys/{{slave_SAE_ID}}/endpoint{i}" for i in range(6)]
    for i in range(10_000):
        status = (200, 400, 401, 503)[i % 4]
        metrics.observe_request(endpoints[i % 6], status, 0.003, None if status == 200 else "KmsError")
    for i in range(100):
        metrics.observe_relay(0.05, i % 10 != 0)
    for i in range(8):
        metrics.set_link(f"link-{i}", up=True, skr_bps=1e6, eskr_bps=6e4, qber=0.03, blocks=100)
    return metrics.registry


def main() -> None:
    print(f"operations metrics on {cpu_name()}")
    bare, counted = _requests_s(False), _requests_s(True)
    print(
        f"{REQUESTS} in-process requests: bare {bare * 1e6 / REQUESTS:.0f} us each, counted "
        f"{counted * 1e6 / REQUESTS:.0f} us each: ratio {counted / bare:.2f}"
    )
    busy, empty = _busy_registry(), CollectorRegistry()
    size = len(generate_latest(busy))
    busy_s = best_of(20, lambda: generate_latest(busy))
    empty_s = best_of(20, lambda: generate_latest(empty))
    print(
        f"scrape of a busy KME ({size} bytes): {busy_s * 1e3:.2f} ms, empty registry {empty_s * 1e6:.0f} us: "
        f"ratio {busy_s / max(empty_s, 1e-9):.0f}"
    )


if __name__ == "__main__":
    main()
