"""Starting and stopping the processes of a network: detached children on inherited loopback sockets.

Listening sockets are bound by the launcher on 127.0.0.1 (port 0: the kernel picks a free one) and passed
to each child, which serves on them: no port can be taken by someone else between choosing and serving
it. Children run in their own session, so a Ctrl-C at the launcher's terminal does not reach them once the
network is up; ``openqci network down`` stops them. Before signalling a pid, :func:`stop_processes`
checks from ``/proc`` that it still is one of this network's processes, so a recycled pid is never hit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["bind_loopback", "is_running", "spawn", "stop_processes"]


def bind_loopback() -> socket.socket:
    """A listening TCP socket on 127.0.0.1 with a port the kernel chose."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def spawn(module: str, args: Sequence[str], *, log: Path, sockets: Sequence[socket.socket]) -> int:
    """Start ``python -m module args`` detached, logging to ``log``, inheriting ``sockets``; return the pid.

    ``os.posix_spawn`` rather than ``subprocess.Popen``: the child outlives the launcher by design, and a
    ``Popen`` object dropped while its child runs counts as a leaked resource. Only ``sockets`` are made
    inheritable, and only for the moment of the spawn, so no child holds another's listening socket.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    for sock in sockets:
        sock.set_inheritable(True)
    try:
        argv = [sys.executable, "-m", module, *args]
        return os.posix_spawn(sys.executable, argv, dict(os.environ), file_actions=actions, setsid=True)
    finally:
        for sock in sockets:
            sock.set_inheritable(False)


def is_running(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive (not a zombie) and its command line contains ``marker``."""
    _reap(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z" and marker in cmdline


def stop_processes(pids: Sequence[int], marker: str, *, timeout_s: float = 10.0) -> list[int]:
    """SIGTERM each of ``pids`` still running with ``marker``; SIGKILL those left after ``timeout_s``.

    Returns the pids that had to be killed.
    """
    alive = [pid for pid in pids if is_running(pid, marker)]
    for pid in alive:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [pid for pid in alive if is_running(pid, marker)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)
    for pid in alive:
        _wait_gone(pid, marker)
    return alive


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, marker: str) -> None:
    deadline = time.monotonic() + 5.0
    while is_running(pid, marker) and time.monotonic() < deadline:
        time.sleep(0.02)


def _reap(pid: int) -> None:
    """Collect ``pid``'s exit status if it is our own child (the launcher run in-process)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
