"""Errors of the planner: bad planning input, reported as one line by the CLI."""

from __future__ import annotations

from openqci.errors import OpenQciError

__all__ = ["PlanError"]


class PlanError(OpenQciError):
    """A plan cannot be made as asked (bad parameter, unknown name, infeasible problem)."""
