"""Runs a KME under uvicorn over mutual TLS: one TLS context built at start-up, keep-alive connections.

The server context requires a client certificate signed by the site CA. uvicorn serves plain TCP: each
accepted connection gets a :class:`~openqci.kms.bounded_http.TlsGate`, which counts it against the caps of
``serving:``, runs the TLS handshake with its own timeout and logs a refused one, then hands over to a
:class:`~openqci.kms.bounded_http.BoundedHttpProtocol`, which bounds every phase of the connection and
hands the verified client certificate to the application with each request. At shutdown, idle
connections are dropped (:meth:`ClientCertProtocol.shutdown`) and requests in progress get 5 s to finish.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from openqci.kms.bounded_http import ServerSide, protocol_factory
from openqci.kms.errors import ConfigError
from openqci.kms.node import Kme
from openqci.kms.tls import server_context

__all__ = ["listen", "serve", "uvicorn_config"]

_UVICORN: dict[str, Any] = uvicorn.config.LOGGING_CONFIG


def uvicorn_config(
    kme: Kme,
    *,
    port: int | None = None,
    log_level: str = "warning",
    log_config: dict[str, Any] | None = _UVICORN,
) -> uvicorn.Config:
    """Return the uvicorn configuration serving ``kme`` over mutual TLS on its host and port.

    ``log_config=None`` leaves logging as the process configured it (:func:`openqci.ops.configure_logging`).
    """
    tls, serving = kme.config.tls, kme.config.serving
    side = ServerSide.from_config(serving, server_context(tls.ca, tls.certificate, tls.private_key))
    return uvicorn.Config(
        kme.app,
        host=kme.config.host,
        port=kme.config.port if port is None else port,
        http=protocol_factory(side),
        log_level=log_level,
        log_config=log_config,
        access_log=False,
        # no proxy stands in front of a KME: a client's X-Forwarded-For must not rename it in the logs
        proxy_headers=False,
        timeout_keep_alive=max(1, int(serving.keep_alive_timeout_s)),
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
    config = uvicorn_config(kme, port=port, log_config=None)
    uvicorn.Server(config).run(sockets=[sock])
