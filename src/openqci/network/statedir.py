"""The state directory of a running network: its layout, and reading and writing the files in it.

``openqci network up`` fills one directory; every process of the network and every later command
(``status``, ``attack``, ``down``) finds what it needs there::

    DIR/state.json            processes (pid, role, KMEs, ports), URLs: written by the launcher
    DIR/scenario.yaml         the scenario as launched
    DIR/controller.token      bearer token of the controller API (0600)
    DIR/pki/                  CA, KME and SAE certificates and keys (keys 0600)
    DIR/kmes/KME/             kme.yaml, master key (0600), SQLite key store
    DIR/links/plan.json       every link's plan (rates, schedule), read by both of its ends
    DIR/links/LINK.seed       the link's secret seed (0600), from os.urandom
    DIR/links/LINK.channel.json  eavesdropper and fibre-cut events on the link, by block index
    DIR/engines/LINK/         an engine-run link's blocks not yet held by both ends (0600)
    DIR/engines/.first-block.lock  held by the engine making its first block (they take turns)
    DIR/logs/NAME.log         each process's event log (JSON lines), rotated at log_max_bytes
    DIR/logs/NAME.stderr      what a process writes outside its log (a crash's traceback)

Secrets are created with ``O_EXCL`` and mode 0600 and never overwritten; JSON files are replaced
atomically (write, then rename) so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from openqci.network.errors import LaunchError, UnknownLinkError
from openqci.network.link_simulator import ChannelEvent, LinkPlan

__all__ = [
    "NetworkState",
    "ProcessRecord",
    "StateDir",
    "append_channel_event",
    "read_channel_events",
    "read_plans",
    "read_secret",
    "read_state",
    "write_json",
    "write_plans",
    "write_secret",
    "write_state",
]


@dataclass(frozen=True)
class StateDir:
    """Paths inside a network's state directory."""

    root: Path

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def scenario_file(self) -> Path:
        return self.root / "scenario.yaml"

    @property
    def token_file(self) -> Path:
        return self.root / "controller.token"

    @property
    def pki_dir(self) -> Path:
        return self.root / "pki"

    @property
    def plan_file(self) -> Path:
        return self.root / "links" / "plan.json"

    def kme_dir(self, kme: str) -> Path:
        return self.root / "kmes" / kme

    def kme_config(self, kme: str) -> Path:
        return self.kme_dir(kme) / "kme.yaml"

    def seed_file(self, link: str) -> Path:
        return self.root / "links" / f"{link}.seed"

    def channel_file(self, link: str) -> Path:
        return self.root / "links" / f"{link}.channel.json"

    def engine_dir(self, link: str) -> Path:
        return self.root / "engines" / link

    @property
    def first_block_lock(self) -> Path:
        return self.root / "engines" / ".first-block.lock"

    def log_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def stderr_file(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.stderr"


@dataclass(frozen=True)
class ProcessRecord:
    """One process of the network: name, role (``controller``, ``site``, ``engine``), pid, what it serves."""

    name: str
    role: str
    pid: int
    kmes: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class NetworkState:
    """What ``state.json`` holds: the network's name, where its parts listen, and its processes."""

    network: str
    controller_url: str
    kme_urls: dict[str, str]
    processes: tuple[ProcessRecord, ...]
    started_at_s: float


def write_secret(path: Path, secret: bytes) -> None:
    """Create ``path`` with mode 0600 holding ``secret``; refuse to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secret)


def read_secret(path: Path) -> bytes:
    """Read a secret file, refusing one that others can read (a leaked seed or token is no secret)."""
    mode = path.stat().st_mode & 0o077
    if mode:
        raise LaunchError(f"{path} is readable by others (mode {oct(mode)}); it must be 0600")
    return path.read_bytes()


def write_json(path: Path, document: Any) -> None:
    """Replace ``path`` atomically with ``document`` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(document, indent=1))
    os.replace(partial, path)


def write_state(layout: StateDir, state: NetworkState) -> None:
    """Write ``state.json``."""
    write_json(layout.state_file, asdict(state))


def read_state(layout: StateDir) -> NetworkState:
    """Read ``state.json``; a missing one means no network was started here (or it was taken down)."""
    try:
        raw = json.loads(layout.state_file.read_text())
    except FileNotFoundError:
        raise LaunchError(
            f"no network is running from {layout.root} (no state.json); start one with 'openqci network up'"
        ) from None
    processes = tuple(
        ProcessRecord(p["name"], p["role"], p["pid"], tuple(p["kmes"]), tuple(p["ports"]))
        for p in raw["processes"]
    )
    return NetworkState(
        raw["network"], raw["controller_url"], dict(raw["kme_urls"]), processes, raw["started_at_s"]
    )


def write_plans(layout: StateDir, plans: list[LinkPlan]) -> None:
    """Write every link's plan."""
    write_json(layout.plan_file, [asdict(plan) for plan in plans])


def read_plans(layout: StateDir) -> dict[str, LinkPlan]:
    """Every link's plan, by link name."""
    return {raw["link"]: LinkPlan(**raw) for raw in json.loads(layout.plan_file.read_text())}


def read_channel_events(layout: StateDir, link: str) -> list[ChannelEvent]:
    """The eavesdropper and fibre-cut events of ``link`` so far (none: a quiet fibre)."""
    try:
        raw = json.loads(layout.channel_file(link).read_text())
    except FileNotFoundError:
        return []
    return [ChannelEvent(**event) for event in raw]


def append_channel_event(layout: StateDir, link: str, event: ChannelEvent) -> None:
    """Add an event to ``link``'s channel; the link must be one of the running network's."""
    if not layout.seed_file(link).exists():
        known = sorted(p.name.removesuffix(".seed") for p in (layout.root / "links").glob("*.seed"))
        raise UnknownLinkError(f"unknown link {link!r}; the network's links are: {', '.join(known)}")
    events = [*read_channel_events(layout, link), event]
    write_json(layout.channel_file(link), [asdict(e) for e in events])
