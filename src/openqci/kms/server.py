"""Runs a KME under uvicorn over mutual TLS: one TLS context built at start-up, keep-alive connections.

The server context requires a client certificate signed by the site CA; :class:`ClientCertProtocol` hands
the verified certificate to the application with each request. At shutdown, idle connections are dropped
(:meth:`ClientCertProtocol.shutdown`) and requests in progress get 5 s to finish.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable

import uvicorn

from openqci.kms.errors import ConfigError
from openqci.kms.node import Kme
from openqci.kms.tls import ClientCertProtocol, server_context

__all__ = ["listen", "serve", "uvicorn_config"]


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


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, bound before the server starts so a taken port is one message.

    Raises
    ------
    ConfigError
        If the address cannot be bound (in use, not an address of this machine, a privileged port).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return sock


def serve(kme: Kme, announce: Callable[[str], None] | None = None) -> None:
    """Serve ``kme`` until interrupted; ``announce`` is told the URL once the socket is bound."""
    sock = listen(kme.config.host, kme.config.port)
    host, port = sock.getsockname()[:2]
    if announce is not None:
        shown = f"[{host}]" if ":" in host else host
        announce(f"https://{shown}:{port}")
    config = uvicorn_config(kme, port=port)
    uvicorn.Server(config).run(sockets=[sock])
