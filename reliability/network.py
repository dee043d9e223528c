"""A launched three-KME line (``openqci network up``): its SAE clients, and its sites killed and restarted.

kme1 - kme2 - kme3, 25 km of yuan2018 fibre per link, an SAE at each KME: keys between neighbours come
from a shared link, keys between kme1 and kme3 are relayed through the trusted node kme2 on routes from
the controller. A site process killed with SIGKILL is started again the way the launcher started it (the
same state directory, a listening socket on the KME's port) and recorded in ``state.json`` so that
``openqci network down`` stops it.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import yaml

from openqci.kms.config import KmeConfig, load_config
from openqci.network.processes import is_running, spawn
from openqci.network.statedir import StateDir, read_state, write_state
from reliability.traffic import ClientFactory
from tests.kms.servers import wait_until_serving
from tests.network.test_launcher import ROOT, launched, sae_client

__all__ = [
    "LINKS",
    "SAES",
    "client_factory",
    "configs",
    "kill_site",
    "launched_line3",
    "restart_site",
    "site_pid",
]

LINKS = {"kme1-kme2": ("kme1", "kme2"), "kme2-kme3": ("kme2", "kme3")}
SAES = {"sae-west": "kme1", "sae-middle": "kme2", "sae-east": "kme3"}


def _scenario(root: Path) -> Path:
    document = yaml.safe_load((ROOT / "scenarios" / "line5.yaml").read_text())
    document["name"] = "line3"
    document["sites"] = document["sites"][:3]
    document["links"] = document["links"][:2]
    document["saes"] = [{"name": sae, "kme": kme} for sae, kme in SAES.items()]
    document["demands"] = []
    path = root / "line3.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@contextmanager
def launched_line3(root: Path, *options: str) -> Iterator[Path]:
    """Start the line under ``root`` (``options`` go to ``network up``); take it down on the way out."""
    running = launched(_scenario(root), root / "state", *options, timeout_s=600)
    state_dir = next(running)
    try:
        yield state_dir
    finally:
        running.close()


def configs(state_dir: Path) -> dict[str, KmeConfig]:
    """Each KME's configuration as the launcher wrote it."""
    layout = StateDir(state_dir)
    return {kme: load_config(layout.kme_config(kme)) for kme in ("kme1", "kme2", "kme3")}


def client_factory(state_dir: Path) -> ClientFactory:
    """SAE clients of the launched network's KMEs."""

    def make(kme: str, sae: str) -> httpx.Client:
        return sae_client(state_dir, sae, kme)

    return make


def site_pid(state_dir: Path, kme: str) -> int:
    state = read_state(StateDir(state_dir))
    (record,) = [p for p in state.processes if p.kmes == (kme,)]
    return record.pid


def kill_site(state_dir: Path, kme: str) -> None:
    """SIGKILL the site process that serves ``kme`` and wait until it is gone."""
    pid = site_pid(state_dir, kme)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while is_running(pid, str(state_dir)) and time.monotonic() < deadline:
        time.sleep(0.02)


def restart_site(state_dir: Path, kme: str) -> None:
    """Start ``kme``'s site again on its port, as the launcher did, and wait until it serves."""
    layout = StateDir(state_dir)
    state = read_state(layout)
    (record,) = [p for p in state.processes if p.kmes == (kme,)]
    port = record.ports[0]
    sock = _listen_again(port)
    try:
        args = [
            "--state-dir",
            str(layout.root),
            "--controller",
            state.controller_url,
            "--kme",
            f"{kme}={sock.fileno()}",
        ]
        pid = spawn("openqci.network.site", args, log=layout.log_file(kme), sockets=[sock])
    finally:
        sock.close()
    processes = tuple(replace(p, pid=pid) if p is record else p for p in state.processes)
    write_state(layout, replace(state, processes=processes))
    _wait_serving(pid, port, str(layout.root))


def _listen_again(port: int, timeout_s: float = 30.0) -> socket.socket:
    """A listening socket on the killed KME's port, once the kernel has let go of the old one's
    connections (their closing can hold the port for a moment after the process died)."""
    deadline = time.monotonic() + timeout_s
    while True:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen(128)
            return sock
        except OSError:
            sock.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_serving(pid: int, port: int, marker: str) -> None:
    class _Process:
        def poll(self) -> int | None:
            return None if is_running(pid, marker) else 1

        def kill(self) -> None:
            os.kill(pid, signal.SIGKILL)

    wait_until_serving(_Process(), port, timeout_s=120.0)  # type: ignore[arg-type]
