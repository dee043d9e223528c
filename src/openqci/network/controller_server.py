"""The controller process: the controller API served by uvicorn on a socket the launcher bound.

Started by the launcher as ``python -m openqci.network.controller_server --state-dir DIR --fd FD``; it reads
the scenario and the bearer token from the state directory, and stops cleanly on SIGTERM or SIGINT. With
``--tls-certificate``, ``--tls-key`` and ``--tls-ca`` it speaks TLS and also lets in the network's KMEs by
their client certificates (:mod:`openqci.network.controller_tls`); without them it refuses a socket bound
to any address but loopback. Connections and requests are bounded as a KME's are
(:mod:`openqci.kms.bounded_http`, with the defaults of a KME's ``serving:`` section): with TLS the
handshake is run, timed and logged the same way.
Beside the API it serves the operations view: ``/metrics``, ``/health`` and the live dashboard
(``/dashboard/``), from :mod:`openqci.ops`, imported here at the process's entry so the controller itself
stays free of them.
"""

from __future__ import annotations

import argparse
import logging
import socket
import ssl
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from openqci.kms.bounded_http import ServerSide, protocol_factory
from openqci.kms.config import ServingConfig
from openqci.network.alarms import AlarmRules
from openqci.network.controller import Controller
from openqci.network.controller_api import create_controller_app
from openqci.network.controller_tls import ControllerTls, check_binding, server_context, with_certificate_auth
from openqci.network.errors import LaunchError
from openqci.network.statedir import StateDir, read_secret
from openqci.ops.controller_views import mount_operations
from openqci.ops.logging_args import add_logging_arguments, process_started, process_stopped, setup_logging
from openqci.scenario import load_scenario

__all__ = ["main", "uvicorn_config"]

_log = logging.getLogger("openqci.network.controller")


def main(argv: list[str] | None = None) -> None:
    """Serve the controller until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m openqci.network.controller_server", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True, help="a listening socket (127.0.0.1 without TLS)")
    parser.add_argument("--tls-certificate", type=Path, help="the controller's certificate (PEM)")
    parser.add_argument("--tls-key", type=Path, help="its private key (PEM)")
    parser.add_argument("--tls-ca", type=Path, help="the CA of the certificates of clients")
    parser.add_argument("--qber-threshold", type=float, default=AlarmRules.qber_threshold)
    parser.add_argument("--key-floor-bits", type=int, default=AlarmRules.key_floor_bits)
    add_logging_arguments(parser)
    args = parser.parse_args(argv)
    setup_logging(args)
    layout = StateDir(args.state_dir)
    rules = AlarmRules(qber_threshold=args.qber_threshold, key_floor_bits=args.key_floor_bits)
    controller = Controller(load_scenario(layout.scenario_file), rules=rules, clock=time.time)
    token = read_secret(layout.token_file).decode()
    app = create_controller_app(controller, token)
    mount_operations(app, controller, token, layout)
    sock = socket.socket(fileno=args.fd)
    files = (args.tls_certificate, args.tls_key, args.tls_ca)
    if any(f is None for f in files) != all(f is None for f in files):
        parser.error("give --tls-certificate, --tls-key and --tls-ca together")
    try:
        check_binding(str(sock.getsockname()[0]), tls=args.tls_certificate is not None)
    except LaunchError as error:
        parser.error(str(error))
    if args.tls_certificate is None:
        config = uvicorn_config(app)
    else:
        tls = ControllerTls(args.tls_certificate, args.tls_key, args.tls_ca)
        kmes = frozenset(site.name for site in controller.scenario.kme_sites)
        config = uvicorn_config(with_certificate_auth(app, token, kmes), context=server_context(tls))
    process_started(_log, "controller", port=sock.getsockname()[1])
    uvicorn.Server(config).run(sockets=[sock])
    process_stopped(_log, "controller")


def uvicorn_config(
    app: FastAPI | ASGIApp, serving: ServingConfig | None = None, *, context: ssl.SSLContext | None = None
) -> uvicorn.Config:
    """The uvicorn configuration of the controller's app: connections bounded by ``serving``.

    With a TLS ``context`` the server runs each handshake itself (timed, its refusals logged), as a KME
    does; without one it serves plain HTTP.
    """
    serving = serving or ServingConfig()
    return uvicorn.Config(
        app,
        http=protocol_factory(ServerSide.from_config(serving, context)),
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # the controller is reached directly, never through a proxy it should trust
        lifespan="off",
        timeout_keep_alive=max(1, int(serving.keep_alive_timeout_s)),
        log_config=None,
    )


if __name__ == "__main__":
    main()
