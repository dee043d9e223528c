"""Operations: metrics, event logs, health probes and the live dashboard of a running QCI.

The package's top level re-exports only the event log (:mod:`openqci.ops.events`, standard library only),
so the command line and every layer may import it at no cost. The rest is imported from its module:
the KME's metrics (:mod:`openqci.ops.metrics_kme`), the probes (:mod:`openqci.ops.probes`), the
controller's metrics and dashboard (:mod:`openqci.ops.metrics_controller`, :mod:`openqci.ops.dashboard`)
and the terminal view (:mod:`openqci.ops.terminal_view`).
"""

from __future__ import annotations

from openqci.ops.events import (
    DEFAULT_LOG_BACKUPS,
    DEFAULT_LOG_MAX_BYTES,
    LOG_LEVELS,
    Event,
    configure_logging,
    log_event,
)

__all__ = [
    "DEFAULT_LOG_BACKUPS",
    "DEFAULT_LOG_MAX_BYTES",
    "LOG_LEVELS",
    "Event",
    "configure_logging",
    "log_event",
]
