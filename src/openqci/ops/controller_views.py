"""Mounts the operations view on the controller's app: ``/metrics``, ``/health`` and the dashboard."""

from __future__ import annotations

import time

from fastapi import FastAPI

from openqci.network.controller import Controller
from openqci.network.controller_api import authorised
from openqci.network.statedir import StateDir
from openqci.network.topology import NodeStatus
from openqci.ops.dashboard.router import dashboard_router
from openqci.ops.dashboard.snapshot import SnapshotSource
from openqci.ops.metrics_controller import controller_registry
from openqci.ops.probes import probes_router

__all__ = ["mount_operations"]


def mount_operations(app: FastAPI, controller: Controller, token: str, layout: StateDir | None) -> None:
    """Add the probes (``/metrics`` needs the bearer token) and the dashboard to the controller's app."""

    def readiness() -> str | None:
        silent = [v.node.qkdn_id for v in controller.nodes() if v.status is not NodeStatus.UP]
        return None if not silent else f"waiting for reports from {', '.join(silent[:5])}"

    registry = controller_registry(controller)
    app.include_router(probes_router(registry, readiness, name="controller", guard=authorised))
    app.include_router(dashboard_router(SnapshotSource(controller, layout, clock=time.time), token))
