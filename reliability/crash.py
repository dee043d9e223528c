"""Crash campaign: KMEs killed with SIGKILL at random moments under mixed traffic, on both store backends.

kme-a and kme-b run as processes (:mod:`reliability.cluster`) with stores filled with the same KeyBlocks.
Masters at both KMEs ask for direct keys and kme-a's master for relayed keys, while slaves retrieve them;
every so often one KME, chosen at random, is killed and started again. After each restart both ends'
pools are compared and consumed units checked for wiped material; at the end every key a master holds is
asked for at its slave's KME (:meth:`~reliability.ledger.KeyLedger.sweep`), and the store files left by a
last SIGKILL are searched for the sealed bytes of units consumed during the run.
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from openqci.kms.config import KmeConfig
from reliability.cluster import KMES, RELAYED, Pair, process_rss_mb, start_pair
from reliability.ledger import Held, KeyLedger
from reliability.outcome import Clock, Outcome, growth_per_hour
from reliability.services import postgres_or_skip
from reliability.stores import (
    StoreUnreadableError,
    check_pools,
    check_wiped,
    consumed_left_in_files,
    integrity,
    snapshot_sealed,
    store_bytes,
    wal_bytes,
)
from reliability.traffic import Flow, Traffic
from tests.kms.conftest import Backend

__all__ = ["FLOWS", "NETWORK_FLOWS", "run_crash", "run_trusted_node_crash"]

FLOWS = [
    Flow("sae-a1", "kme-a", "sae-b1", "kme-b", most=3, label="direct"),
    Flow("sae-a2", "kme-a", RELAYED, "kme-b", most=2, label="relay"),
    Flow("sae-b1", "kme-b", "sae-a1", "kme-a", most=3, label="direct"),
]
LINK = "link-ab"


def run_crash(backend_name: str, *, kills: int, budget_s: float, seed: int, sample: int = 200) -> Outcome:
    """Kill kme-a or kme-b ``kills`` times (or until ``budget_s`` runs out) and check every invariant."""
    outcome = Outcome(f"crash: SIGKILL of KMEs ({backend_name})")
    clock = Clock(budget_s)
    if backend_name == "postgres" and not postgres_or_skip(outcome):
        return outcome
    rng = random.Random(seed)
    backend = Backend(backend_name)
    root = Path(tempfile.mkdtemp(prefix=f"openqci-crash-{backend_name}-"))
    try:
        pair = start_pair(root, backend, blocks=48)
        try:
            _campaign(pair, outcome, clock, kills, rng, sample)
        finally:
            pair.stop()
    finally:
        backend.drop()
        shutil.rmtree(root, ignore_errors=True)
    outcome.duration_s = clock.elapsed()
    return outcome


def _campaign(
    pair: Pair, outcome: Outcome, clock: Clock, kills: int, rng: random.Random, sample: int
) -> None:
    before = {name: snapshot_sealed(pair.configs[name], LINK) for name in KMES}
    ledger = KeyLedger()
    traffic = Traffic(outcome, ledger, FLOWS, pair.client, rng=rng, pause_s=0.01)
    traffic.start()
    times: list[float] = []
    sizes: list[float] = []
    wals: list[float] = []
    rss: list[float] = []
    try:
        while outcome.faults < kills and clock.left() > 20:
            time.sleep(rng.uniform(0.2, 1.5))
            victim = rng.choice(KMES)
            rss.append(process_rss_mb(pair.processes[victim].pid))
            pair.kill(victim)
            outcome.faults += 1
            pair.start(victim)
            ends = (pair.configs["kme-a"], pair.configs["kme-b"])
            check_pools(outcome, ends, LINK)
            for config in ends:
                check_wiped(outcome, config, LINK)
            times.append(clock.elapsed())
            sizes.append(sum(store_bytes(c) for c in ends))
            wals.append(sum(wal_bytes(c) for c in ends))
    finally:
        traffic.stop()
    _finish(pair, outcome, ledger, before, sample, rng)
    outcome.rss_mb = max(rss, default=None)
    outcome.store_mb_per_hour = growth_per_hour(times, sizes)
    outcome.wal_mb_per_hour = growth_per_hour(times, wals)
    if wals:
        outcome.notes.append(f"largest WAL seen after a restart: {max(wals) / 1e6:.1f} MB (both KMEs)")


def _finish(
    pair: Pair,
    outcome: Outcome,
    ledger: KeyLedger,
    before: dict[str, dict[str, bytes]],
    sample: int,
    rng: random.Random,
) -> None:
    """The end-of-run checks: every held key retrievable once, then the files a last SIGKILL leaves."""

    clients: dict[tuple[str, str], httpx.Client] = {}

    def fetch(held: Held, key_ids: list[str]) -> httpx.Response:
        where = (held.slave_kme, held.slave)
        client = clients.get(where) or clients.setdefault(where, pair.client(*where))
        body = {"key_IDs": [{"key_ID": k} for k in key_ids]}
        return client.post(f"/api/v1/keys/{held.master}/dec_keys", json=body)

    started = time.monotonic()
    ledger.sweep(outcome, fetch)
    for client in clients.values():
        client.close()
    outcome.notes.append(f"final sweep {time.monotonic() - started:.1f} s")
    outcome.notes.append(
        f"{len(ledger.delivered)} keys delivered, {len(ledger.fetched)} retrieved during the run, "
        f"{len(ledger.in_doubt)} in doubt"
    )
    if pair.tracebacks():
        outcome.violate("a KME wrote a Python traceback to its log")
    for name in KMES:
        pair.kill(name)
    searched = found = 0
    for name in KMES:
        config = pair.configs[name]
        check_wiped(outcome, config, LINK)
        if config.store.sqlite is not None:
            n, f = consumed_left_in_files(outcome, config, LINK, before[name], sample=sample, rng=rng)
            searched, found = searched + n, found + f
    if searched:
        outcome.notes.append(
            f"sealed bytes of {found} of {searched} sampled consumed units still in the store files"
        )


NETWORK_FLOWS = [
    Flow("sae-west", "kme1", "sae-middle", "kme2", most=3, label="direct"),
    Flow("sae-west", "kme1", "sae-east", "kme3", most=1, label="relay"),
    Flow("sae-east", "kme3", "sae-west", "kme1", most=1, label="relay"),
]


def run_trusted_node_crash(*, kills: int, budget_s: float, seed: int) -> Outcome:
    """SIGKILL the site processes of a launched line, the trusted node kme2 half of the time."""
    from reliability import network

    outcome = Outcome("crash: SIGKILL of trusted nodes and end KMEs (launched line, sqlite)")
    clock = Clock(budget_s)
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="openqci-crash-net-"))
    try:
        with network.launched_line3(root, "--intake-cap", "262144") as state_dir:
            ledger = KeyLedger()
            traffic = Traffic(
                outcome, ledger, NETWORK_FLOWS, network.client_factory(state_dir), rng=rng, pause_s=0.02
            )
            kmes = network.configs(state_dir)
            traffic.start()
            rss: list[float] = []
            try:
                while outcome.faults < kills and clock.left() > 25:
                    time.sleep(rng.uniform(0.5, 2.0))
                    victim = "kme2" if rng.random() < 0.5 else rng.choice(["kme1", "kme3"])
                    rss.append(process_rss_mb(network.site_pid(state_dir, victim)))
                    network.kill_site(state_dir, victim)
                    outcome.faults += 1
                    network.restart_site(state_dir, victim)
                    _check_links(outcome, kmes, network.LINKS)
            finally:
                traffic.stop()
            check_network_at_end(outcome, ledger, state_dir, kmes)
            logs = (state_dir / "logs").glob("*.log")
            if any("Traceback" in p.read_text(errors="replace") for p in logs):
                outcome.notes.append("a site process logged a traceback (see its log)")
            outcome.rss_mb = max(rss, default=None)
            outcome.notes.append(
                f"{len(ledger.delivered)} keys delivered, {len(ledger.fetched)} retrieved during the run, "
                f"{len(ledger.in_doubt)} in doubt"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    outcome.duration_s = clock.elapsed()
    return outcome


def check_network_at_end(
    outcome: Outcome, ledger: KeyLedger, state_dir: Path, kmes: dict[str, KmeConfig]
) -> None:
    """What a campaign on the launched line checks once its traffic stopped: every key still held is
    retrieved (or found consumed) at its slave's KME, the pools and wiping of every link, and each store's
    SQLite integrity."""
    from reliability import network

    factory = network.client_factory(state_dir)
    clients: dict[tuple[str, str], httpx.Client] = {}

    def fetch(held: Held, key_ids: list[str]) -> httpx.Response:
        where = (held.slave_kme, held.slave)
        client = clients.get(where) or clients.setdefault(where, factory(*where))
        body = {"key_IDs": [{"key_ID": k} for k in key_ids]}
        return client.post(f"/api/v1/keys/{held.master}/dec_keys", json=body)

    ledger.sweep(outcome, fetch)
    for client in clients.values():
        client.close()
    _check_links(outcome, kmes, network.LINKS)
    for config in kmes.values():
        verdict = integrity(config)
        if verdict != "ok":
            outcome.violate(f"SQLite integrity_check of {config.kme_id}'s store: {verdict[:200]}")


def _check_links(outcome: Outcome, kmes: dict[str, KmeConfig], links: dict[str, tuple[str, str]]) -> None:
    """Pools and wiping on every link; a store that cannot be read is a violation with SQLite's words."""
    for link, (a, b) in links.items():
        try:
            check_pools(outcome, (kmes[a], kmes[b]), link)
            check_wiped(outcome, kmes[a], link)
            check_wiped(outcome, kmes[b], link)
        except StoreUnreadableError as error:
            outcome.violate(f"a store could not be read after a restart: {error}")
