"""A link engine process: one fibre link's real key, delivered to the KMEs at both of its ends.

Started by the launcher as ``python -m openqci.network.engine --state-dir DIR --link LINK``, one process per
engine-run link, in the idle scheduling class, so it runs on the CPU the KMEs leave (a slow engine falls
behind; a starved KME would fail its applications). It runs
:class:`~openqci.network.engine_source.EngineKeySource` in step with the wall clock and sends each block to
both ends over the authenticated local channel of :mod:`openqci.network.intake` (one sender thread per end,
so the next block is made while this one is stored), and reports the link's state to both every second.

Both ends must hold the same blocks or none: a block is written to the link's spool (``DIR/engines/LINK/``,
mode 0600) before it is sent, and removed (overwritten, then unlinked) only once both ends have acknowledged
it. An engine killed in between sends the spooled blocks again when it restarts; an end that already holds
one adds nothing. While an end cannot be reached, or answers that its pool is full (``max_key_count``:
it holds the block, as a device does when its KMS is full), its sender offers the block again, and once
its queue is full the engine makes no new key, so the spool holds a handful of blocks at most. Each block
the engine makes, and each it aborts, is logged with its block ID.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import queue
import signal
import socket
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from openqci.keysource import KeyBlock, SourceState
from openqci.network.engine_source import EngineKeySource, coalesce
from openqci.network.intake import (
    IntakeClient,
    IntakeError,
    IntakeHeldError,
    block_from_record,
    block_record,
    intake_address,
    intake_key,
)
from openqci.network.statedir import StateDir, read_channel_events, read_plans, read_secret
from openqci.ops.logging_args import add_logging_arguments, process_started, process_stopped, setup_logging
from openqci.ops.metrics_source import SourceMetrics, serve_probes

__all__ = ["BlockSpool", "main"]

_log = logging.getLogger("openqci.network.engine")

_STATE_EVERY_S = 1.0
_RETRY_S = 0.5
_HOLD_RETRY_S = 1.0
_STOP_GRACE_S = 3.0
_QUEUED_FRAMES = 4
_DELIVER_EVERY_S = 1.0
"""Blocks made within this long reach the KMEs as one, so a fast link costs each KME one commit a second."""


class BlockSpool:
    """Blocks made but not yet acknowledged by both ends, one file each (mode 0600)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def put(self, block: KeyBlock) -> None:
        """Write ``block`` durably before it is sent anywhere."""
        path = self._path(block.block_id)
        partial = path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps(block_record(block)).encode() + b"\n" + block.bits)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)

    def pending(self) -> list[KeyBlock]:
        """The blocks left by an earlier run, oldest first."""
        blocks = []
        for path in sorted(self.directory.glob("*.block"), key=lambda p: p.stat().st_mtime):
            head, _, bits = path.read_bytes().partition(b"\n")
            blocks.append(block_from_record(json.loads(head), bits))
        return blocks

    def remove(self, block: KeyBlock) -> None:
        """Wipe and delete ``block``'s file once both ends hold it."""
        path = self._path(block.block_id)
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            with path.open("r+b") as handle:
                handle.write(bytes(size))
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()

    def _path(self, block_id: uuid.UUID) -> Path:
        return self.directory / f"{block_id}.block"


class _Delivery:
    """A block on its way to both ends: spooled until both have acknowledged it."""

    def __init__(self, block: KeyBlock, state: SourceState, spool: BlockSpool, ends: int) -> None:
        self.block = block
        self.state = state
        self._spool = spool
        self._left = ends
        self._lock = threading.Lock()

    def acknowledged(self) -> None:
        with self._lock:
            self._left -= 1
            if self._left == 0:
                self._spool.remove(self.block)


class _EndSender:
    """One link end's sender thread: blocks in order, each retried until acknowledged; states as they come.

    Its queue holds at most :data:`_QUEUED_FRAMES` frames, so an end that cannot keep up (or is down)
    holds the engine back rather than letting blocks pile up in memory.
    """

    def __init__(self, kme: str, client: IntakeClient, stop: threading.Event) -> None:
        self.kme = kme
        self._client = client
        self._stop = stop
        self._queue: queue.Queue[_Delivery | SourceState | None] = queue.Queue(maxsize=_QUEUED_FRAMES)
        self._thread = threading.Thread(target=self._run, name=f"intake-{kme}", daemon=True)
        self._thread.start()

    def send_block(self, delivery: _Delivery) -> None:
        """Queue a block (waits while the queue is full)."""
        self._queue.put(delivery)

    def send_state(self, state: SourceState) -> None:
        """Queue a state report unless the end is behind (the next report supersedes it)."""
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(state)

    def close(self) -> None:
        """Finish what is queued (within the stop grace) and end the thread."""
        self._queue.put(None)
        self._thread.join(timeout=_STOP_GRACE_S + 30.0)
        self._client.close()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, SourceState):
                try:
                    self._client.send_state(item)
                except IntakeError as error:
                    _log.warning("state to %s: %s", self.kme, error)
                continue
            if self._deliver(item.block, item.state):
                item.acknowledged()

    def _deliver(self, block: KeyBlock, state: SourceState) -> bool:
        """Send ``block`` until this end holds it; a stop ends the retries after :data:`_STOP_GRACE_S`."""
        grace_ends: float | None = None
        held = False
        while True:
            pause_s = _RETRY_S
            try:
                self._client.send_block(block, state)
                return True
            except IntakeHeldError:
                if not held:
                    _log.info("block %s: %s's pool is full; holding it", block.block_id, self.kme)
                held, pause_s = True, _HOLD_RETRY_S
            except IntakeError as error:
                _log.warning("block %s to %s: %s; retrying", block.block_id, self.kme, error)
            if self._stop.is_set():
                grace_ends = grace_ends or time.monotonic() + _STOP_GRACE_S
                if time.monotonic() > grace_ends:
                    return False
            time.sleep(pause_s)


class _Engine:
    def __init__(self, layout: StateDir, link: str, stop: threading.Event, metrics: SourceMetrics) -> None:
        plan = read_plans(layout)[link]
        seed = read_secret(layout.seed_file(link))
        root = str(layout.root)
        self.layout, self.link, self.stop, self.metrics = layout, link, stop, metrics
        self.source = EngineKeySource(plan, rng=np.random.default_rng(), start_s=time.time())
        self.ends = [
            _EndSender(
                kme, IntakeClient(intake_address(root, link, kme), intake_key(seed, link, kme), link), stop
            )
            for kme in (plan.site_a, plan.site_b)
        ]
        self.spool = BlockSpool(layout.engine_dir(link))

    def run(self) -> None:
        _log.info("engine of %s: blocks of %.3f s of transmission", self.link, self.source.block_s)
        for block in self.spool.pending():
            _log.info("resending spooled block %s", block.block_id)
            self._send(block)
        reported = sent = 0.0
        made: list[KeyBlock] = []
        first_block = _FirstBlockTurn(self.layout.first_block_lock, self.stop)
        running = first_block.wait()
        while running and not self.stop.is_set():
            self.source.set_events(read_channel_events(self.layout, self.link))
            made.extend(self.source.blocks_due(time.time()))
            if self.source.started and first_block.held:
                first_block.release()
                _yield_to_the_kmes()
            if made and time.monotonic() - sent >= _DELIVER_EVERY_S:
                self._deliver(made)
                made, sent = [], time.monotonic()
            if self.source.started and time.monotonic() - reported >= _STATE_EVERY_S:
                state = self.source.state()
                self.metrics.set_state(up=state.up, skr_bps=state.skr_bps, qber=state.qber)
                for end in self.ends:
                    end.send_state(state)
                reported = time.monotonic()
            self.stop.wait(max(0.0, min(self.source.next_due_s - time.time(), _STATE_EVERY_S)))
        first_block.release()
        if made:
            self._deliver(made)
        for end in self.ends:
            end.close()

    def _deliver(self, blocks: list[KeyBlock]) -> None:
        """The blocks made since the last delivery, as one block: spooled, logged, then sent to both ends."""
        block = coalesce(blocks)
        self.spool.put(block)
        self.metrics.delivered(block.size_bits)
        _log.info(
            "block %s: %d key bits from %d engine blocks, QBER %.4f",
            block.block_id,
            block.size_bits,
            len(blocks),
            block.qber,
        )
        self._send(block)

    def _send(self, block: KeyBlock) -> None:
        delivery = _Delivery(block, self.source.state(), self.spool, len(self.ends))
        for end in self.ends:
            end.send_block(delivery)


class _FirstBlockTurn:
    """The engines of a network make their first blocks one at a time (an exclusive lock on a file).

    The first block compiles the link engine's numba kernels when their cache is cold (after any change
    to the sources): 24 s of CPU, which three engines starting together paid three times over. Taking
    turns, the first engine compiles and writes the cache, and the others load it (half a second each).
    The lock is the kernel's (``flock``), so an engine that dies holding it releases it.
    """

    def __init__(self, path: Path, stop: threading.Event) -> None:
        self._path, self._stop = path, stop
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def wait(self) -> bool:
        """Wait for this engine's turn; False if told to stop meanwhile."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if self._stop.wait(0.2):
                    os.close(fd)
                    return False
                continue
            self._fd = fd
            return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def _yield_to_the_kmes() -> None:
    """Run only on CPU time the KMEs and the controller leave over (Linux's idle scheduling class).

    An engine that cannot keep up falls behind and says so in its effective rate; a KME starved of CPU
    would miss its reports to the controller and fail its SAEs. Where the idle class is not available the
    engine takes the lowest priority instead. The engine yields once its first block is made: that block
    compiles the link's numba kernels when their cache is cold (after any change to the sources), which in
    the idle class, beside 39 KMEs starting on two cores, took a minute, and the network is not up until
    every link has made its first block.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.nice(19)


def main(argv: list[str] | None = None) -> None:
    """Run one link's engine until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m openqci.network.engine", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--link", required=True)
    parser.add_argument(
        "--probe-fd", type=int, help="a listening socket on 127.0.0.1 for /metrics and /health"
    )
    add_logging_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    metrics = SourceMetrics(args.link)
    engine = _Engine(StateDir(args.state_dir.resolve()), args.link, stop, metrics)
    probes = None
    if args.probe_fd is not None:

        def ready() -> str | None:
            return None if engine.source.started else "the link's first block is not made yet"

        probes = serve_probes(socket.socket(fileno=args.probe_fd), metrics.registry, ready, name=args.link)
    process_started(_log, "engine", link=args.link)
    engine.run()
    if probes is not None:
        probes.shutdown()
        probes.server_close()
    process_stopped(_log, "engine", link=args.link)


if __name__ == "__main__":
    main()
