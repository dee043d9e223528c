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
