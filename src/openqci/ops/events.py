"""Operator event logs: one structured line per event that matters, JSON in files, readable on a terminal.

Every process of a network logs through the standard :mod:`logging` tree. An event is a record that carries
an :class:`Event` name and a few fields (``link``, ``kme``, ``reason``...) in ``extra``, written with
:func:`log_event`; :class:`JsonFormatter` turns each record into one JSON object per line (events and
ordinary messages alike, so a log file is one machine-readable stream) and :class:`HumanFormatter` into one
aligned line for people. :func:`configure_logging` installs one of them on stderr or on a size-capped,
rotating file: a node that runs for months keeps at most ``max_bytes * (backups + 1)`` bytes of log.

This module uses the standard library only, so the key management layer can log events without loading
anything of the network layer.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "DEFAULT_LOG_BACKUPS",
    "DEFAULT_LOG_MAX_BYTES",
    "LOG_LEVELS",
    "Event",
    "HumanFormatter",
    "JsonFormatter",
    "configure_logging",
    "log_event",
]

DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024
"""Size at which a process's log file is rotated (configuration key ``log_max_bytes``)."""

DEFAULT_LOG_BACKUPS = 3
"""Rotated files kept beside the current one (configuration key ``log_backups``)."""

LOG_LEVELS = ("debug", "info", "warning", "error")
"""The values ``--log-level`` accepts."""


class Event(StrEnum):
    """The events an operator acts on; the value is the ``event`` field of the log line."""

    PROCESS_STARTED = "process.started"
    PROCESS_STOPPED = "process.stopped"
    LINK_UP = "link.up"
    LINK_DOWN = "link.down"
    ALARM_RAISED = "alarm.raised"
    ALARM_CLEARED = "alarm.cleared"
    RELAY_ROUTED = "relay.routed"
    RELAY_FAILED = "relay.failed"
    REQUEST_REFUSED = "request.refused"
    KEY_EXHAUSTED = "key.exhausted"


def log_event(
    logger: logging.Logger, event: Event, message: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log ``event`` with ``message`` and ``fields`` (plain JSON values) as one record.

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()
    >>> logger = logging.getLogger("openqci.example")
    >>> handler = logging.StreamHandler(stream)
    >>> handler.setFormatter(JsonFormatter())
    >>> logger.addHandler(handler)
    >>> logger.setLevel(logging.INFO)
    >>> log_event(logger, Event.LINK_DOWN, "link ab is down", link="ab")
    >>> line = json.loads(stream.getvalue())
    >>> line["event"], line["link"], line["level"]
    ('link.down', 'ab', 'info')
    >>> logger.removeHandler(handler)
    """
    logger.log(level, message, extra={"event": str(event), "fields": fields})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, pid, event, message and fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "event": getattr(record, "event", None),
            "message": record.getMessage(),
        }
        for key, value in getattr(record, "fields", {}).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class HumanFormatter(logging.Formatter):
    """``HH:MM:SS level event message key=value ...``: the same records, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        event = getattr(record, "event", None) or record.name.removeprefix("openqci.")
        fields = " ".join(f"{k}={v}" for k, v in getattr(record, "fields", {}).items())
        text = f"{when} {record.levelname.lower():<7} {event:<16} {record.getMessage()}"
        text = f"{text}  {fields}" if fields else text
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


def configure_logging(
    level: str = "info",
    *,
    file: Path | None = None,
    max_bytes: int = DEFAULT_LOG_MAX_BYTES,
    backups: int = DEFAULT_LOG_BACKUPS,
    human: bool | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send the ``openqci`` loggers (and uvicorn's) to ``file``, rotated at ``max_bytes``, or to ``stream``.

    ``human=None`` picks the human format when the output is a terminal and JSON otherwise. Returns the
    handler installed (on the root logger, replacing any other).

    Raises
    ------
    ValueError
        For a level outside :data:`LOG_LEVELS`, or a size or count below 1 and 0.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
    if max_bytes < 1024 or backups < 0:
        raise ValueError(f"log_max_bytes must be >= 1024 and log_backups >= 0, got {max_bytes}, {backups}")
    handler: logging.Handler
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(file, maxBytes=max_bytes, backupCount=backups)
        terminal = False
    else:
        out = stream or sys.stderr
        handler = logging.StreamHandler(out)
        terminal = out.isatty()
    handler.setFormatter(HumanFormatter() if (terminal if human is None else human) else JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("openqci").setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.captureWarnings(True)
    return handler
