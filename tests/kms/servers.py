"""Real KME servers for tests: uvicorn over mutual TLS on 127.0.0.1, in threads of the test process."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from openqci.kms.config import load_config
from openqci.kms.node import Kme, build_kme
from openqci.kms.server import uvicorn_config
from openqci.kms.tls import client_context
from tests.kms.conftest import make_block
from tests.kms.harness import Site, make_site


def spawn_kme(config: Path, prefix: Sequence[str] = (), **popen: object) -> subprocess.Popen[bytes]:
    """Start ``openqci kms serve --config CONFIG`` as a process of its own (``popen``: Popen options).

    ``prefix`` goes before the command, e.g. ``ip netns exec NS`` to run it in a network namespace.
    """
    code = "from openqci.cli import main; main()"
    command = [*prefix, sys.executable, "-c", code, "kms", "serve", "--config", str(config)]
    return subprocess.Popen(command, **popen)  # type: ignore[call-overload,no-any-return]


def wait_until_serving(
    process: subprocess.Popen[bytes], port: int, host: str = "127.0.0.1", timeout_s: float = 30.0
) -> subprocess.Popen[bytes]:
    """Return ``process`` once its port answers TLS; kill it and raise if it does not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with httpx.Client(verify=False, timeout=0.5) as probe:
                probe.get(f"https://{host}:{port}/")
        except httpx.ConnectError:
            time.sleep(0.1)
        except httpx.HTTPError:
            return process
    process.kill()
    raise RuntimeError(f"KME on {host}:{port} did not start (exit status {process.poll()})")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """One uvicorn server in a thread; ``stop`` asks it to exit and waits."""

    def __init__(self, kme: Kme) -> None:
        self.server = uvicorn.Server(uvicorn_config(kme))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("KME server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def ask_to_stop(self) -> None:
        self.server.should_exit = True


@dataclass
class Served:
    """Two KMEs served over HTTPS with mutual TLS."""

    site: Site
    ports: dict[str, int]
    kmes: dict[str, Kme]
    threads: list[ServerThread] = field(default_factory=list)

    def context(self, name: str) -> ssl.SSLContext:
        identity = self.site.pki.kmes.get(name) or self.site.pki.saes[name]
        return client_context(self.site.pki.ca, identity.certificate, identity.private_key)

    def client(self, kme: str, pem_of: str | None) -> httpx.AsyncClient:
        assert pem_of is not None, "over TLS a client without a certificate cannot even connect"
        return httpx.AsyncClient(base_url=f"https://127.0.0.1:{self.ports[kme]}", verify=self.context(pem_of))

    def feed(self, blocks: int = 1, size_bits: int = 65536) -> None:
        for _ in range(blocks):
            block = make_block("link-ab", size_bits)
            for kme in self.kmes.values():
                kme.manager.add_block(block)

    def stop(self) -> None:
        """Stop both servers together: each closes its client connections to the other as it goes."""
        for thread in self.threads:
            thread.ask_to_stop()
        for thread in self.threads:
            thread.stop()


def serve_site(root, serving: Mapping[str, object] | None = None) -> Served:
    ports = {"kme-a": free_port(), "kme-b": free_port()}
    site = make_site(root, ports, serving=serving)
    kmes = {name: build_kme(load_config(path)) for name, path in site.config_paths.items()}
    served = Served(site, ports, kmes)
    for kme in kmes.values():
        thread = ServerThread(kme)
        thread.start()
        served.threads.append(thread)
    return served
