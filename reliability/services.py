"""Services a campaign needs (PostgreSQL): skipped with the reason, but a violation under CI=true."""

from __future__ import annotations

import os

from reliability.outcome import Outcome
from tests.kms.conftest import PG_URL, _postgres_reachable

__all__ = ["postgres_or_skip", "under_ci"]


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def postgres_or_skip(outcome: Outcome) -> bool:
    """Whether PostgreSQL answers; if not, mark ``outcome`` skipped (a violation under CI=true)."""
    if _postgres_reachable():
        return True
    outcome.skipped = f"PostgreSQL not reachable at {PG_URL!r}"
    if under_ci():
        outcome.violate("PostgreSQL not reachable under CI=true")
    return False
