"""The logging options every process of a network takes, and the events of its start and stop.

The launcher passes the same four options to the controller, the site processes and the engines
(``--log-file``, ``--log-level``, ``--log-max-bytes``, ``--log-backups``), so one ``openqci network up``
option sets them for the whole network.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

from openqci.ops.events import (
    DEFAULT_LOG_BACKUPS,
    DEFAULT_LOG_MAX_BYTES,
    LOG_LEVELS,
    Event,
    configure_logging,
    log_event,
)

__all__ = ["add_logging_arguments", "process_started", "process_stopped", "setup_logging"]


def add_logging_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the logging options to a process's argument parser."""
    parser.add_argument("--log-file", type=Path, help="rotating log file (default: stderr)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    parser.add_argument("--log-max-bytes", type=int, default=DEFAULT_LOG_MAX_BYTES)
    parser.add_argument("--log-backups", type=int, default=DEFAULT_LOG_BACKUPS)


def setup_logging(args: argparse.Namespace) -> None:
    """Configure logging from the parsed options."""
    configure_logging(
        args.log_level, file=args.log_file, max_bytes=args.log_max_bytes, backups=args.log_backups
    )


def process_started(logger: logging.Logger, role: str, **fields: Any) -> None:
    """Log that this process started, with its role and pid."""
    log_event(logger, Event.PROCESS_STARTED, f"{role} started (pid {os.getpid()})", role=role, **fields)


def process_stopped(logger: logging.Logger, role: str, **fields: Any) -> None:
    """Log that this process stops."""
    log_event(logger, Event.PROCESS_STOPPED, f"{role} stopped (pid {os.getpid()})", role=role, **fields)
