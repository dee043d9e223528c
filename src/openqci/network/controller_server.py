"""The controller process: the controller API served by uvicorn on a loopback socket the launcher bound.

Started by the launcher as ``python -m openqci.network.controller_server --state-dir DIR --fd FD``; it reads
the scenario and the bearer token from the state directory, and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

import uvicorn

from openqci.network.alarms import AlarmRules
from openqci.network.controller import Controller
from openqci.network.controller_api import create_controller_app
from openqci.network.statedir import StateDir, read_secret
from openqci.scenario import load_scenario

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Serve the controller until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m openqci.network.controller_server", description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--fd", type=int, required=True, help="a listening socket on 127.0.0.1")
    parser.add_argument("--qber-threshold", type=float, default=AlarmRules.qber_threshold)
    parser.add_argument("--key-floor-bits", type=int, default=AlarmRules.key_floor_bits)
    args = parser.parse_args(argv)
    layout = StateDir(args.state_dir)
    rules = AlarmRules(qber_threshold=args.qber_threshold, key_floor_bits=args.key_floor_bits)
    controller = Controller(load_scenario(layout.scenario_file), rules=rules, clock=time.time)
    app = create_controller_app(controller, read_secret(layout.token_file).decode())
    sock = socket.socket(fileno=args.fd)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
