"""The outbox pusher: tells a peer KME, in batches and in the background, which keys went to master SAEs.

The master's KME answers enc_keys as soon as one local transaction has consumed the units and written the
delivery record to its outbox. This task pushes the waiting records of one link to the peer in batches;
the peer binds them and confirms, and only confirmed records leave the outbox. Records survive a crash of
either side in the outbox, and a push that is lost or refused is simply repeated (the peer's accept is
idempotent). A slave SAE that asks before the push arrives is served by a pull
(:meth:`openqci.kms.manager.KeyManager.dec_keys`), so the push only has to be eventually complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from openqci.kms.committer import GroupCommitter
from openqci.kms.errors import KmsError
from openqci.kms.peer import PeerClient

__all__ = ["OutboxPusher"]

_log = logging.getLogger(__name__)


class OutboxPusher:
    """Pushes the outbox of one link to its peer KME whenever records wait, retrying with back-off."""

    def __init__(
        self,
        link_id: str,
        client: PeerClient,
        committer: GroupCommitter,
        *,
        batch: int = 256,
        max_push_bytes: int = 1_048_576,
        linger_s: float = 0.02,
        idle_s: float = 2.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self.link_id = link_id
        self._client = client
        self._committer = committer
        self._batch = batch
        self._max_push_bytes = max_push_bytes
        self._linger_s = linger_s
        self._idle_s = idle_s
        self._max_backoff_s = max_backoff_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start pushing on the running event loop, beginning with what a previous run left behind."""
        if self._task is None:
            self._wake = asyncio.Event()
            self._wake.set()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"push {self.link_id}")

    def notify(self) -> None:
        """Say that a new record waits; a started pusher sends it with the next batch."""
        if self._task is not None:
            self._wake.set()

    async def stop(self) -> None:
        """Stop pushing; records still waiting stay in the outbox for the next start (or a pull)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        backoff_s = 0.0
        while True:
            if backoff_s:
                await asyncio.sleep(backoff_s)  # a peer that is down is not hammered at the request rate
            else:
                await _wait(self._wake, self._idle_s)
                await asyncio.sleep(self._linger_s)  # under load, the records of many requests go together
            self._wake.clear()
            try:
                drained = await self._push_all()
            except KmsError as error:
                _log.info("push to the peer on %s failed: %s", self.link_id, error.message)
                drained = False
            backoff_s = 0.0 if drained else min(max(2 * backoff_s, 0.05), self._max_backoff_s)

    async def _push_all(self) -> bool:
        """Push until the outbox is empty (True) or the peer refuses part of a batch (False)."""
        while True:
            records = await self._committer.call(self._committer.store.outbox, self.link_id, self._batch)
            if not records:
                return True
            for chunk in _chunks(records, self._max_push_bytes):
                accepted = await self._client.push(chunk)
                await self._committer.call(self._committer.store.confirm, accepted)
                if len(accepted) < len(chunk):
                    return False
            if len(records) < self._batch:
                return True


def _chunks(records: list[bytes], max_bytes: int) -> list[list[bytes]]:
    """Split ``records`` into pushes of at most ``max_bytes`` of JSON each (a larger record goes alone).

    The peer refuses a request body over its ``serving.max_body_bytes`` (4 MiB by default); a push of 1 MiB
    at most stays well under it whatever the key sizes of the records.
    """
    chunks: list[list[bytes]] = [[]]
    size = 0
    for record in records:
        if chunks[-1] and size + len(record) > max_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(record)
        size += len(record) + 1
    return chunks


async def _wait(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event``, or ``timeout_s`` at most (records refused earlier are retried then)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=timeout_s)
