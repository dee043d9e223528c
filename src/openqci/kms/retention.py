"""Retention: the background task that expires unused keys and deletes rows a KME no longer needs.

A KME runs for months, so what its store keeps must stop growing once the traffic is steady. Every
``interval_s`` the pruner asks the store (:meth:`openqci.kms.sqlstore.SqlKeyStore.prune`) to expire the
slave-side keys no SAE took within ``key_expiry_s`` and to delete what was consumed, expired or written
more than ``retention_s`` ago. Each call goes through the KME's group committer like any request and does
at most ``batch_rows`` rows per table, so it holds the single writer only briefly; a round repeats the
call while a table still fills its batch (up to :data:`MAX_BATCHES_PER_ROUND`), yielding to the queued
requests in between. On PostgreSQL the deletes are short transactions that autovacuum cleans up behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

from openqci.kms.committer import GroupCommitter
from openqci.kms.config import StoreConfig
from openqci.kms.records import PruneReport
from openqci.kms.store import KeyStore

__all__ = ["MAX_BATCHES_PER_ROUND", "Pruner", "RetentionPolicy"]

_log = logging.getLogger(__name__)

MAX_BATCHES_PER_ROUND = 64
"""Store calls one round makes at most; what is left waits for the next round."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How long a KME keeps what it no longer needs (the ``store`` section's keys of the same names)."""

    retention_s: float = 86_400.0
    key_expiry_s: float = 86_400.0
    interval_s: float = 1.0
    batch_rows: int = 1000

    @classmethod
    def from_config(cls, store: StoreConfig) -> RetentionPolicy:
        """The policy a KME's ``store`` configuration sets."""
        return cls(store.retention_s, store.key_expiry_s, store.prune_interval_s, store.prune_batch_rows)


class Pruner:
    """Runs the retention policy against one store, through the KME's group committer."""

    def __init__(
        self,
        store: KeyStore,
        committer: GroupCommitter,
        policy: RetentionPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.policy = policy
        self.total = PruneReport()
        self._store = store
        self._committer = committer
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the rounds on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever(), name="kms-retention")

    async def stop(self) -> None:
        """Stop after the store call in progress."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> PruneReport:
        """One round: store calls until no table fills its batch; returns what the round removed."""
        policy, done = self.policy, PruneReport()
        for _ in range(MAX_BATCHES_PER_ROUND):
            report = await self._committer.call(
                self._store.prune,
                now_s=self._clock(),
                retention_s=policy.retention_s,
                key_expiry_s=policy.key_expiry_s,
                batch_rows=policy.batch_rows,
            )
            done = _add(done, report)
            if max(getattr(report, f.name) for f in fields(report)) < policy.batch_rows:
                break
            await asyncio.sleep(0)  # let the requests queued meanwhile reach the writer first
        self.total = _add(self.total, done)
        return done

    async def _forever(self) -> None:
        while True:
            try:
                report = await self.run_once()
            except Exception as error:  # the store failed this round: the next one tries again
                _log.warning("retention round failed: %s: %s", type(error).__name__, error)
            else:
                if report.rows:
                    _log.debug("retention: %s", report)
            await asyncio.sleep(self.policy.interval_s)

    def __repr__(self) -> str:
        return f"Pruner({self.policy})"


def _add(a: PruneReport, b: PruneReport) -> PruneReport:
    return PruneReport(*(getattr(a, f.name) + getattr(b, f.name) for f in fields(a)))
