"""What bounding a connection costs per request: the KME's HTTP protocol against uvicorn's own, in one run.

Both protocols serve the same keep-alive connection (a transport in memory, no sockets, no TLS) and the
same small ASGI app, request after request, on one event loop. The baseline is
:class:`openqci.kms.tls.ClientCertProtocol` (uvicorn's httptools protocol with the client certificate in
scope, what a KME served before its connections were bounded); the measured one is
:class:`openqci.kms.bounded_http.BoundedHttpProtocol` (connection table, phase deadlines, head and body
limits); uvicorn's own protocol is shown for reference. The figure is the time per request and
the ratio of the two; ``./run bench kms`` gives the end-to-end figures over mutual TLS with the limits on.

Run with ``./run bench serving`` (option ``--requests N``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import time
from typing import Any

import numpy as np
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from openqci.kms.bounded_http import BoundedHttpProtocol, ServerSide
from openqci.kms.config import ServingConfig
from openqci.kms.tls import ClientCertProtocol

REQUEST = (
    b"GET /api/v1/keys/sae-b/enc_keys?number=1 HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n"
    b"Accept: */*\r\nUser-Agent: bench\r\n\r\n"
)


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await receive()
    body = b'{"keys": [{"key_ID": "00000000-0000-0000-0000-000000000000", "key": "AAAA"}]}'
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Transport(asyncio.Transport):
    """A connection in memory: counts complete answers."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if bytes(data).endswith(b"}"):
            self.answers += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8443)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _serve(factory: Any, requests: int) -> float:
    """Serve ``requests`` requests on one connection; return CPU seconds per request.

    CPU time of this process, not wall time: on a shared machine the wall clock also counts the time
    other processes held the core.
    """
    protocol = factory()
    transport = _Transport()
    protocol.connection_made(transport)
    start = time.process_time()
    for i in range(requests):
        protocol.data_received(REQUEST)
        while transport.answers <= i:
            await asyncio.sleep(0)
    elapsed = time.process_time() - start
    protocol.connection_lost(None)
    return elapsed / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    config = Config(_app, lifespan="off", access_log=False)
    config.load()
    state = ServerState()
    common = {"config": config, "server_state": state, "app_state": {}}
    side = ServerSide.from_config(ServingConfig(), None)
    factories = {
        "uvicorn httptools": functools.partial(HttpToolsProtocol, **common),
        "client certificate": functools.partial(ClientCertProtocol, **common),
        "bounded": functools.partial(BoundedHttpProtocol, **common, side=side),
    }
    print(f"one keep-alive connection in memory, {args.requests} requests per run, best of 7, interleaved")
    print(f"CPU: {_cpu_name()}; load average {os.getloadavg()[0]:.1f}")
    runs: dict[str, list[float]] = {name: [] for name in factories}
    for _ in range(7):  # interleaved, so that a change in the machine's load hits both alike
        for name, factory in factories.items():
            runs[name].append(asyncio.run(_serve(factory, args.requests)))
    seconds = {name: float(np.min(times)) for name, times in runs.items()}
    for name, best in seconds.items():
        print(f"{name:>18}: {best * 1e6:7.1f} µs of CPU per request")
    ratio = seconds["bounded"] / seconds["client certificate"]
    print(f"{'ratio':>18}: {ratio:7.2f}x  (bounded over the protocol served before the limits)")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


if __name__ == "__main__":
    main()
