"""Progressive edge growth (PEG) of irregular parity-check matrices, in numba.

PEG (Hu, Eleftheriou, Arnold, "Regular and irregular progressive edge-growth Tanner graphs", IEEE Trans.
Inf. Theory 51(1), 2005) adds the edges of the Tanner graph one at a time, variable nodes in order of
increasing degree, and joins each new edge to a check node as far as possible from the variable in the
graph built so far, the least-connected such check first. Here the search looks two check levels deep
(the variable's own checks, and the checks one variable away from them), so a new edge never closes a
cycle of length 4 and never repeats an edge; beyond that depth the high-degree nodes of BSC-optimised
ensembles reach most checks anyway. Choosing the least-connected check keeps check degrees within one or
two of each other, as the ensembles assume.

The degree-2 nodes, or as many as there are checks less one, are laid first as a chain (node ``j`` joins
checks ``j`` and ``j + 1``), as in irregular repeat-accumulate codes (Jin, Khandekar, McEliece, 2000): they
then close no cycle among themselves, which would be a low-weight codeword. Ties between checks are broken
by a splitmix64 stream from the seed, so the same arguments always give the same matrix.

Cost: the marks of a variable's neighbourhood are grown once per chosen check rather than by a new search
per edge, and checks are kept in buckets of equal degree, so a 2^17-bit code is built in about a second.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["peg_rows"]

_OWN = 1
_NEAR = 2


def peg_rows(
    variable_degrees: NDArray[np.int64], n_checks: int, seed: int
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Build ``H`` by PEG and return it as compressed sparse rows, columns sorted within each row.

    Parameters
    ----------
    variable_degrees
        Degree of each variable node (column); the order of the columns is kept.
    n_checks
        Number of check nodes ``m``.
    seed
        Seed of the tie-breaking stream.

    Returns
    -------
    tuple of (row_ptr, col_idx)
        ``row_ptr[c]:row_ptr[c + 1]`` indexes the columns of check ``c`` in ``col_idx``.
    """
    degrees = np.ascontiguousarray(variable_degrees, dtype=np.int64)
    if degrees.size == 0 or n_checks < 2 or int(degrees.max()) > n_checks:
        raise ValueError("PEG needs at least two checks and no variable degree above the number of checks")
    var_of_edge, check_of_edge = _grow(degrees, n_checks, np.uint64(seed & (2**64 - 1)))
    order = np.lexsort((var_of_edge, check_of_edge))
    counts = np.bincount(check_of_edge, minlength=n_checks)
    row_ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    return row_ptr, var_of_edge[order].astype(np.int32)


@numba.njit(cache=True, nogil=True)
def _next_random(state: NDArray[np.uint64]) -> np.uint64:
    """splitmix64 (Steele, Lea, Flood, OOPSLA 2014): the next 64-bit value of the stream in ``state``."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return np.uint64(z ^ (z >> np.uint64(31)))


@numba.njit(cache=True, nogil=True)
def _grow(
    degrees: NDArray[np.int64], n_checks: int, seed: np.uint64
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Edges of the PEG graph as (variable, check) arrays.

    One body on purpose: the adjacency lists, the degree buckets and the marks are shared by every step,
    and splitting them across calls would pass eight arrays around for each edge.
    """
    n_vars, n_edges = degrees.size, int(degrees.sum())
    max_check_degree = n_edges // n_checks + 64
    check_vars = np.empty((n_checks, max_check_degree), dtype=np.int64)
    check_degree = np.zeros(n_checks, dtype=np.int64)
    var_start = np.zeros(n_vars + 1, dtype=np.int64)
    var_start[1:] = np.cumsum(degrees)
    var_checks = np.empty(n_edges, dtype=np.int64)
    # checks sorted by degree: bucket d is order[bucket[d]:bucket[d + 1]]
    order = np.arange(n_checks, dtype=np.int64)
    where = np.arange(n_checks, dtype=np.int64)
    bucket = np.full(max_check_degree + 2, n_checks, dtype=np.int64)
    bucket[0] = 0
    marks = np.zeros(n_checks, dtype=np.int8)
    stamp = np.full(n_checks, -1, dtype=np.int64)
    state = np.array([seed], dtype=np.uint64)
    chained, skipped = 0, 0
    for v in range(n_vars):
        if degrees[v] == 2 and chained < n_checks - 1:
            chosen = (chained, chained + 1)
            chained += 1
            for j in range(2):
                c = chosen[j]
                var_checks[var_start[v] + j] = c
                check_vars[c, check_degree[c]] = v
                _raise_degree(c, check_degree, order, where, bucket)
                check_degree[c] += 1
    for v in range(n_vars):
        if degrees[v] == 2 and skipped < chained:
            skipped += 1
            continue
        for j in range(degrees[v]):
            c = _least_connected(v, order, bucket, marks, stamp, state, n_checks)
            var_checks[var_start[v] + j] = c
            # the new check and everything one variable away from it are now near v
            for k in range(check_degree[c]):
                u = check_vars[c, k]
                for e in range(var_start[u], var_start[u] + degrees[u]):
                    other = var_checks[e]
                    if stamp[other] != v:
                        stamp[other], marks[other] = v, _NEAR
            stamp[c], marks[c] = v, _OWN
            check_vars[c, check_degree[c]] = v
            _raise_degree(c, check_degree, order, where, bucket)
            check_degree[c] += 1
    var_of_edge = np.empty(n_edges, dtype=np.int64)
    for v in range(n_vars):
        var_of_edge[var_start[v] : var_start[v + 1]] = v
    return var_of_edge, var_checks


@numba.njit(cache=True, nogil=True)
def _raise_degree(
    c: int,
    check_degree: NDArray[np.int64],
    order: NDArray[np.int64],
    where: NDArray[np.int64],
    bucket: NDArray[np.int64],
) -> None:
    """Move check ``c`` from the bucket of its degree to the next one (swap with that bucket's last entry)."""
    d = check_degree[c]
    last = bucket[d + 1] - 1
    other = order[last]
    order[where[c]], order[last] = other, c
    where[other], where[c] = where[c], last
    bucket[d + 1] = last


@numba.njit(cache=True, nogil=True)
def _least_connected(
    v: int,
    order: NDArray[np.int64],
    bucket: NDArray[np.int64],
    marks: NDArray[np.int8],
    stamp: NDArray[np.int64],
    state: NDArray[np.uint64],
    n_checks: int,
) -> int:
    """Lowest-degree check not near ``v`` (random among equals); failing that, one not joined to ``v``."""
    for accept_near in (False, True):
        d = 0
        while bucket[d] < n_checks:
            first, stop = bucket[d], bucket[d + 1]
            size = stop - first
            if size > 0:
                offset = int(_next_random(state) % np.uint64(size))
                for k in range(size):
                    c = order[first + (offset + k) % size]
                    if stamp[c] != v or (accept_near and marks[c] == _NEAR):
                        return int(c)
            d += 1
    raise ValueError("every check is already joined to this variable")
