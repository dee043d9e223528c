"""Mutual TLS for the KME: one server context built at start-up, client contexts, and the caller's identity.

uvicorn checks client certificates but does not hand them to the application. :class:`ClientCertProtocol`
subclasses uvicorn's httptools protocol to read the peer certificate once per connection and put it in
every request's ``scope["extensions"]["tls"]`` (the ASGI TLS extension's ``client_cert_chain``). It leans
on uvicorn internals, so uvicorn is pinned and a test starts a real mutual-TLS server and checks the
identity the application sees. In-process tests wrap the app with :func:`with_client_certificate` so that
application code reads the certificate from the same place.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from openqci.kms.errors import PkiError

__all__ = ["ClientCertProtocol", "client_context", "server_context", "with_client_certificate"]


def server_context(ca: Path, certificate: Path, private_key: Path) -> ssl.SSLContext:
    """Return a TLS >= 1.2 server context that requires a client certificate signed by ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
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
