"""Two KMEs as ``openqci kms serve`` processes over mutual TLS: start, SIGKILL, restart, and their SAEs.

The configurations come from the tests' site (``tests.kms.harness.make_site``) on either store backend,
with kme-a reaching one SAE of kme-b by key relay, so that the traffic mixes direct ETSI 014 keys, pulls
and pushes between the KMEs, and relay hops (``/kme/v1/ext_keys``).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from openqci.kms.config import KmeConfig, load_config
from openqci.kms.node import open_store
from openqci.kms.tls import client_context
from openqci.kms.units import owned_parity
from tests.kms.conftest import Backend, make_block
from tests.kms.harness import Site, make_site
from tests.kms.servers import free_port, spawn_kme, wait_until_serving

__all__ = ["KMES", "RELAYED", "Pair", "process_open_files", "process_rss_mb", "start_pair"]

KMES = ("kme-a", "kme-b")
START_TIMEOUT_S = 120.0
"""How long a KME may take to start: a loaded 2-core machine needs far more than an idle one."""
RELAYED = "sae-b3"
"""The SAE of kme-b that kme-a reaches by relay over link-ab instead of from the shared pool."""


@dataclass
class Pair:
    """kme-a and kme-b running; ``restart`` and ``kill`` by name; SAE clients over mutual TLS."""

    site: Site
    ports: dict[str, int]
    configs: dict[str, KmeConfig]
    logs: Path
    hosts: dict[str, str] = field(default_factory=lambda: dict.fromkeys(KMES, "127.0.0.1"))
    prefixes: dict[str, list[str]] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)

    def start(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        prefix = self.prefixes.get(name, [])
        process = spawn_kme(self.site.config_paths[name], prefix, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes[name] = wait_until_serving(
            process, self.ports[name], self.hosts[name], timeout_s=START_TIMEOUT_S
        )

    def kill(self, name: str) -> None:
        """SIGKILL, as a power cut or the kernel's OOM killer would stop it."""
        process = self.processes[name]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    def context(self, sae: str) -> ssl.SSLContext:
        if sae not in self._contexts:
            identity = self.site.pki.saes[sae]
            context = client_context(self.site.pki.ca, identity.certificate, identity.private_key)
            # a KME in a namespace answers on an address its certificate does not name; the CA still must
            context.check_hostname = False
            self._contexts[sae] = context
        return self._contexts[sae]

    def client(self, kme: str, sae: str, timeout_s: float = 10.0) -> httpx.Client:
        return httpx.Client(
            base_url=f"https://{self.hosts[kme]}:{self.ports[kme]}",
            verify=self.context(sae),
            timeout=timeout_s,
        )

    def tracebacks(self) -> int:
        """Python tracebacks written to the KMEs' logs so far."""
        return sum(p.read_text(errors="replace").count("Traceback") for p in self.logs.glob("*.log"))


def start_pair(
    root: Path,
    backend: Backend,
    *,
    blocks: int,
    placed: Callable[[Site], tuple[dict[str, str], dict[str, list[str]]]] | None = None,
) -> Pair:
    """Write the site, give both stores the same ``blocks`` KeyBlocks of 65,536 bits, start both KMEs.

    ``placed(site)``, if given, may rewrite the configurations and returns each KME's address and the
    command prefix that starts it (a network namespace).
    """
    ports = {name: free_port() for name in KMES}
    site = make_site(root, ports, backend, relayed=[RELAYED])
    hosts, prefixes = placed(site) if placed else (dict.fromkeys(KMES, "127.0.0.1"), {})
    configs = {name: load_config(path) for name, path in site.config_paths.items()}
    made = [make_block("link-ab", 65536) for _ in range(blocks)]
    for me, other in (KMES, KMES[::-1]):
        store = open_store(configs[me])
        for block in made:
            store.add_block(block, unit_bits=256, parity=owned_parity(me, other))
        store.close()
    logs = root / "logs"
    logs.mkdir(exist_ok=True)
    pair = Pair(site, ports, configs, logs, hosts, prefixes)
    for name in KMES:
        pair.start(name)
    return pair


def process_rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return 0.0
    return 0.0


def process_open_files(pid: int) -> int:
    """Open file descriptors of a process (sockets included; 0 if it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0
