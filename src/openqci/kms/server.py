"""Runs a KME under uvicorn over mutual TLS: one TLS context built at start-up, keep-alive connections.

The server context requires a client certificate signed by the site CA; :class:`ClientCertProtocol` hands
the verified certificate to the application with each request. At shutdown, idle connections are dropped
(:meth:`ClientCertProtocol.shutdown`) and requests in progress get 5 s to finish.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import uvicorn

from openqci.kms.node import Kme
from openqci.kms.tls import ClientCertProtocol, server_context

__all__ = ["serve", "uvicorn_config"]


def uvicorn_config(kme: Kme, *, port: int | None = None, log_level: str = "warning") -> uvicorn.Config:
    """Return the uvicorn configuration serving ``kme`` over mutual TLS on its host and port."""
    tls = kme.config.tls
    context = server_context(tls.ca, tls.certificate, tls.private_key)

    def factory(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        return context

    return uvicorn.Config(
        kme.app,
        host=kme.config.host,
        port=kme.config.port if port is None else port,
        http=ClientCertProtocol,
        ssl_context_factory=factory,
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )


def serve(kme: Kme) -> None:
    """Serve ``kme`` until interrupted."""
    uvicorn.Server(uvicorn_config(kme)).run()
