"""uvicorn's HTTP protocol with every connection bounded: a cap, timeouts for each phase, sizes.

uvicorn 0.54 (httptools) bounds none of this by itself: it arms its keep-alive timeout only after a
response, so a connection that never sends a request, or sends its headers a byte at a time, stays open
for ever; it reads a request head and body of any size; and its ``limit_concurrency`` answers 503 only
once a request head has arrived, after the slot was taken. The event loop's TLS server waits 60 s for a
handshake. :class:`BoundedHttpProtocol` adds, per connection:

- admission to the server's :class:`~openqci.kms.connection_table.ConnectionTable` at accept (the cap,
  with the oldest waiting connection evicted to make room) and per client certificate after the handshake;
- a deadline for each phase: the TLS handshake (``tls_handshake_timeout_s``), the first request and every
  idle gap between requests (``keep_alive_timeout_s``), the request head from its first byte
  (``header_timeout_s``), and the body once the head is in (``body_timeout_s``);
- a deadline for an answer the client does not read (``write_timeout_s``): once the client's buffers are
  full the answer waits, and uvicorn would wait with it for ever, the connection busy (never evicted)
  and its request's task blocked; the deadline runs while writing is paused and closes the connection;
- a size limit on the request head, counted as it arrives (``max_header_bytes``), and on the body, from
  its Content-Length before any of it is read (``max_body_bytes``); a body without Content-Length
  (chunked) is refused.

A refusal is answered with 400 and the Error object of ETSI GS QKD 014 (``{"message": ...}``, the shape
the controller's API uses too), since the standard defines no other status for a malformed request; a
connection over its certificate's cap gets 503, a server-side condition. Then the connection is closed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any, cast

import orjson
from uvicorn.config import Config
from uvicorn.server import ServerState

from openqci.kms.config import ServingConfig
from openqci.kms.connection_table import ConnectionTable, Phase
from openqci.kms.tls import ClientCertProtocol, describe_tls_refusal, start_server_tls

__all__ = ["BoundedHttpProtocol", "ServerSide", "TlsGate", "protocol_factory"]

_log = logging.getLogger(__name__)

_REASONS = {400: b"Bad Request", 503: b"Service Unavailable"}


@dataclass(frozen=True)
class ServerSide:
    """What every connection of one server shares: its table, its limits and its TLS context (or none)."""

    table: ConnectionTable
    limits: ServingConfig
    context: ssl.SSLContext | None

    @classmethod
    def from_config(cls, limits: ServingConfig, context: ssl.SSLContext | None) -> ServerSide:
        """A fresh connection table sized by ``limits``."""
        table = ConnectionTable(limits.max_connections, limits.max_connections_per_certificate)
        return cls(table, limits, context)


def protocol_factory(side: ServerSide) -> type[asyncio.Protocol]:
    """The ``http`` protocol uvicorn builds for each accepted connection (a factory, typed as uvicorn wants).

    With a TLS context, a :class:`TlsGate` runs the handshake and hands over to a
    :class:`BoundedHttpProtocol`; without one (the controller on loopback) the bounded protocol serves the
    raw connection directly.
    """
    protocol = TlsGate if side.context is not None else BoundedHttpProtocol
    return cast(type[asyncio.Protocol], functools.partial(protocol, side=side))


def _peer(transport: asyncio.BaseTransport | None) -> str:
    address = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return "unknown peer"


class BoundedHttpProtocol(ClientCertProtocol):
    """uvicorn's httptools protocol (with the client certificate in scope), bounded in time and size."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        side: ServerSide,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._side = side
        # uvicorn arms this after each response (call_later takes a float, though its attribute says int)
        self.timeout_keep_alive = side.limits.keep_alive_timeout_s  # type: ignore[assignment]
        self._phase = Phase.HANDSHAKE
        self._deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._head_started = 0.0
        self._chunk_bytes = 0
        self._refused = False
        self._over_certificate_cap = False
        self.raw_transport: asyncio.Transport | None = None

    # -- the connection table -------------------------------------------------------------------------

    def evict(self, reason: str) -> None:
        """Drop the connection at once (the table has already forgotten it)."""
        transport = self.transport or self.raw_transport
        _log.warning("closed connection from %s: %s", _peer(transport), reason)
        self._cancel_deadline()
        if transport is not None:
            transport.abort()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        table = self._side.table
        if self not in table and not table.admit(self, Phase.IDLE):
            _log.warning("refused connection from %s: every connection is busy", _peer(transport))
            transport.abort()
            return
        der = self._tls["client_cert_chain"]
        if der and not table.identify(self, hashlib.sha256(der[0].encode()).digest()):
            self._over_certificate_cap = True
        self._move(Phase.IDLE)
        self._arm(self._side.limits.keep_alive_timeout_s, Phase.IDLE)  # until the first request

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self._cancel_write_deadline()
        self._side.table.forget(self)
        super().connection_lost(exc)

    # -- phases and deadlines -------------------------------------------------------------------------

    # The table knows a connection as idle, receiving (HEAD: its request's head or body), busy or closing;
    # the connection itself tells head from body, for their deadlines and the head's size.

    def _move(self, phase: Phase) -> None:
        self._phase = phase
        self._side.table.enter(self, Phase.HEAD if phase is Phase.BODY else phase)

    def _arm(self, timeout_s: float, phase: Phase) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(timeout_s, self._expired, phase)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self, phase: Phase) -> None:
        self._deadline = None
        limits = self._side.limits
        if phase is Phase.IDLE:
            self._move(Phase.CLOSING)
            self.transport.close()
        elif phase is Phase.HEAD:
            self._refuse(
                400, f"request head not received within header_timeout_s ({limits.header_timeout_s})"
            )
        elif phase is Phase.BODY:
            self._refuse(400, f"request body not received within body_timeout_s ({limits.body_timeout_s})")

    # -- writing answers ------------------------------------------------------------------------------

    # A deadline of its own: a pipelined request's head deadline may run meanwhile.

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_deadline is None:
            timeout_s = self._side.limits.write_timeout_s
            self._write_deadline = self.loop.call_later(timeout_s, self._write_expired)

    def resume_writing(self) -> None:
        super().resume_writing()
        self._cancel_write_deadline()

    def _cancel_write_deadline(self) -> None:
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def _write_expired(self) -> None:
        self._write_deadline = None
        _log.warning(
            "closed connection from %s: its client did not read the answer within write_timeout_s (%s)",
            _peer(self.transport),
            self._side.limits.write_timeout_s,
        )
        self._cancel_deadline()
        self._move(Phase.CLOSING)
        self.transport.abort()  # a close would wait for the buffer the client does not read

    # -- reading requests ------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        limits = self._side.limits
        if self._phase is Phase.IDLE:
            self._head_bytes = 0
            self._head_started = self.loop.time()
            self._cancel_deadline()
            self._move(Phase.HEAD)
        self._chunk_bytes = len(data)
        super().data_received(data)
        if self._refused:
            return
        # Deadlines are armed only for a head or body that did not arrive whole in this chunk, so the usual
        # request (one chunk) costs no timer; a late byte never moves a deadline already armed.
        phase = self._phase
        if phase is Phase.HEAD:
            self._head_bytes += len(data)
            if self._head_bytes > limits.max_header_bytes:
                self._refuse_head()
            elif self._deadline is None:
                when = self._head_started + limits.header_timeout_s
                self._deadline = self.loop.call_at(when, self._expired, Phase.HEAD)
        elif phase is Phase.BODY and self._deadline is None:
            self._deadline = self.loop.call_later(limits.body_timeout_s, self._expired, Phase.BODY)

    def _refuse_head(self) -> None:
        self._refuse(400, f"request head larger than max_header_bytes ({self._side.limits.max_header_bytes})")

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        limits = self._side.limits
        if (
            self._head_bytes + self._chunk_bytes > limits.max_header_bytes
            and self._head_size() > limits.max_header_bytes
        ):
            self._refuse_head()  # a head over the limit that arrived whole, in one chunk
            return
        if self._over_certificate_cap:
            self._refuse(
                503,
                "too many connections with this client certificate "
                f"(max_connections_per_certificate {limits.max_connections_per_certificate}); reuse one",
            )
            return
        problem = self._body_problem()
        if problem is not None:
            self._refuse(400, problem)
            return
        super().on_headers_complete()
        self._cancel_deadline()
        self._phase = Phase.BODY  # data_received arms the body's deadline if the body is still to come

    def _head_size(self) -> int:
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _body_problem(self) -> str | None:
        """Why the announced body cannot be taken, or None."""
        limit = self._side.limits.max_body_bytes
        for name, value in self.headers:
            if name == b"transfer-encoding" and value.strip().lower() != b"identity":
                return "request bodies must be sent with Content-Length, not Transfer-Encoding"
            if name == b"content-length":
                if not value.strip().isdigit():
                    return "Content-Length must be a decimal number"
                if int(value) > limit:
                    return f"request body of {int(value)} bytes is larger than max_body_bytes ({limit})"
        return None

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        if self._phase is Phase.BODY:
            self._cancel_deadline()
            self._move(Phase.BUSY)

    def on_response_complete(self) -> None:
        super().on_response_complete()  # arms uvicorn's keep-alive timer: the idle deadline from here
        if self.transport.is_closing() or self._refused:
            return
        if self._phase is Phase.BUSY and not self.pipeline:
            self._move(Phase.IDLE)

    # -- refusing ----------------------------------------------------------------------------------------

    def _refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with the Error object and close; nothing more is read from the connection."""
        if self._refused:
            return
        self._refused = True
        self._cancel_deadline()
        _log.warning("refused a request from %s: %s", _peer(self.transport), message)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        body = orjson.dumps({"message": message})
        head = b"HTTP/1.1 %d %s\r\n%s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % (
            status,
            _REASONS[status],
            b"content-type: application/json",
            len(body),
        )
        self._move(Phase.CLOSING)
        if not self.transport.is_closing():
            self.transport.write(head + body)
            self.transport.close()


class TlsGate(asyncio.Protocol):
    """The protocol of an accepted TCP connection until its TLS handshake is done.

    It counts the connection from accept (so connections that never finish a handshake take part in the
    cap and can be evicted), runs the handshake with its own timeout (:func:`start_server_tls`), logs a
    refused handshake with its reason, and hands the TLS transport to a :class:`BoundedHttpProtocol`.
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        side: ServerSide,
    ) -> None:
        self._side = side
        self._http = BoundedHttpProtocol(config, server_state, app_state, _loop, side=side)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        raw = cast(asyncio.Transport, transport)
        http = self._http
        http.raw_transport = raw
        if not self._side.table.admit(http, Phase.HANDSHAKE):
            _log.warning("refused TLS connection from %s: every connection is busy", _peer(raw))
            raw.abort()
            return
        limits = self._side.limits
        assert self._side.context is not None
        done = start_server_tls(
            raw,
            http,
            self._side.context,
            handshake_timeout_s=limits.tls_handshake_timeout_s,
            shutdown_timeout_s=limits.tls_handshake_timeout_s,
        )
        done.add_done_callback(functools.partial(self._handshake_done, _peer(raw)))

    def _handshake_done(self, peer: str, done: asyncio.Future[None]) -> None:
        error = None if done.cancelled() else done.exception()
        if error is None:
            return
        if self._http in self._side.table:  # not evicted (that was logged already)
            self._side.table.forget(self._http)
            reason = describe_tls_refusal(error)
            # a client that connects and leaves (a port probe) is no refusal worth a warning
            left = isinstance(error, ConnectionError | EOFError) and reason.startswith("client closed")
            _log.log(
                logging.INFO if left else logging.WARNING, "refused TLS handshake from %s: %s", peer, reason
            )
