"""Under sustained enc_keys load the write-ahead log stays under its cap and the store stops growing.

Two KMEs in one process serve their SAEs in both directions (each master's keys taken at the other KME,
a quarter of them never, so they expire), with pushers and retention pruners running and both stores
fed whenever a half of the pool runs low. With the retention period and key expiry shortened, the rows
(and, on SQLite, the database's size) sampled once both have passed stay flat to the end: what remains
is a small part of what was served. The log stays under ``store.max_wal_bytes`` throughout. Before
retention existed every row stayed, so the store grew with the keys served.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from openqci.kms.config import StoreConfig
from tests.kms.conftest import Backend, query_store
from tests.kms.harness import InProcess, in_process, make_site

pytestmark = pytest.mark.anyio

RETENTION_S = 1.0
KEY_EXPIRY_S = 1.0
MAX_WAL_BYTES = 64 << 20
TABLES = ("units", "keys", "deliveries", "relays")
PAIRS = (("kme-a", "sae-a1", "kme-b", "sae-b1"), ("kme-b", "sae-b1", "kme-a", "sae-a1"))


@dataclass
class _Samples:
    rows: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)
    in_use: list[int] = field(default_factory=list)
    wal_peak: int = 0
    served: int = 0


def _shorten_retention(env_root: Path, config_paths: dict[str, Path]) -> None:
    for path in config_paths.values():
        document = yaml.safe_load(path.read_text())
        document["store"] |= {
            "retention_s": RETENTION_S,
            "key_expiry_s": KEY_EXPIRY_S,
            "prune_interval_s": 0.2,
            "max_wal_bytes": MAX_WAL_BYTES,
        }
        path.write_text(yaml.safe_dump(document))


def _store_of(env: InProcess, name: str) -> StoreConfig:
    return env.kmes[name].config.store


def _rows(store: StoreConfig) -> int:
    """Rows of what is done or waiting for its SAE (the free pool, kept fed, is left out)."""
    done = [f"SELECT count(*) FROM {t}" for t in TABLES if t != "units"]
    done.append("SELECT count(*) FROM units WHERE state <> 0")
    return sum(int(query_store(store, sql)[0][0]) for sql in done)


def _sqlite_bytes(store: StoreConfig) -> tuple[int, int, int]:
    """The database's size as its latest snapshot has it (log included), the part of it in use (its free
    list left out), and the log file's size."""
    assert store.sqlite is not None
    with closing(sqlite3.connect(store.sqlite)) as conn:
        page_bytes = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    wal = Path(f"{store.sqlite}-wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    return int(pages * page_bytes), int((pages - free) * page_bytes), wal_bytes


async def _serve_pair(
    env: InProcess, pair: tuple[str, str, str, str], stop: asyncio.Event, done: list[int]
) -> None:
    master_kme, master, slave_kme, slave = pair
    count = 0
    while not stop.is_set():
        delivery = await env.kmes[master_kme].manager.enc_keys(master, slave, number=4)
        count += 1
        if count % 4:  # every fourth request's keys are never taken: they expire at the slave's KME
            ids = [str(k.key_id) for k in delivery.keys]
            await env.kmes[slave_kme].manager.dec_keys(slave, master, ids)
        done[0] += 4


async def _keep_fed(env: InProcess, stop: asyncio.Event) -> None:
    stores = {name: kme.manager._store for name, kme in env.kmes.items()}
    while not stop.is_set():
        if min(s.available_units("link-ab") for s in stores.values()) < 512:
            await asyncio.to_thread(env.feed, 4)
        await asyncio.sleep(0.02)


async def _sample(env: InProcess, sqlite: bool, samples: _Samples) -> None:
    rows = [await asyncio.to_thread(_rows, _store_of(env, n)) for n in env.kmes]
    samples.rows.append(sum(rows))
    if sqlite:
        sizes = [await asyncio.to_thread(_sqlite_bytes, _store_of(env, n)) for n in env.kmes]
        samples.bytes.append(sum(size for size, _, _ in sizes))
        samples.in_use.append(sum(used for _, used, _ in sizes))
        samples.wal_peak = max(samples.wal_peak, *(wal for _, _, wal in sizes))


async def _sustained_load(tmp_path: Path, backend: Backend, duration_s: float) -> _Samples:
    site = make_site(tmp_path, backend=backend)
    _shorten_retention(tmp_path, site.config_paths)
    env = in_process(site)
    env.feed(8)
    for kme in env.kmes.values():
        kme.manager.start()
    stop, served, samples = asyncio.Event(), [0], _Samples()
    tasks = [asyncio.create_task(_serve_pair(env, p, stop, served)) for p in PAIRS * 2]
    tasks.append(asyncio.create_task(_keep_fed(env, stop)))
    # a key never taken expires, is retained, then pruned; a unit consumed that late holds the units
    # behind it back by up to one more expiry period (SqlKeyStore._prune_units)
    settled_s = RETENTION_S + 2 * KEY_EXPIRY_S + 2.0
    start = time.monotonic()
    try:
        while time.monotonic() - start < duration_s:
            await asyncio.sleep(0.5)
            if time.monotonic() - start >= settled_s:
                await _sample(env, backend.name == "sqlite", samples)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        samples.served = served[0]
        await env.close()
    return samples


def _check_flat(samples: _Samples, name: str, *, file_size: bool) -> None:
    """What was served is mostly gone, the database has not grown, the log stayed under its cap.

    Kept without retention, each key served leaves 3.25 rows behind: per request of four keys, four
    units and a delivery record at the master's KME, four units and four key rows at the slave's.
    """
    print(f"{name}: {samples}")
    assert samples.served >= 100, "the load did not serve enough keys to show anything"
    assert samples.rows[-1] < 1.5 * samples.served, f"{name}: {samples.rows[-1]} rows kept"
    assert samples.wal_peak < MAX_WAL_BYTES  # 0 where there is no SQLite log (PostgreSQL)
    if samples.in_use:
        # the pages in use rise and fall with the rows held; kept rows raise them with the keys served.
        # Second half's mean over the first's, 15 samples in 7.5 s: 0.94 to 1.03 here (once 1.15 on
        # another machine); a store that keeps what it served (retention 1000 s): 1.49 to 1.52.
        half = len(samples.in_use) // 2
        first_mean = sum(samples.in_use[:half]) / half
        second_mean = sum(samples.in_use[half:]) / (len(samples.in_use) - half)
        assert second_mean <= 1.25 * first_mean, f"{name}: the pages in use grew: {samples.in_use}"
    if samples.bytes and file_size:
        # the file only grows (to the most pages ever in use at once), so short runs see its steps while
        # the rows held reach their steady state; over 60 s it is compared half against half.
        # flat: the second half of the samples never tops the first half's largest by more than 10 %; a
        # store keeping what it served grows in proportion to time (1.3x from 7.5 s to 10 s, 1.9x from
        # 32 s to 60 s). The first samples are not the reference: SQLite's pages and free list take some
        # seconds more than the retention period to reach their steady state (2.8 to 3.5 MB over 15 s).
        half = len(samples.bytes) // 2
        first, second = max(samples.bytes[:half]), max(samples.bytes[half:])
        assert second <= 1.1 * first, f"{name}: the database grew: {samples.bytes}"


async def test_under_sustained_load_the_store_stays_flat_after_the_retention_period(
    tmp_path: Path, backend: Backend
) -> None:
    samples = await _sustained_load(tmp_path, backend, duration_s=12.0)
    _check_flat(samples, backend.name, file_size=False)


@pytest.mark.slow
async def test_sixty_seconds_of_enc_keys_keep_the_log_under_its_cap_and_the_store_flat(
    tmp_path: Path, backend: Backend
) -> None:
    samples = await _sustained_load(tmp_path, backend, duration_s=60.0)
    _check_flat(samples, backend.name, file_size=True)
