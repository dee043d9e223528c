"""Group commit: concurrent store calls share one transaction, and each gets its own result or error."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from openqci.kms.committer import GroupCommitter
from openqci.kms.errors import KeyShortageError, StoreError


class CountingStore:
    """Stands in for a key store: counts groups, and can be made to fail its next commit."""

    def __init__(self) -> None:
        self.groups: list[int] = []
        self.calls_in_group = 0
        self.fail_next_commit = False
        self.slow = threading.Event()

    @contextmanager
    def group(self) -> Iterator[None]:
        self.calls_in_group = 0
        yield
        self.slow.wait(0.02)  # a commit takes a while, so calls queue up behind it
        if self.fail_next_commit:
            self.fail_next_commit = False
            raise OSError("disk full")
        self.groups.append(self.calls_in_group)

    def work(self, value: int) -> int:
        self.calls_in_group += 1
        if value < 0:
            raise KeyShortageError("not enough key")
        return 2 * value


def test_concurrent_calls_are_committed_together() -> None:
    store = CountingStore()
    committer = GroupCommitter(store)  # type: ignore[arg-type]

    async def main() -> list[int]:
        return await asyncio.gather(*(committer.call(store.work, i) for i in range(50)))

    assert asyncio.run(main()) == [2 * i for i in range(50)]
    committer.close()
    assert sum(store.groups) == 50
    assert len(store.groups) < 50


def test_a_failing_call_fails_alone_and_a_failed_commit_fails_all() -> None:
    store = CountingStore()
    committer = GroupCommitter(store)  # type: ignore[arg-type]

    async def main() -> list[object]:
        return await asyncio.gather(
            *(committer.call(store.work, v) for v in (1, -1, 3)), return_exceptions=True
        )

    one, short, three = asyncio.run(main())
    assert (one, three) == (2, 6)
    assert isinstance(short, KeyShortageError)
    store.fail_next_commit = True
    with pytest.raises(StoreError, match="could not commit"):
        asyncio.run(committer.call(store.work, 5))
    assert asyncio.run(committer.call(store.work, 5)) == 10
    committer.close()


def test_calls_arriving_while_it_closes_start_no_second_worker_and_close_returns() -> None:
    """A KME shutting down closes its committer in a thread while requests may still arrive: before the
    fix such a call started a second worker, which could take the stop sentinel and leave close() joining
    the first worker for ever (seen as a hung soak test)."""
    store = CountingStore()
    committer = GroupCommitter(store)  # type: ignore[arg-type]

    async def main() -> tuple[list[object], bool]:
        assert await committer.call(store.work, 1) == 2
        closing = asyncio.create_task(asyncio.to_thread(committer.close))
        late = await asyncio.gather(
            *(committer.call(store.work, i) for i in range(20)), return_exceptions=True
        )
        await asyncio.wait_for(closing, timeout=5.0)
        return late, any(t.name == "kms-group-commit" for t in threading.enumerate())

    late, worker_left = asyncio.run(main())
    assert not worker_left
    refused = [r for r in late if isinstance(r, StoreError)]
    assert all("closing" in str(r) for r in refused)
    assert all(r == 2 * i for i, r in enumerate(late) if not isinstance(r, BaseException))
    with pytest.raises(StoreError, match="closing"):
        asyncio.run(committer.call(store.work, 1))
