"""The live operations dashboard the controller serves: a map, per-link and per-KME figures, alarms.

:mod:`~openqci.ops.dashboard.snapshot` builds what the page shows from the controller's state,
:mod:`~openqci.ops.dashboard.history` keeps the short time series of its plots, and
:mod:`~openqci.ops.dashboard.router` serves the page, its assets and the live stream (server-sent events).
"""

from __future__ import annotations

from openqci.ops.dashboard.router import dashboard_router
from openqci.ops.dashboard.snapshot import SnapshotSource

__all__ = ["SnapshotSource", "dashboard_router"]
