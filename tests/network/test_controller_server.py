"""The controller's server bounds connections and requests as a KME's does, over plain HTTP on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from openqci.kms.config import ServingConfig
from openqci.network.alarms import AlarmRules
from openqci.network.controller import Controller
from openqci.network.controller_api import create_controller_app
from openqci.network.controller_server import uvicorn_config
from openqci.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "t" * 32


@pytest.fixture
def port() -> Iterator[int]:
    controller = Controller(
        load_scenario(ROOT / "scenarios" / "mesh.yaml"), rules=AlarmRules(), clock=time.time
    )
    serving = ServingConfig(max_connections=8, header_timeout_s=0.5, keep_alive_timeout_s=0.5)
    config = uvicorn_config(create_controller_app(controller, TOKEN), serving)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield sock.getsockname()[1]
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()


def _exchange(port: int, request: bytes, filler: bytes = b"", total: int = 0) -> bytes:
    """Send ``request`` (then ``filler`` up to ``total`` bytes while no answer comes) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        sent = len(request)
        sock.setblocking(False)
        while sent < total:
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except BlockingIOError:
                pass
            except OSError:
                break
            try:
                sock.sendall(filler)
            except (BlockingIOError, OSError):
                break
            sent += len(filler)
        sock.setblocking(True)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except OSError:
            pass
        return data


def _refusal(answer: bytes) -> tuple[int, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["message"]


def test_the_controller_refuses_a_huge_body_and_a_huge_head(port: int) -> None:
    body = _exchange(
        port,
        b"POST /api/v1/reports HTTP/1.1\r\nHost: c\r\ncontent-type: application/json\r\n"
        b"content-length: 100000000\r\n\r\n",
    )
    assert _refusal(body) == (400, "request body of 100000000 bytes is larger than max_body_bytes (4194304)")
    head = _exchange(port, b"GET /api/v1/state HTTP/1.1\r\nHost: c\r\nX-Pad: ", b"a" * 16384, 10_000_000)
    assert _refusal(head) == (400, "request head larger than max_header_bytes (16384)")


def test_the_controller_serves_past_idle_connections_at_its_cap(port: int) -> None:
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(12)]
    start = time.monotonic()
    answer = _exchange(
        port,
        f"GET /api/v1/state HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer {TOKEN}\r\n".encode()
        + b"Connection: close\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert time.monotonic() - start < 1.0
    time.sleep(1.0)  # past the keep-alive timeout every idle connection is closed
    for sock in idle:
        sock.settimeout(2)
        assert sock.recv(1) == b""
        sock.close()
