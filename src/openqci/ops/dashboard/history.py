"""The short time series behind the dashboard's plots: one bounded ring of samples per link and per KME.

A sample is taken at most once per ``every_s`` (whenever the page's stream asks for a snapshot), and each
ring keeps ``samples`` of them, so a controller that runs for months holds a few hundred numbers per link.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

__all__ = ["History"]

Sample = tuple[float, ...]


class History:
    """Rings of samples keyed by name (``link:NAME``, ``kme:NAME``)."""

    def __init__(self, *, samples: int = 300, every_s: float = 1.0) -> None:
        self.samples = samples
        self.every_s = every_s
        self._rings: dict[str, deque[Sample]] = {}
        self._last_s = float("-inf")

    def due(self, now_s: float) -> bool:
        """Whether a new sample is due at ``now_s``."""
        return now_s - self._last_s >= self.every_s

    def add(self, now_s: float, values: Mapping[str, Sequence[float]]) -> None:
        """Append one sample per key at ``now_s``."""
        self._last_s = now_s
        for key, figures in values.items():
            ring = self._rings.setdefault(key, deque(maxlen=self.samples))
            ring.append((round(now_s, 3), *figures))

    def series(self) -> dict[str, list[Sample]]:
        """Every ring, oldest sample first."""
        return {key: list(ring) for key, ring in self._rings.items()}
