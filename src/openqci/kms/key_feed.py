"""Feeding a KME's key store from a key file folder, each block exactly once (``openqci kms feed``).

Exactly once rests on two facts. Adding a block is one store transaction and idempotent: the IDs of its
units derive from the block ID, and a unit already stored is skipped (``ON CONFLICT DO NOTHING``). And a
pair's files are removed only after that transaction committed. So a kill before the commit leaves the
pair whole, for the next run to add; a kill after it leaves the whole pair (added again: no new unit,
then removed) or the mark of an interrupted removal, which the next scan finishes
(:mod:`openqci.kms.key_files`). No block is lost, none is stored twice, and none is stored in part.

A KME whose pool of the link is full (``max_key_count``, given to the feeder as ``max_free_units``) takes
no new block: the feeder then stops, leaving that pair and the later ones in the folder, as a device's
key waits while its KMS is full, and a later run (or the next look of a watch) takes them once key is
consumed.

The feeder opens the store like any other process: SQLite takes its write lock per transaction and waits
up to 30 s for it (the connection's busy timeout), so it runs beside ``openqci kms serve`` on the same
file, which holds the lock only while a group of requests commits.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from openqci.kms.config import KmeConfig
from openqci.kms.errors import KeyFileError, KmsError, PoolFullError, StoreError
from openqci.kms.key_files import FilePair, KeyFileSource, Refusal
from openqci.kms.store import KeyStore
from openqci.kms.units import owned_parity

__all__ = ["FeedReport", "Feeder", "Ingested", "folder_link"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ingested:
    """A pair whose block is in the store and whose files are gone."""

    name: str
    block_id: uuid.UUID
    units_added: int


@dataclass
class FeedReport:
    """What a run of the feeder did: pairs ingested, units they added, pairs refused.

    ``itemised`` reports keep each pair ingested; the totals of a watch keep only the counts, since a
    watch may run for months (refusals are kept: they grow no faster than ``rejected/``).
    """

    itemised: bool = True
    files_ingested: int = 0
    units_added: int = 0
    held: bool = False
    """The KME's pool was full: pairs were left in the folder for a later run."""
    ingested: list[Ingested] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    def add(self, done: Ingested) -> None:
        """Count one pair ingested."""
        self.files_ingested += 1
        self.units_added += done.units_added
        if self.itemised:
            self.ingested.append(done)

    def extend(self, other: FeedReport) -> None:
        """Add ``other``'s counts, refusals and (if itemised) pairs to this report."""
        self.files_ingested += other.files_ingested
        self.units_added += other.units_added
        self.held = other.held
        if self.itemised:
            self.ingested.extend(other.ingested)
        self.refused.extend(other.refused)

    def record(self) -> dict[str, Any]:
        """The report as a JSON-ready mapping (``ingested`` lists the pairs of an itemised report)."""
        record: dict[str, Any] = {
            "files_ingested": self.files_ingested,
            "units_added": self.units_added,
            "held_pool_full": self.held,
        }
        if self.itemised:
            record["ingested"] = [
                {"file": i.name, "block_id": str(i.block_id), "units_added": i.units_added}
                for i in self.ingested
            ]
        record["refused"] = [{"file": r.name, "reason": r.reason} for r in self.refused]
        return record


def folder_link(config: KmeConfig, link_id: str | None) -> tuple[str, int]:
    """Return the link a folder feeds and the parity of the units this KME allocates on it.

    The link is ``link_id``, or the KME's only link when it is not given.

    Raises
    ------
    KeyFileError
        If the link is not configured, or the KME has several and none was named.
    """
    links = {p.link_id: p.kme_id for p in config.peers}
    if link_id is None:
        if len(links) != 1:
            raise KeyFileError(
                f"{config.kme_id} has {len(links)} links ({', '.join(sorted(links)) or 'none'}): "
                "name the folder's with --link"
            )
        [link_id] = links
    if link_id not in links:
        raise KeyFileError(f"link {link_id!r} is not configured at {config.kme_id}; known: {sorted(links)}")
    return link_id, owned_parity(config.kme_id, links[link_id])


class Feeder:
    """Moves the blocks of a :class:`KeyFileSource` into a key store, then removes their files."""

    def __init__(
        self,
        source: KeyFileSource,
        store: KeyStore,
        *,
        unit_bits: int,
        parity: int,
        max_free_units: int | None = None,
    ) -> None:
        self._source = source
        self._store = store
        self._unit_bits = unit_bits
        self._parity = parity
        self._max_free_units = max_free_units

    def once(
        self,
        *,
        stop: Callable[[], bool] = lambda: False,
        on_ingested: Callable[[Ingested], None] | None = None,
    ) -> FeedReport:
        """Ingest every valid pair in the folder now and refuse the bad ones; return what was done.

        ``stop`` is asked between blocks: a block started is always finished (committed, files removed).
        A full pool ends the run early with ``held`` set; the pairs not taken stay in the folder.

        Raises
        ------
        StoreError
            If the store refused a block (its files are left for a later run).
        KeyFileError
            If the folder cannot be read, or a pair cannot be moved or removed.
        """
        report = FeedReport()
        while not stop():
            scan = self._source.scan()
            report.refused.extend(scan.refused)
            for number, pair in enumerate(scan.pairs):
                stopping = stop()
                done = None if stopping else self._ingest(pair)
                if done is None:  # told to stop, or the pool is full: the rest waits in the folder
                    for left in scan.pairs[number:]:
                        self._source.requeue(left.block)
                    report.held = not stopping
                    return report
                report.add(done)
                if on_ingested is not None:
                    on_ingested(done)
            if scan.complete:
                break
        return report

    def watch(
        self,
        *,
        interval_s: float,
        stop: Callable[[], bool],
        on_round: Callable[[FeedReport], None] | None = None,
    ) -> FeedReport:
        """Ingest what arrives, looking every ``interval_s`` seconds until ``stop()``; return the totals.

        A round that fails (the store busy beyond its timeout, the folder gone) is logged and tried again
        at the next look; ``on_round`` gets each round that ingested or refused something.
        """
        total = FeedReport(itemised=False)
        while not stop():
            try:
                report = self.once(stop=stop)
            except KmsError as error:
                _log.error("feeding from %s: %s; next try in %g s", self._source.folder, error, interval_s)
            else:
                total.extend(report)
                if on_round is not None and (report.files_ingested or report.refused):
                    on_round(report)
            _pause(interval_s, stop)
        return total

    def _ingest(self, pair: FilePair) -> Ingested | None:
        """Add one block in one transaction; remove its files only once that transaction committed.

        Returns None, changing nothing, when the KME's pool is full.
        """
        try:
            added = self._store.add_block(
                pair.block,
                unit_bits=self._unit_bits,
                parity=self._parity,
                max_free_units=self._max_free_units,
            )
        except PoolFullError:
            return None
        except Exception as error:  # any store failure: the files stay for a later run
            self._source.requeue(pair.block)
            raise StoreError(
                f"the key store did not take {pair.name} ({type(error).__name__}: {error}); "
                "its files are kept for the next run"
            ) from None
        self._source.remove(pair.block)
        return Ingested(pair.name, pair.block.block_id, added)


def _pause(seconds: float, stop: Callable[[], bool]) -> None:
    """Sleep ``seconds`` in short steps, returning early once ``stop()`` (a signal handler may set it)."""
    deadline = time.monotonic() + seconds
    while not stop():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.05))
