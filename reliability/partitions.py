"""Partition campaign: two KMEs in network namespaces of their own, their link cut and healed under traffic.

The run makes two namespaces joined by a veth pair (the KME-to-KME path, with ``tc netem`` delay and loss)
and one veth pair from this namespace to each (the SAEs' path). kme-a and kme-b serve on the addresses of
the joining pair; each namespace's ``/etc/netns/NS/hosts`` maps the other KME's name to its address, so
that the KMEs' certificates (which name ``kme-a`` and ``kme-b``) are checked as usual. Mid-traffic the
link between them is cut (netem drops every packet) and healed, several times. Direct keys must stay
retrievable (by push or pull once healed), relays must fail with 503 while cut (only the direct link is
known, so there is no other route), and nothing may be half-delivered: every key a master holds is
retrievable exactly once at its slave's KME, and both ends hold the same pool. Skipped, with the reason,
where namespaces cannot be made; under CI=true that is a violation.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import yaml

from reliability.cluster import KMES, Pair, start_pair
from reliability.crash import FLOWS, LINK
from reliability.ledger import Held, KeyLedger
from reliability.outcome import Clock, Outcome
from reliability.services import under_ci
from reliability.stores import StoreUnreadableError, check_pools, check_wiped
from reliability.traffic import Traffic
from tests.kms.conftest import Backend, query_store
from tests.kms.harness import Site

__all__ = ["run_partitions"]

NETEM = "delay 5ms 2ms loss 1%"


def run_partitions(*, cuts: int, budget_s: float, seed: int) -> Outcome:
    """Cut and heal the link ``cuts`` times under traffic (or until ``budget_s`` runs out)."""
    outcome = Outcome("partitions: link cut and healed (network namespaces, netem)")
    clock = Clock(budget_s)
    tag = f"oq{os.getpid() % 100000}"
    root = Path(tempfile.mkdtemp(prefix="openqci-partitions-"))
    try:
        with _namespaces(tag) as placement:
            pair = start_pair(root, Backend("sqlite"), blocks=32, placed=placement.place)
            try:
                _campaign(pair, placement, outcome, clock, cuts, random.Random(seed))
            finally:
                pair.stop()
    except _NamespaceError as reason:
        outcome.skipped = f"network namespaces cannot be made here: {reason}"
        if under_ci():
            outcome.violate("network namespaces unavailable under CI=true")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    outcome.duration_s = clock.elapsed()
    return outcome


class _NamespaceError(Exception):
    pass


class _Placement:
    """The namespaces, the KMEs' addresses (on each namespace's loopback) and the link between them."""

    def __init__(self, tag: str) -> None:
        self.ns = {"kme-a": f"{tag}a", "kme-b": f"{tag}b"}
        self.address = {"kme-a": "10.201.0.1", "kme-b": "10.201.0.2"}
        self.link_device = {"kme-a": f"{tag}ab", "kme-b": f"{tag}ba"}
        self.link_address = {"kme-a": "10.201.3.1", "kme-b": "10.201.3.2"}
        self.netem_available = False

    def place(self, site: Site) -> tuple[dict[str, str], dict[str, list[str]]]:
        """Point each KME at its namespace address and at its peer by name."""
        for name, path in site.config_paths.items():
            other = _other(name)
            document = yaml.safe_load(path.read_text())
            document["host"] = self.address[name]
            port = document["peers"][0]["url"].rsplit(":", 1)[1]
            document["peers"][0]["url"] = f"https://{other}:{port}"
            path.write_text(yaml.safe_dump(document))
        return dict(self.address), {k: ["ip", "netns", "exec", ns] for k, ns in self.ns.items()}

    def in_ns(self, name: str, *command: str) -> None:
        _ip(["ip", "netns", "exec", self.ns[name], *command])

    def cut(self) -> None:
        """Take the link down at both ends: the route to the other KME goes with it."""
        for name in KMES:
            self.in_ns(name, "ip", "link", "set", self.link_device[name], "down")

    def heal(self) -> None:
        """Bring the link up again, with its route and (where the kernel has netem) delay and loss."""
        for name in KMES:
            self.in_ns(name, "ip", "link", "set", self.link_device[name], "up")
            other = _other(name)
            self.in_ns(
                name, "ip", "route", "replace", f"{self.address[other]}/32", "via", self.link_address[other]
            )
            if self.netem_available:
                self.in_ns(
                    name,
                    "tc",
                    "qdisc",
                    "replace",
                    "dev",
                    self.link_device[name],
                    "root",
                    "netem",
                    *NETEM.split(),
                )


def _other(name: str) -> str:
    return "kme-b" if name == "kme-a" else "kme-a"


def _ip(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise _NamespaceError(f"{' '.join(command)}: {done.stderr.strip() or done.returncode}")


@contextmanager
def _namespaces(tag: str) -> Iterator[_Placement]:
    placement = _Placement(tag)
    made: list[str] = []
    hosts_dirs: list[Path] = []
    try:
        for ns in placement.ns.values():
            _ip(["ip", "netns", "add", ns])
            made.append(ns)
        a, b = placement.ns["kme-a"], placement.ns["kme-b"]
        _ip(
            [
                "ip",
                "link",
                "add",
                placement.link_device["kme-a"],
                "netns",
                a,
                "type",
                "veth",
                "peer",
                "name",
                placement.link_device["kme-b"],
                "netns",
                b,
            ]
        )
        for i, name in enumerate(KMES, start=1):
            ns, host_dev, ns_dev = placement.ns[name], f"{tag}h{i}", f"{tag}n{i}"
            placement.in_ns(name, "ip", "link", "set", "lo", "up")
            placement.in_ns(name, "ip", "addr", "add", f"{placement.address[name]}/32", "dev", "lo")
            placement.in_ns(
                name,
                "ip",
                "addr",
                "add",
                f"{placement.link_address[name]}/30",
                "dev",
                placement.link_device[name],
            )
            _ip(["ip", "link", "add", host_dev, "type", "veth", "peer", "name", ns_dev, "netns", ns])
            _ip(["ip", "addr", "add", f"10.201.{i}.1/30", "dev", host_dev])
            _ip(["ip", "link", "set", host_dev, "up"])
            placement.in_ns(name, "ip", "addr", "add", f"10.201.{i}.2/30", "dev", ns_dev)
            placement.in_ns(name, "ip", "link", "set", ns_dev, "up")
            _ip(["ip", "route", "add", f"{placement.address[name]}/32", "via", f"10.201.{i}.2"])
            folder = Path("/etc/netns") / ns
            folder.mkdir(parents=True, exist_ok=True)
            hosts_dirs.append(folder)
            other = _other(name)
            (folder / "hosts").write_text(f"127.0.0.1 localhost\n{placement.address[other]} {other}\n")
        placement.netem_available = (
            subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    a,
                    "tc",
                    "qdisc",
                    "add",
                    "dev",
                    placement.link_device["kme-a"],
                    "root",
                    "netem",
                    "delay",
                    "1ms",
                ],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )
        placement.heal()
        yield placement
    except OSError as error:
        raise _NamespaceError(str(error)) from None
    finally:
        for i in (1, 2):
            subprocess.run(["ip", "link", "del", f"{tag}h{i}"], capture_output=True, check=False)
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        for folder in hosts_dirs:
            shutil.rmtree(folder, ignore_errors=True)


def _campaign(
    pair: Pair, placement: _Placement, outcome: Outcome, clock: Clock, cuts: int, rng: random.Random
) -> None:
    ledger = KeyLedger()
    if not placement.netem_available:
        outcome.notes.append("no netem in this kernel (sch_netem): the link ran without added delay or loss")
    traffic = Traffic(outcome, ledger, FLOWS, pair.client, rng=rng, pause_s=0.02)
    traffic.start()
    try:
        while outcome.faults < cuts and clock.left() > 30:
            time.sleep(rng.uniform(1.0, 3.0))
            placement.cut()
            outcome.faults += 1
            time.sleep(rng.uniform(2.0, 5.0))
            placement.heal()
        time.sleep(2.0)
    finally:
        traffic.stop()
    clients: dict[tuple[str, str], httpx.Client] = {}

    def fetch(held: Held, key_ids: list[str]) -> httpx.Response:
        where = (held.slave_kme, held.slave)
        client = clients.get(where) or clients.setdefault(where, pair.client(*where))
        return client.post(
            f"/api/v1/keys/{held.master}/dec_keys", json={"key_IDs": [{"key_ID": k} for k in key_ids]}
        )

    ledger.sweep(outcome, fetch)
    for client in clients.values():
        client.close()
    try:
        check_pools(outcome, (pair.configs["kme-a"], pair.configs["kme-b"]), LINK)
        for config in pair.configs.values():
            check_wiped(outcome, config, LINK)
    except StoreUnreadableError as error:
        outcome.violate(f"a store could not be read: {error}")
    relayed = sum(1 for h in ledger.delivered.values() if h.master == "sae-a2")
    ((stored,),) = query_store(
        pair.configs["kme-b"].store, "SELECT count(*) FROM keys WHERE master_sae = 'sae-a2'"
    )
    outcome.notes.append(
        f"{len(ledger.delivered)} keys delivered; relayed keys: {relayed} held by the master, "
        f"{stored} stored "
        f"at kme-b ({max(stored - relayed, 0)} of failed relays whose void could not cross the cut)"
    )
    if pair.tracebacks():
        outcome.violate("a KME wrote a Python traceback to its log")
