"""Helpers shared by the test packages."""

from __future__ import annotations

import os

import pytest

__all__ = ["require_service"]


def require_service(name: str, reachable: bool, reason: str) -> None:
    """Skip a test whose service is missing, except under CI where a missing service is a failure."""
    if reachable:
        return
    message = f"{name} not reachable: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(message)
