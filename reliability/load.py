"""Load and soak campaign: sustained mixed traffic on a launched three-KME line, resources sampled.

The line of :mod:`reliability.network` runs with its links making key; masters at both ends ask for direct
and relayed keys while the slaves retrieve them. Every second the campaign samples each site process's
resident memory and open files and each KME's store and write-ahead log sizes; the table gives the p99
latency, the largest resident memory, and the growth per hour of the WAL and of the stores (a line fitted
to the samples after the first fifth of the run, which holds the start-up).
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path

from openqci.kms.config import KmeConfig
from reliability import network
from reliability.cluster import process_open_files, process_rss_mb
from reliability.crash import NETWORK_FLOWS, check_network_at_end
from reliability.ledger import KeyLedger
from reliability.outcome import Clock, Outcome, growth_per_hour
from reliability.stores import store_bytes, wal_bytes
from reliability.traffic import Flow, Traffic

__all__ = ["run_load"]

FLOWS = [*NETWORK_FLOWS, Flow("sae-middle", "kme2", "sae-east", "kme3", most=4, label="direct")]


def run_load(*, duration_s: float, seed: int, label: str = "load") -> Outcome:
    """Run the mixed load for ``duration_s`` seconds and report what the KMEs' resources did."""
    outcome = Outcome(f"{label}: mixed load on a 3-KME line, {duration_s:g} s")
    clock = Clock(duration_s + 120)
    root = Path(tempfile.mkdtemp(prefix="openqci-load-"))
    try:
        with network.launched_line3(root, "--intake-cap", "262144") as state_dir:
            ledger = KeyLedger()
            traffic = Traffic(
                outcome, ledger, FLOWS, network.client_factory(state_dir), rng=random.Random(seed)
            )
            kmes = network.configs(state_dir)
            samples: list[tuple[float, float, float, float, int]] = []
            traffic.start()
            try:
                started = time.monotonic()
                while time.monotonic() - started < duration_s:
                    pids = [network.site_pid(state_dir, k) for k in kmes]
                    samples.append(
                        (
                            time.monotonic() - started,
                            sum(store_bytes(c) for c in kmes.values()),
                            sum(wal_bytes(c) for c in kmes.values()),
                            max(process_rss_mb(p) for p in pids),
                            max(process_open_files(p) for p in pids),
                        )
                    )
                    time.sleep(1.0)
            finally:
                traffic.stop()
            _summarise(outcome, samples)
            _finish(outcome, ledger, state_dir, kmes)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    outcome.duration_s = clock.elapsed()
    return outcome


def _summarise(outcome: Outcome, samples: list[tuple[float, float, float, float, int]]) -> None:
    steady = samples[len(samples) // 5 :]
    times = [s[0] for s in steady]
    outcome.store_mb_per_hour = growth_per_hour(times, [s[1] for s in steady])
    outcome.wal_mb_per_hour = growth_per_hour(times, [s[2] for s in steady])
    outcome.rss_mb = max((s[3] for s in samples), default=None)
    if samples:
        first, last = samples[0], samples[-1]
        outcome.notes.append(
            f"stores {first[1] / 1e6:.1f} -> {last[1] / 1e6:.1f} MB, WAL {first[2] / 1e6:.1f} -> "
            f"{last[2] / 1e6:.1f} MB (largest {max(s[2] for s in samples) / 1e6:.1f}), RSS {first[3]:.0f} -> "
            f"{last[3]:.0f} MB, open files {first[4]} -> {last[4]} (largest site process)"
        )
    if outcome.latencies_s:
        outcome.notes.append(
            f"{len(outcome.latencies_s) / max(samples[-1][0], 1e-9):.0f} requests/s answered"
        )


def _finish(outcome: Outcome, ledger: KeyLedger, state_dir: Path, kmes: dict[str, KmeConfig]) -> None:
    check_network_at_end(outcome, ledger, state_dir, kmes)
    outcome.notes.append(
        f"{len(ledger.delivered)} keys delivered, {len(ledger.fetched)} retrieved during the run"
    )
