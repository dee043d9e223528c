"""Lane tables that start on a cache line, for the LDPC lane sweeps.

A lane sweep reads and writes whole rows of its posterior and message tables, one row per bit or edge
with one value per lane, and asks for them ahead of time by cache line. ``np.zeros`` in numba aligns to
32 bytes (NumPy's own arrays to 16), so a 128-byte row of 32 float32 lanes could straddle three cache
lines, the third neither prefetched nor near any other row the sweep was about to touch: each scattered
posterior row then cost a full miss. Rows that start on a cache line made the 32-lane sum-product sweep
of the 131,072-bit PEG code about 1.25 times faster (``benchmarks/bench_ldpc_sweep.py``).
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["CACHE_LINE", "half_lane_table", "lane_table"]

CACHE_LINE = 64
"""Bytes in a cache line on the hosts the sweeps were tuned on (x86-64 and most ARM cores)."""


@numba.njit(cache=True, nogil=True)
def _aligned_bytes(n_bytes: int) -> NDArray[np.uint8]:  # pragma: no cover - numba
    raw = np.zeros(n_bytes + CACHE_LINE, dtype=np.uint8)
    offset = (CACHE_LINE - raw.ctypes.data % CACHE_LINE) % CACHE_LINE
    return raw[offset : offset + n_bytes]


@numba.njit(cache=True, nogil=True)
def lane_table(rows: int, width: int) -> NDArray[np.float32]:  # pragma: no cover - numba
    """A zeroed C-contiguous ``(rows, width)`` float32 table whose first byte starts a cache line."""
    return _aligned_bytes(rows * width * 4).view(np.float32).reshape((rows, width))


@numba.njit(cache=True, nogil=True)
def half_lane_table(rows: int, width: int) -> NDArray[np.uint16]:  # pragma: no cover - numba
    """As :func:`lane_table`, of IEEE half-precision numbers held as their ``uint16`` bits (zeros: +0)."""
    return _aligned_bytes(rows * width * 2).view(np.uint16).reshape((rows, width))
