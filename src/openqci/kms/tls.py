"""Mutual TLS for the KME: one server context built at start-up, client contexts, and the caller's identity.

uvicorn checks client certificates but does not hand them to the application. :class:`ClientCertProtocol`
subclasses uvicorn's httptools protocol to read the peer certificate once per connection and put it in
every request's ``scope["extensions"]["tls"]`` (the ASGI TLS extension's ``client_cert_chain``). It leans
on uvicorn internals, so uvicorn is pinned and a test starts a real mutual-TLS server and checks the
identity the application sees. In-process tests wrap the app with :func:`with_client_certificate` so that
application code reads the certificate from the same place.

The server's TLS handshake is run by :func:`start_server_tls` rather than by the event loop's TLS server,
for two reasons. The loop's server (asyncio's and uvloop's alike) reports a failed handshake to nobody:
the error goes to the loop's exception handler only in debug mode, and the alert OpenSSL wrote (certificate
required, unknown CA, expired, unsupported purpose) is left in the memory BIO and never sent, so both
sides see a bare close. And the handshake's only bound is the loop's default of 60 s. Here the handshake
has its own timeout, its outcome comes back as a future (the server logs the reason), and the context's
:class:`AlertingSSLObject` sends the alert before the connection closes.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextvars
import ssl
import sys
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from openqci.kms.errors import PkiError

__all__ = [
    "AlertingSSLObject",
    "ClientCertProtocol",
    "client_context",
    "describe_tls_refusal",
    "server_context",
    "start_server_tls",
    "with_client_certificate",
]

_RAW_TRANSPORT: contextvars.ContextVar[asyncio.Transport | None] = contextvars.ContextVar(
    "openqci_tls_raw_transport", default=None
)


def server_context(ca: Path, certificate: Path, private_key: Path) -> ssl.SSLContext:
    """Return a TLS >= 1.2 server context that requires a client certificate signed by ``ca``.

    OpenSSL checks the client certificate's chain, validity dates and purpose (its extended key usage
    must allow client authentication); a refusal is sent to the client as a TLS alert.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.sslobject_class = AlertingSSLObject
    _load(context, ca, certificate, private_key)
    return context


def client_context(ca: Path, certificate: Path, private_key: Path) -> ssl.SSLContext:
    """Return a TLS >= 1.2 client context presenting ``certificate`` and trusting only ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, ca, certificate, private_key)
    return context


def _load(context: ssl.SSLContext, ca: Path, certificate: Path, private_key: Path) -> None:
    try:
        context.load_verify_locations(cafile=str(ca))
        context.load_cert_chain(str(certificate), str(private_key))
    except (OSError, ssl.SSLError) as error:
        raise PkiError(f"cannot load TLS files ({ca}, {certificate}, {private_key}): {error}") from None


class AlertingSSLObject(ssl.SSLObject):
    """An SSL object that sends the alert of a failed handshake before the event loop drops the connection.

    The event loops' TLS protocols close the socket on a handshake error without flushing the outgoing
    memory BIO, where OpenSSL has just written the alert that tells the client why. This object remembers
    the raw transport it was made for (see :func:`start_server_tls`) and writes that alert itself.
    """

    _outgoing_bio: ssl.MemoryBIO
    _raw_transport: asyncio.Transport | None

    @classmethod
    def _create(cls, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, **kwargs: Any) -> AlertingSSLObject:
        obj: AlertingSSLObject = super()._create(incoming, outgoing, **kwargs)  # type: ignore[misc]
        obj._outgoing_bio = outgoing
        obj._raw_transport = _RAW_TRANSPORT.get()
        return obj

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError:
            alert = self._outgoing_bio.read()
            transport = self._raw_transport
            if alert and transport is not None and not transport.is_closing():
                transport.write(alert)
            raise


def start_server_tls(
    raw: asyncio.Transport,
    app_protocol: asyncio.Protocol,
    context: ssl.SSLContext,
    *,
    handshake_timeout_s: float,
    shutdown_timeout_s: float,
) -> asyncio.Future[None]:
    """Run the server side of a TLS handshake on ``raw``; ``app_protocol`` gets the TLS transport after it.

    Must be called from ``raw``'s protocol's ``connection_made``, before any data is read, as the event
    loop's own TLS server does. Returns a future that is done when the handshake is: with None on success
    (``app_protocol.connection_made`` has been called), with the error otherwise (the connection is closed,
    after the alert is sent). The handshake is aborted after ``handshake_timeout_s``; a TLS close waits at
    most ``shutdown_timeout_s`` for the client's close_notify.
    """
    loop = asyncio.get_running_loop()
    # uvloop's SSLProtocol (compiled) on a uvloop loop, asyncio's on any other; same constructor
    protocol_class: Any = asyncio.sslproto.SSLProtocol
    uvloop = sys.modules.get("uvloop")  # uvicorn[standard] runs on uvloop where it is installed
    if uvloop is not None and isinstance(loop, uvloop.Loop):
        protocol_class = uvloop.loop.SSLProtocol
    waiter: asyncio.Future[None] = loop.create_future()
    token = _RAW_TRANSPORT.set(raw)
    try:
        ssl_protocol = protocol_class(
            loop,
            app_protocol,
            context,
            waiter,
            server_side=True,
            ssl_handshake_timeout=handshake_timeout_s,
            ssl_shutdown_timeout=shutdown_timeout_s,
        )
        raw.set_protocol(ssl_protocol)
        ssl_protocol.connection_made(raw)
    finally:
        _RAW_TRANSPORT.reset(token)
    return waiter


def describe_tls_refusal(error: BaseException) -> str:
    """Why a TLS handshake failed, in words: OpenSSL's verification message where there is one."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"client certificate refused: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        reason = (error.reason or str(error)).replace("_", " ").lower()
        return f"TLS error: {reason}"
    if isinstance(error, ConnectionAbortedError) and "longer than" in str(error):
        return "TLS handshake not completed in time"
    if isinstance(error, ConnectionError | EOFError):
        return "client closed the connection during the TLS handshake"
    return f"{type(error).__name__}: {error}"


class ClientCertProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, adding the verified client certificate to each request's scope."""

    _tls: dict[str, Any]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        version = ssl_object.version() if ssl_object is not None else None
        self._tls = {"client_cert_chain": chain, "tls_version": version, "client_cert_error": None}

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"tls": self._tls}  # type: ignore[dict-item]

    def shutdown(self) -> None:
        """Drop an idle connection at once when the server stops; let a request in progress finish.

        A graceful TLS close waits for the client's close_notify, and a peer KME's idle pooled connection
        never sends one until that KME stops too: two KMEs stopping together would each wait 30 s.
        """
        if self.cycle is None or self.cycle.response_complete:
            self.transport.abort()
        else:
            super().shutdown()


def with_client_certificate(app: ASGIApp, pem: str | None) -> ASGIApp:
    """Wrap ``app`` so every request looks as if it came over mutual TLS with certificate ``pem``."""
    tls = {"client_cert_chain": [pem] if pem else [], "tls_version": "TLSv1.3", "client_cert_error": None}

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "extensions": {**scope.get("extensions", {}), "tls": tls}}
        await app(scope, receive, send)

    return wrapped
