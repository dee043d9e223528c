"""One row of the reliability table: what a campaign did, what broke, and what it cost."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Clock", "Outcome", "growth_per_hour"]


@dataclass
class Outcome:
    """A campaign's figures; ``violations`` lists each broken invariant with what shows it.

    An invariant violation is a security or correctness failure (a key delivered twice, a key reaching a
    wrong caller, a 5xx or traceback on bad input, key released from an attacked block). ``errors`` counts
    the refusals and failures the campaign provoked on purpose and that the contract allows (503 while a
    peer is down, a refused handshake), by kind.
    """

    scenario: str
    faults: int = 0
    requests: int = 0
    violations: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list, repr=False)
    rss_mb: float | None = None
    wal_mb_per_hour: float | None = None
    store_mb_per_hour: float | None = None
    notes: list[str] = field(default_factory=list)
    examples: dict[str, str] = field(default_factory=dict)
    skipped: str | None = None
    duration_s: float = 0.0

    def violate(self, what: str) -> None:
        """Record a broken invariant (kept once per distinct message, counted each time)."""
        self.violations.append(what)

    @property
    def p99_ms(self) -> float | None:
        """The 99th percentile of the request latencies, in milliseconds (None without requests)."""
        if not self.latencies_s:
            return None
        return float(np.percentile(np.asarray(self.latencies_s), 99) * 1000.0)

    def record(self) -> dict[str, Any]:
        """The row as a JSON-ready dictionary."""
        distinct = Counter(self.violations)
        return {
            "scenario": self.scenario,
            "faults_injected": self.faults,
            "requests": self.requests,
            "invariant_violations": len(self.violations),
            "violations": [{"what": k, "count": n} for k, n in distinct.most_common()],
            "errors_by_kind": dict(self.errors.most_common()),
            "p99_latency_ms": self.p99_ms,
            "rss_mb": self.rss_mb,
            "wal_mb_per_hour": self.wal_mb_per_hour,
            "store_mb_per_hour": self.store_mb_per_hour,
            "notes": self.notes,
            "error_examples": self.examples,
            "skipped": self.skipped,
            "duration_s": round(self.duration_s, 1),
        }


class Clock:
    """A campaign's time budget: ``left()`` seconds until its deadline."""

    def __init__(self, budget_s: float) -> None:
        self.start = time.monotonic()
        self.deadline = self.start + budget_s

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def growth_per_hour(times_s: list[float], sizes_bytes: list[float]) -> float | None:
    """The slope of a least-squares line through (time, size), in MB per hour (None with < 3 samples)."""
    if len(times_s) < 3 or max(times_s) - min(times_s) <= 0:
        return None
    slope = float(np.polyfit(np.asarray(times_s), np.asarray(sizes_bytes), 1)[0])
    return slope * 3600.0 / 1e6
