"""A TCP proxy between a channel's sender and receiver that changes the sender's frames on the way."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

from openqci.services.channel_records import HEADER_BYTES

Change = Callable[[int, bytes], list[bytes] | None]
"""Given a frame's index and bytes: the frames to pass on instead, or None to cut the stream there."""


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class FrameProxy:
    """Listens on 127.0.0.1; for one connection, passes the sender's frames through ``change`` to ``target``.

    Every frame that arrived from the sender is kept in ``frames``, so a test can replay a whole connection.
    The receiver's bytes (hybrid REPLY frames) go back unchanged.
    """

    def __init__(self, target: tuple[str, int], change: Change | None = None) -> None:
        self._target = target
        self._change = change or (lambda _, frame: [frame])
        self._server = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self._server.getsockname()[:2]
        self.frames: list[bytes] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def join(self, timeout_s: float = 10.0) -> None:
        self._thread.join(timeout_s)
        self._server.close()

    def _run(self) -> None:
        sender, _ = self._server.accept()
        receiver = socket.create_connection(self._target)
        back = threading.Thread(target=self._pipe_back, args=(receiver, sender), daemon=True)
        back.start()
        try:
            index = 0
            while header := _read_exact(sender, HEADER_BYTES):
                frame = header + _read_exact(sender, int.from_bytes(header[14:18], "big"))
                self.frames.append(frame)
                passed = self._change(index, frame)
                index += 1
                if passed is None:
                    break
                for item in passed:
                    receiver.sendall(item)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                receiver.shutdown(socket.SHUT_WR)  # the receiver sees the end of the stream here
            back.join(10)
            _close(receiver)
            _close(sender)

    @staticmethod
    def _pipe_back(receiver: socket.socket, sender: socket.socket) -> None:
        try:
            while chunk := receiver.recv(65536):
                sender.sendall(chunk)
        except OSError:
            pass


def flip(index: int) -> Change:
    """Frame ``index`` arrives with its last bit flipped."""
    return lambda i, frame: [frame if i != index else frame[:-1] + bytes([frame[-1] ^ 1])]


def replay(index: int) -> Change:
    """Frame ``index`` arrives twice."""
    return lambda i, frame: [frame, frame] if i == index else [frame]


def swap(index: int) -> Change:
    """Frame ``index`` arrives after frame ``index + 1``."""
    held: list[bytes] = []

    def change(i: int, frame: bytes) -> list[bytes]:
        if i == index:
            held.append(frame)
            return []
        return [frame, *held] if i == index + 1 else [frame]

    return change
