"""Group commit: store calls from the event loop run on one worker thread, many per durable transaction.

A durable commit costs an fsync (SQLite ``synchronous=FULL``) or a round trip to the server (PostgreSQL).
Made once per request on the event loop's thread, it blocks every other request meanwhile. Here each call
is queued; the worker takes every call waiting, runs each as a savepoint of one transaction
(:meth:`openqci.kms.store.KeyStore.group`), commits once, and only then hands the results back. While one
group commits, the next one gathers, so the group grows with the load and no fixed waiting window is
needed. A call that fails rolls back its own savepoint and gets its own error; a failed commit fails every
call of the group, none of which was answered before.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from openqci.kms.errors import StoreError
from openqci.kms.store import KeyStore

__all__ = ["GroupCommitter"]

T = TypeVar("T")

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Call:
    run: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class GroupCommitter:
    """Runs store calls on one worker thread, committing every call waiting at once as one transaction."""

    def __init__(self, store: KeyStore, *, max_group: int = 512) -> None:
        self.store = store
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    async def call(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run ``function(*args, **kwargs)`` in the next group; return its result once the group committed."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Call(functools.partial(function, *args, **kwargs), loop, future))
        return await future

    def close(self) -> None:
        """Finish the queued calls and stop the worker thread; later calls are refused.

        Closing for good matters: were a call arriving meanwhile (a request still in flight while the KME
        shuts down) to start a second worker, either worker could take the stop sentinel, and the join
        below could wait for ever on the one that did not.
        """
        with self._start_lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._closed:
                raise StoreError("the key store is closing: the KME is shutting down")
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="kms-group-commit", daemon=True)
                self._thread.start()

    def _work(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            calls = [first]
            while len(calls) < self._max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                calls.append(nxt)
            self._settle(calls, self._commit(calls))

    def _commit(self, calls: list[_Call]) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with self.store.group():
                for call in calls:
                    try:
                        outcomes.append((True, call.run()))
                    except Exception as error:  # each call gets its own error, the others go on
                        outcomes.append((False, error))
        except Exception as error:
            _log.error("group commit of %d calls failed: %s", len(calls), type(error).__name__)
            failure = StoreError(f"the key store could not commit: {type(error).__name__}")
            return [(False, failure)] * len(calls)
        return outcomes

    @staticmethod
    def _settle(calls: list[_Call], outcomes: list[tuple[bool, Any]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Call, tuple[bool, Any]]]] = {}
        for call, outcome in zip(calls, outcomes, strict=True):
            by_loop.setdefault(call.loop, []).append((call, outcome))
        for loop, pairs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for these results
                loop.call_soon_threadsafe(_resolve, pairs)

    def __repr__(self) -> str:
        return f"GroupCommitter({self.store!r})"


def _resolve(pairs: list[tuple[_Call, tuple[bool, Any]]]) -> None:
    for call, (ok, value) in pairs:
        if call.future.done():
            continue
        if ok:
            call.future.set_result(value)
        else:
            call.future.set_exception(value)
