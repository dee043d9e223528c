"""The launcher: a whole network from a scenario, on this machine, as separate processes on 127.0.0.1.

:func:`up` prepares the state directory (:mod:`openqci.network.statedir`): the scenario, a controller
token, a PKI for every KME and SAE (:func:`openqci.kms.pki.init_pki`), one KME configuration per KME site
(its SAEs, and its neighbours over fibre as peers), a secret seed and a plan per link. It then starts the
controller and the site processes (:mod:`openqci.network.site`; ``kmes_per_process`` KMEs each, every KME
keeping its own TLS identity, port and store), writes ``state.json``, and returns once the controller has
heard from every KME and both ends of every link. If anything fails it stops what it started and raises
:class:`LaunchError` with the tail of the failing process's log. A link whose scenario entry says
``source: engine`` gets a process of its own running the link engine (:mod:`openqci.network.engine`),
which feeds both ends' KMEs; the others run the rate model at each end. :func:`down` stops the processes
(SIGTERM, then SIGKILL after a timeout), and :func:`up` on the directory of a stopped network resumes it
with its keys, certificates and link schedules (new ports, the same stores); :func:`attack` puts an
eavesdropper on (or takes it off) a link. The controller alone may listen elsewhere than 127.0.0.1
(``controller_host``), and then only over TLS (``controller_tls``, :mod:`openqci.network.controller_tls`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from openqci.kms.crypto import write_master_key
from openqci.kms.errors import KmsError
from openqci.kms.pki import init_pki
from openqci.network.controller_client import ControllerClient
from openqci.network.controller_tls import (
    ControllerTls,
    bind_controller,
    check_binding,
    connect_host,
    issue_controller_certificate,
)
from openqci.network.errors import LaunchError, UnknownLinkError
from openqci.network.link_simulator import SEED_BYTES, ChannelEvent, plan_link
from openqci.network.processes import bind_loopback, is_running, spawn, stop_processes
from openqci.network.statedir import (
    NetworkState,
    ProcessRecord,
    StateDir,
    append_channel_event,
    read_plans,
    read_state,
    write_plans,
    write_secret,
    write_state,
)
from openqci.ops.events import DEFAULT_LOG_BACKUPS, DEFAULT_LOG_MAX_BYTES, LOG_LEVELS
from openqci.scenario import Etsi014Device, FilesDevice, KeySourceKind, Scenario, load_scenario

__all__ = ["DEFAULT_INTAKE_CAP_BPS", "LaunchOptions", "Progress", "attack", "down", "up"]

Progress = Callable[[int, int, str], None]
"""Called while waiting: parts ready, parts in all, and what is awaited (for a progress display)."""

_MARKER = "openqci.network."


DEFAULT_INTAKE_CAP_BPS = 16384.0
"""The most key a simulated KME takes in per link and second, unless ``--intake-cap`` says otherwise.

Deployed metro QKD systems deliver from a few to some tens of kbit/s. Each KME unit written costs about
20 us of CPU (cut, sealed, inserted: ``benchmarks/bench_store_intake.py``), so FranceQCI's 46 links at
64 kbit/s (23,000 units a second at 92 link ends) took a third of a 2-core machine beside its 39 KMEs and
three real-time engines, and the machine no longer kept up; at 16 kbit/s it takes a twelfth.
"""


@dataclass(frozen=True)
class LaunchOptions:
    """How to run the network: speedup of the key supply, packing of KMEs, and the supply's cadence."""

    speedup: float = 1.0
    kmes_per_process: int = 1
    intake_cap_bps: float = DEFAULT_INTAKE_CAP_BPS
    """The most key a simulated KME takes in per link and second (key made beyond it is discarded)."""
    tick_s: float = 1.0
    unit_bits: int = 256
    timeout_s: float = 120.0
    controller_host: str = "127.0.0.1"
    """Where the controller listens; any address but loopback needs ``controller_tls``."""
    controller_port: int = 0
    """The controller's TCP port (0: one the kernel chooses)."""
    controller_tls: bool = False
    """Serve the controller over TLS with a certificate of the network's CA (see controller_tls)."""
    log_level: str = "info"
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES
    """Each process's log file is rotated at this size ..."""
    log_backups: int = DEFAULT_LOG_BACKUPS
    """... and this many rotated files are kept, so a process holds at most (backups + 1) x max bytes."""

    def log_arguments(self, layout: StateDir, name: str) -> list[str]:
        """The logging options of the process ``name``."""
        return [
            "--log-file",
            str(layout.log_file(name)),
            "--log-level",
            self.log_level,
            "--log-max-bytes",
            str(self.log_max_bytes),
            "--log-backups",
            str(self.log_backups),
        ]


def up(
    scenario_path: Path, state_dir: Path, options: LaunchOptions, progress: Progress | None = None
) -> NetworkState:
    """Start the network of ``scenario_path`` from the empty (or new) directory ``state_dir``.

    Raises
    ------
    ScenarioError
        If the scenario file is invalid.
    LaunchError
        If the directory holds something else than a stopped network of this scenario, or a part fails to
        start or to answer within ``options.timeout_s``; everything started is stopped first.
    """
    scenario = load_scenario(scenario_path)
    check_binding(options.controller_host, tls=options.controller_tls)
    if not 0 <= options.controller_port <= 65535:
        raise LaunchError(f"--controller-port must lie in 0..65535, got {options.controller_port}")
    layout = StateDir(state_dir.resolve())
    resuming = _stopped_here(layout, scenario_path)
    if resuming:
        _check_log_options(options)
        _resume_plans(layout, options)
    else:
        _prepare(layout, scenario_path, scenario, options)
    sockets = {"controller": bind_controller(options.controller_host, options.controller_port)}
    sockets |= {s.name: bind_loopback() for s in scenario.kme_sites}
    ports = {name: int(sock.getsockname()[1]) for name, sock in sockets.items()}
    scheme = "https" if options.controller_tls else "http"
    host = connect_host(options.controller_host)
    controller_url = f"{scheme}://{f'[{host}]' if ':' in host else host}:{ports['controller']}"
    started: list[ProcessRecord] = []
    try:
        tls = None
        if options.controller_tls:
            tls = issue_controller_certificate(layout.pki_dir, options.controller_host)
        _write_kme_configs(
            layout, scenario, scenario_path, ports, controller_url, options, create=not resuming
        )
        state = _start(layout, scenario, sockets, ports, controller_url, tls, options, started)
        _wait_ready(layout, state, options.timeout_s, progress)
    except BaseException:
        stop_processes([p.pid for p in started], str(layout.root))
        layout.state_file.unlink(missing_ok=True)
        raise
    finally:
        for sock in sockets.values():
            sock.close()
    return state


def down(state_dir: Path, *, timeout_s: float = 10.0) -> list[ProcessRecord]:
    """Stop every process of the network in ``state_dir``; return those that were running.

    A network already stopped stops nothing (an empty list); a directory that never held one is an error.
    """
    layout = StateDir(state_dir.resolve())
    if not layout.state_file.exists() and layout.scenario_file.exists() and layout.plan_file.exists():
        return []
    state = read_state(layout)
    marker = str(layout.root)
    running = [p for p in state.processes if is_running(p.pid, marker)]
    for role in ("engine", "site"):  # the engines first: they retry what a stopped site did not take
        stop_processes([p.pid for p in running if p.role == role], marker, timeout_s=timeout_s)
    stop_processes([p.pid for p in running if p.role == "controller"], marker, timeout_s=timeout_s)
    layout.state_file.unlink(missing_ok=True)
    return running


def attack(state_dir: Path, link: str, *, intercept_resend: float, cut: bool = False) -> ChannelEvent:
    """Put an intercept-resend eavesdropper on a fraction of ``link``'s pulses (0 takes it off).

    The change applies from a block two ticks ahead, so both ends of the link, which read it separately,
    apply it to the same blocks. ``cut=True`` cuts the fibre instead.
    """
    if not 0.0 <= intercept_resend <= 1.0:
        raise LaunchError(f"the intercept-resend fraction must lie in [0, 1], got {intercept_resend}")
    layout = StateDir(state_dir.resolve())
    read_state(layout)
    plans = read_plans(layout)
    plan = plans.get(link)
    if plan is None:
        raise UnknownLinkError(f"unknown link {link!r}; the network's links are: {', '.join(plans)}")
    event = ChannelEvent(plan.blocks_due(time.time()) + 2, intercept_resend, cut)
    append_channel_event(layout, link, event)
    return event


# -- preparing the state directory ----------------------------------------------------------------------


def _check_log_options(options: LaunchOptions) -> None:
    if options.log_level not in LOG_LEVELS:
        raise LaunchError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {options.log_level!r}")
    if options.log_max_bytes < 1024 or options.log_backups < 0:
        raise LaunchError(
            f"log_max_bytes must be >= 1024 and log_backups >= 0, got {options.log_max_bytes} and "
            f"{options.log_backups}"
        )


def _stopped_here(layout: StateDir, scenario_path: Path) -> bool:
    """Whether ``layout`` holds a stopped network of this very scenario, which ``up`` then resumes.

    Raises
    ------
    LaunchError
        If the network there still runs, or was launched from another scenario.
    """
    if not (layout.scenario_file.exists() and layout.plan_file.exists()):
        return False
    if layout.state_file.exists():
        state = read_state(layout)
        if any(is_running(p.pid, str(layout.root)) for p in state.processes):
            raise LaunchError(
                f"{layout.root} runs a network already; stop it first with 'openqci network down'"
            )
        layout.state_file.unlink()
    if layout.scenario_file.read_bytes() != scenario_path.read_bytes():
        raise LaunchError(
            f"{layout.root} holds a network launched from another scenario file; "
            "give a new or empty state directory, or the scenario it was launched from"
        )
    return True


def _resume_plans(layout: StateDir, options: LaunchOptions) -> None:
    """Carry every link on from a block both ends will reach after restarting (the downtime made no key).

    The schedule (epoch, tick) stays, so block indices and the block IDs derived from them never repeat;
    the rates take this launch's options.
    """
    now = time.time()
    plans = [
        replace(
            plan,
            speedup=options.speedup,
            intake_cap_bps=options.intake_cap_bps,
            first_block=plan.blocks_due(now) + 2,
        )
        for plan in read_plans(layout).values()
    ]
    write_plans(layout, plans)


def _prepare(layout: StateDir, scenario_path: Path, scenario: Scenario, options: LaunchOptions) -> None:
    if layout.root.exists() and any(layout.root.iterdir()):
        raise LaunchError(f"{layout.root} is not empty; give a new or empty state directory")
    if options.kmes_per_process < 1 or options.speedup <= 0 or options.tick_s <= 0:
        raise LaunchError("kmes_per_process must be >= 1, and speedup and tick_s > 0")
    _check_log_options(options)
    layout.root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(scenario_path, layout.scenario_file)
    write_secret(layout.token_file, secrets.token_urlsafe(32).encode())
    try:
        init_pki(layout.pki_dir, [s.name for s in scenario.kme_sites], [s.name for s in scenario.saes])
    except KmsError as error:
        raise LaunchError(f"cannot create the PKI: {error}") from None
    epoch_s = time.time()
    base = scenario_path.resolve().parent
    plans = [
        replace(
            plan_link(
                scenario,
                link,
                speedup=options.speedup,
                intake_cap_bps=options.intake_cap_bps,
                tick_s=options.tick_s,
                epoch_s=epoch_s,
                unit_bits=options.unit_bits,
            ),
            folders={
                end: str(base / device.folder)
                for end, device in (link.devices or {}).items()
                if isinstance(device, FilesDevice)
            },
        )
        for link in scenario.links
    ]
    for link in scenario.links:
        write_secret(layout.seed_file(link.name), os.urandom(SEED_BYTES))
    for plan in plans:
        for folder in plan.folders.values():
            Path(folder).mkdir(parents=True, exist_ok=True, mode=0o700)
    write_plans(layout, plans)


def _write_kme_configs(
    layout: StateDir,
    scenario: Scenario,
    scenario_path: Path,
    ports: dict[str, int],
    controller_url: str,
    options: LaunchOptions,
    *,
    create: bool,
) -> None:
    """Write each KME's configuration for this launch's ports (and, on a first launch, its master key)."""
    for site in scenario.kme_sites:
        directory = layout.kme_dir(site.name)
        if create:
            directory.mkdir(parents=True)
            write_master_key(directory / "master.key")
        layout.kme_config(site.name).write_text(
            yaml.safe_dump(
                _kme_document(layout, scenario, scenario_path, site.name, ports, controller_url, options)
            )
        )


def _kme_document(
    layout: StateDir,
    scenario: Scenario,
    scenario_path: Path,
    kme: str,
    ports: dict[str, int],
    controller_url: str,
    options: LaunchOptions,
) -> dict[str, Any]:
    """One KME's configuration (format of :mod:`openqci.kms.config`).

    Its SAEs, its fibre neighbours as peers (with the QKD device of an ``etsi014`` link as the peer's key
    source), and for key relay the controller's routes endpoint and the SAEs of every other KME.
    """
    pki = layout.pki_dir
    saes_of = {
        site.name: [sae.name for sae in scenario.saes if sae.kme == site.name] for site in scenario.kme_sites
    }
    peers = []
    for link in scenario.links:
        if kme in (link.site_a, link.site_b):
            other = link.site_b if link.site_a == kme else link.site_a
            peer: dict[str, Any] = {
                "kme_id": other,
                "url": f"https://127.0.0.1:{ports[other]}",
                "certificate": str(pki / f"{other}.pem"),
                "link_id": link.name,
                "saes": saes_of[other],
            }
            mine, theirs = (link.devices or {}).get(kme), (link.devices or {}).get(other)
            if isinstance(mine, Etsi014Device) and isinstance(theirs, Etsi014Device):
                peer["source"] = _device_source(mine, theirs, scenario_path.resolve().parent)
            peers.append(peer)
    neighbours = {peer["kme_id"] for peer in peers}
    remote = {sae.name: sae.kme for sae in scenario.saes if sae.kme not in neighbours | {kme}}
    relay: dict[str, Any] = {"controller_url": controller_url, "saes": remote}
    if controller_url.startswith("https://"):
        relay["ca"] = str(pki / "ca.pem")  # the KME's own certificate is its credential at the controller
    else:
        relay["token_file"] = str(layout.token_file)
    return {
        "kme_id": kme,
        "host": "127.0.0.1",
        "port": ports[kme],
        "master_key_file": str(layout.kme_dir(kme) / "master.key"),
        "store": {"sqlite": str(layout.kme_dir(kme) / "keys.sqlite")},
        "tls": {
            "ca": str(pki / "ca.pem"),
            "certificate": str(pki / f"{kme}.pem"),
            "private_key": str(pki / f"{kme}.key"),
        },
        "unit_bits": options.unit_bits,
        "saes": [{"sae_id": sae, "certificate": str(pki / f"{sae}.pem")} for sae in saes_of[kme]],
        "peers": peers,
        "relay": relay,
    }


def _device_source(mine: Etsi014Device, theirs: Etsi014Device, base: Path) -> dict[str, Any]:
    """The ``source`` of a KME's peer entry for a link whose key comes from ETSI GS QKD 014 devices."""
    return {
        "kind": "etsi014",
        "url": mine.url,
        "sae_id": mine.sae_id,
        "peer_sae_id": theirs.sae_id,
        "ca": str(base / mine.ca),
        "certificate": str(base / mine.certificate),
        "private_key": str(base / mine.private_key),
        "key_size": mine.key_size,
    }


# -- starting and waiting -------------------------------------------------------------------------------


def _start(
    layout: StateDir,
    scenario: Scenario,
    sockets: dict[str, socket.socket],
    ports: dict[str, int],
    controller_url: str,
    tls: ControllerTls | None,
    options: LaunchOptions,
    started: list[ProcessRecord],
) -> NetworkState:
    """Start the controller and the site processes; ``started`` lists them as they start."""
    root = str(layout.root)
    controller = sockets["controller"]
    tls_args = [] if tls is None else [
        "--tls-certificate", str(tls.certificate), "--tls-key", str(tls.private_key), "--tls-ca", str(tls.ca)
    ]  # fmt: skip
    ca_args = [] if tls is None else ["--controller-ca", str(tls.ca)]
    pid = spawn(
        "openqci.network.controller_server",
        [
            "--state-dir",
            root,
            "--fd",
            str(controller.fileno()),
            *tls_args,
            *options.log_arguments(layout, "controller"),
        ],
        log=layout.stderr_file("controller"),
        sockets=[controller],
    )
    started.append(ProcessRecord("controller", "controller", pid, (), (ports["controller"],)))
    names = [site.name for site in scenario.kme_sites]
    for first in range(0, len(names), options.kmes_per_process):
        group = names[first : first + options.kmes_per_process]
        listen = [arg for kme in group for arg in ("--kme", f"{kme}={sockets[kme].fileno()}")]
        name = group[0] if len(group) == 1 else f"{group[0]}+{len(group) - 1}"
        pid = spawn(
            "openqci.network.site",
            [
                "--state-dir",
                root,
                "--controller",
                controller_url,
                *ca_args,
                *listen,
                *options.log_arguments(layout, name),
            ],
            log=layout.stderr_file(name),
            sockets=[sockets[kme] for kme in group],
        )
        started.append(
            ProcessRecord(f"site-{group[0]}", "site", pid, tuple(group), tuple(ports[k] for k in group))
        )
    for link in scenario.links:
        if link.source == KeySourceKind.ENGINE:
            name = f"engine-{link.name}"
            with bind_loopback() as probes:  # its /metrics and /health
                pid = spawn(
                    "openqci.network.engine",
                    [
                        *("--state-dir", root, "--link", link.name, "--probe-fd", str(probes.fileno())),
                        *options.log_arguments(layout, name),
                    ],
                    log=layout.stderr_file(name),
                    sockets=[probes],
                )
                port = int(probes.getsockname()[1])
            started.append(ProcessRecord(name, "engine", pid, (link.site_a, link.site_b), (port,)))
    kme_urls = {name: f"https://127.0.0.1:{ports[name]}" for name in names}
    state = NetworkState(scenario.name, controller_url, kme_urls, tuple(started), time.time())
    write_state(layout, state)
    return state


def _wait_ready(layout: StateDir, state: NetworkState, timeout_s: float, progress: Progress | None) -> None:
    """Poll the controller until every node and link is up; fail fast if a process dies."""
    deadline = time.monotonic() + timeout_s
    with ControllerClient.for_url(layout, state.controller_url) as client:
        while True:
            _check_alive(layout, state)
            ready, total, waiting = _readiness(client)
            if progress is not None:
                progress(ready, total, waiting)
            if ready == total:
                return
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"the network did not come up within {timeout_s:g} s; still waiting for {waiting}"
                )
            time.sleep(0.25)


def _readiness(client: ControllerClient) -> tuple[int, int, str]:
    try:
        document = client.state()
    except LaunchError:
        return 0, 1, "the controller"
    nodes = [n["qkdn_id"] for n in document["nodes"] if n["qkdn_status"] != "up"]
    links = [link["qkdl_id"] for link in document["links"] if link["qkdl_status"] != "up"]
    total = len(document["nodes"]) + len(document["links"])
    waiting = ", ".join([*nodes, *links][:4]) + (" ..." if len(nodes) + len(links) > 4 else "")
    return total - len(nodes) - len(links), total, waiting or "nothing"


def _check_alive(layout: StateDir, state: NetworkState) -> None:
    for process in state.processes:
        if not is_running(process.pid, str(layout.root)):
            name = process.name if process.role != "site" else _log_name(process)
            log, stderr = layout.log_file(name), layout.stderr_file(name)
            tail = (
                "".join(f.read_text(errors="replace")[-2000:] for f in (log, stderr) if f.exists())
                or "(no log)"
            )
            raise LaunchError(
                f"{process.name} (pid {process.pid}) exited during start-up; log {log}:\n{tail}"
            )


def _log_name(process: ProcessRecord) -> str:
    return process.kmes[0] if len(process.kmes) == 1 else f"{process.kmes[0]}+{len(process.kmes) - 1}"
