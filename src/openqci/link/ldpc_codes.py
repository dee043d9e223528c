"""Mother codes for LDPC reconciliation: irregular parity-check matrices built from a seed.

Two families are defined. The *staircase* family (:class:`LdpcCodeSpec`) is described first. The *PEG*
family (:class:`PegCodeSpec`) has a degree distribution optimised for belief propagation on the binary
symmetric channel (degrees 2, 3, 9, 10 and 30, check degrees concentrated) and is built by progressive
edge growth (:mod:`openqci.link.ldpc_peg`), which leaves no cycle of length 4; it is meant for the
sum-product decoder. Its construction takes a few seconds, so built PEG codes are also kept on disk under
``~/.cache/openqci/ldpc`` (``$XDG_CACHE_HOME`` when set), named by a hash of everything that determines
the matrix; a damaged or missing file is simply rebuilt.

Each staircase mother code is an irregular repeat-accumulate-shaped LDPC code: ``m - 1`` degree-2 variable
nodes on a dual-diagonal staircase, the others of degree 3 or ``high_degree``, check degrees concentrated on
two neighbouring values. The staircase keeps degree-2 nodes free of cycles among themselves (Jin, Khandekar,
McEliece, "Irregular repeat-accumulate codes", 2000); the degree mix follows the shape of the DVB-S2 codes
(ETSI EN 302 307, Table 5a: degree 3 plus a fraction of degree 8-13). Density evolution and simulation
picked degree 8 on 30 % of the non-staircase nodes over 12 and 16, which min-sum decodes worse at this
length. The rest of the matrix is drawn by matching variable sockets to a seeded permutation of check
sockets and then removing repeated edges, so both ends of a link rebuild the same matrix from the same
:class:`LdpcCodeSpec` without exchanging it. Construction takes about 0.1 s, so codes are cached in memory
only.

The matrix is kept in the form the layered decoder reads: the rows (checks) as compressed sparse rows,
column indices sorted within each row so that the decoder walks memory forwards.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from openqci.link.ldpc_peg import peg_rows

__all__ = [
    "LONG_CODES",
    "MOTHER_CODES",
    "PEG_LONG_CODES",
    "PEG_NODE_DEGREES",
    "PEG_SHORT_CODES",
    "SHORT_CODES",
    "CodeSpec",
    "LdpcCode",
    "LdpcCodeSpec",
    "PegCodeSpec",
    "build_code",
    "parity_check_dense",
]


@dataclass(frozen=True)
class LdpcCodeSpec:
    """Recipe of a mother code; the same recipe always yields the same matrix.

    Attributes
    ----------
    rate
        Design rate ``1 - m/n`` of the mother code.
    n_bits
        Frame length ``n`` (variable nodes).
    high_degree
        Degree of the strongest variable nodes; the others have degree 3, besides the ``m - 1`` degree-2
        nodes of the staircase.
    high_fraction
        Fraction of the non-staircase variable nodes that have ``high_degree``.
    seed
        Seed of the permutation that draws the matrix from the ensemble.
    design_efficiency
        Efficiency ``f`` at which the code, shortened to the rate ``1 - f h(q)``, fails on about one frame
        in a hundred or fewer under the layered min-sum decoder (measured, see benchmarks/README.md).
    """

    rate: float
    n_bits: int
    high_degree: int
    high_fraction: float
    seed: int
    design_efficiency: float


@dataclass(frozen=True)
class PegCodeSpec:
    """Recipe of a PEG mother code; the same recipe always yields the same matrix.

    Attributes
    ----------
    rate
        Design rate ``1 - m/n``.
    n_bits
        Frame length ``n``.
    node_degrees
        ``(degree, fraction of the variable nodes)`` pairs of every degree but 3, which takes the rest; the
        degree-2 nodes (at most ``m - 1``) form one chain through the checks.
    seed
        Seed of the tie-breaking stream of the construction.
    design_efficiency
        Efficiency ``f`` at which the code, shortened to the rate ``1 - f h(q)``, fails on a few frames in a
        hundred or fewer under the sum-product decoder (measured, see benchmarks/README.md).
    """

    rate: float
    n_bits: int
    node_degrees: tuple[tuple[int, float], ...]
    seed: int
    design_efficiency: float

    def variable_degrees(self) -> NDArray[np.int64]:
        """Degree of every variable node, lowest first (the order in which PEG places them)."""
        n_checks = round(self.n_bits * (1.0 - self.rate))
        counts = {degree: round(fraction * self.n_bits) for degree, fraction in self.node_degrees}
        counts[2] = min(counts.get(2, 0), n_checks - 1)
        counts[3] = self.n_bits - sum(counts.values())
        if counts[3] < 0:
            raise ValueError(f"degree fractions of {self} leave no room for degree 3")
        return np.repeat(np.array(sorted(counts), dtype=np.int64), [counts[d] for d in sorted(counts)])


CodeSpec = LdpcCodeSpec | PegCodeSpec
"""Either family's recipe."""


@dataclass(frozen=True, eq=False)
class LdpcCode:
    """A parity-check matrix ``H`` (``m`` x ``n``) stored by rows.

    Attributes
    ----------
    spec
        The recipe the matrix was built from.
    n_bits, n_checks
        ``n`` and ``m``.
    row_ptr
        ``row_ptr[c]:row_ptr[c + 1]`` indexes the columns of check ``c`` in ``col_idx``.
    col_idx
        Column (variable) indices of the non-zero entries, row by row, sorted within a row.
    """

    spec: CodeSpec
    n_bits: int
    n_checks: int
    row_ptr: NDArray[np.int32]
    col_idx: NDArray[np.int32]

    @property
    def rate(self) -> float:
        """Actual rate ``1 - m/n`` (``H`` is assumed full rank, which only underestimates the rate)."""
        return 1.0 - self.n_checks / self.n_bits

    @property
    def max_row_weight(self) -> int:
        """Largest check degree, the size of the decoder's scratch row."""
        return int(np.max(np.diff(self.row_ptr)))


def _family(n_bits: int, efficiency_low_qber: float, efficiency: float) -> tuple[LdpcCodeSpec, ...]:
    """Mother codes of one length at rates 0.50, 0.51, ..., 0.94; rates above 0.86 serve QBER near 1 %."""
    return tuple(
        LdpcCodeSpec(
            rate=percent / 100,
            n_bits=n_bits,
            high_degree=8,
            high_fraction=0.3,
            seed=n_bits + percent,
            design_efficiency=efficiency_low_qber if percent > 86 else efficiency,
        )
        for percent in range(50, 95)
    )


SHORT_CODES: tuple[LdpcCodeSpec, ...] = _family(1 << 15, 1.48, 1.38)
"""Mother codes of 32,768 bits, for keys shorter than one long frame; lowest rate first."""

LONG_CODES: tuple[LdpcCodeSpec, ...] = _family(1 << 17, 1.40, 1.30)
"""Mother codes of 131,072 bits: closer to the ensemble threshold, used whenever the key fills a frame."""

PEG_NODE_DEGREES: tuple[tuple[int, float], ...] = ((2, 0.091), (9, 0.097), (10, 0.126), (30, 0.065))
"""Node fractions of degrees 2, 9, 10 and 30 in the PEG family (degree 3: the rest, 0.621).

Obtained at rate 0.84 (QBER 2 %): a linear program over the variable-degree distribution under an
EXIT-chart model of belief propagation on the BSC gave the degrees (threshold f* = 1.15 by density
evolution of sum-product), then a local search on the fractions by Monte Carlo density evolution of
sum-product moved nodes from degree 2 to degrees 10 and 30 (f* about 1.07). The same fractions serve
every rate, which is optimised only near 0.84."""


def _peg_family(n_bits: int, efficiencies: tuple[float, float, float]) -> tuple[PegCodeSpec, ...]:
    """PEG mother codes of one length at rates 0.50, 0.51, ..., 0.94.

    ``efficiencies`` are the design efficiencies below rate 0.80, at 0.80-0.86 (QBER near 2 %, where the
    distribution was optimised) and above 0.86 (QBER near 1 %); measured, see benchmarks/README.md.
    """
    return tuple(
        PegCodeSpec(
            rate=percent / 100,
            n_bits=n_bits,
            node_degrees=PEG_NODE_DEGREES,
            seed=3 * n_bits + percent,
            design_efficiency=efficiencies[(percent >= 80) + (percent > 86)],
        )
        for percent in range(50, 95)
    )


PEG_SHORT_CODES: tuple[PegCodeSpec, ...] = _peg_family(1 << 15, (1.26, 1.22, 1.30))
"""PEG mother codes of 32,768 bits; lowest rate first."""

PEG_LONG_CODES: tuple[PegCodeSpec, ...] = _peg_family(1 << 17, (1.18, 1.14, 1.22))
"""PEG mother codes of 131,072 bits."""

MOTHER_CODES: tuple[CodeSpec, ...] = SHORT_CODES + LONG_CODES + PEG_SHORT_CODES + PEG_LONG_CODES
"""Every mother code; an index into this tuple names a code on the wire."""


@functools.cache
def build_code(spec: CodeSpec) -> LdpcCode:
    """Draw the parity-check matrix described by ``spec`` (cached per process, PEG codes also on disk).

    Parameters
    ----------
    spec
        Rate, length, degrees and seed.

    Returns
    -------
    LdpcCode
        The matrix by rows, with no repeated entries.

    Examples
    --------
    >>> code = build_code(SHORT_CODES[-1])
    >>> code.n_bits, round(code.rate, 2)
    (32768, 0.94)
    """
    if isinstance(spec, PegCodeSpec):
        return _peg_code(spec)
    rng = np.random.default_rng(spec.seed)
    n_checks = round(spec.n_bits * (1.0 - spec.rate))
    stair_vars, stair_checks = _staircase(n_checks)
    free_vars = _free_variable_sockets(spec, first_var=n_checks - 1)
    free_checks = _check_sockets(free_vars.size, n_checks, rng)
    free_checks = _remove_repeated_edges(free_vars, free_checks, rng)
    var_of_edge = np.concatenate((stair_vars, free_vars))
    check_of_edge = np.concatenate((stair_checks, free_checks))
    row_ptr, col_idx = _rows(var_of_edge, check_of_edge, n_checks)
    return LdpcCode(spec=spec, n_bits=spec.n_bits, n_checks=n_checks, row_ptr=row_ptr, col_idx=col_idx)


_PEG_VERSION = 2
"""Bumped whenever the construction changes, so matrices cached on disk by an older one are not used."""


def _peg_code(spec: PegCodeSpec) -> LdpcCode:
    """A PEG code from the disk cache, or built and then stored there."""
    n_checks = round(spec.n_bits * (1.0 - spec.rate))
    degrees = spec.variable_degrees()
    key = hashlib.sha256(
        repr((_PEG_VERSION, spec.n_bits, n_checks, spec.seed)).encode() + degrees.tobytes()
    ).hexdigest()[:32]
    path = _cache_dir() / f"peg-{key}.npz"
    try:
        with np.load(path) as stored:
            row_ptr, col_idx = stored["row_ptr"], stored["col_idx"]
        if row_ptr.size != n_checks + 1 or col_idx.size != int(degrees.sum()):
            raise ValueError("cached matrix does not fit its recipe")
    except (OSError, ValueError, KeyError):
        row_ptr, col_idx = peg_rows(degrees, n_checks, spec.seed)
        _store(path, row_ptr, col_idx)
    return LdpcCode(spec=spec, n_bits=spec.n_bits, n_checks=n_checks, row_ptr=row_ptr, col_idx=col_idx)


def _cache_dir() -> Path:
    """``$XDG_CACHE_HOME/openqci/ldpc``, by default ``~/.cache/openqci/ldpc``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openqci" / "ldpc"


def _store(path: Path, row_ptr: NDArray[np.int32], col_idx: NDArray[np.int32]) -> None:
    """Write atomically (temporary file, then rename); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as handle:
            np.savez(handle, row_ptr=row_ptr, col_idx=col_idx)
        os.replace(handle.name, path)
    except OSError:
        return


def parity_check_dense(code: LdpcCode) -> NDArray[np.uint8]:
    """``H`` as a dense 0/1 matrix, for tests on small codes."""
    dense = np.zeros((code.n_checks, code.n_bits), dtype=np.uint8)
    rows = np.repeat(np.arange(code.n_checks), np.diff(code.row_ptr))
    dense[rows, code.col_idx] = 1
    return dense


def _staircase(n_checks: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Edges of the dual diagonal: degree-2 variable ``j`` joins checks ``j`` and ``j + 1``.

    Degree-2 nodes that close a cycle among themselves form a low-weight codeword, the cause of high
    error floors; laid out as one chain (as in irregular repeat-accumulate codes, Jin, Khandekar, McEliece,
    2000) they close none.
    """
    chain = np.arange(n_checks - 1, dtype=np.int64)
    return np.repeat(chain, 2), np.stack((chain, chain + 1), axis=1).ravel()


def _free_variable_sockets(spec: LdpcCodeSpec, first_var: int) -> NDArray[np.int64]:
    """Variable end of every edge of the non-staircase nodes (degree 3 or ``high_degree``)."""
    n_free = spec.n_bits - first_var
    n_high = round(spec.high_fraction * n_free)
    degrees = np.full(n_free, 3, dtype=np.int64)
    degrees[np.random.default_rng(spec.seed + 1).permutation(n_free)[:n_high]] = spec.high_degree
    return np.repeat(np.arange(first_var, spec.n_bits, dtype=np.int64), degrees)


def _check_sockets(n_edges: int, n_checks: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """Check index of every edge, check degrees differing by at most one, in random order."""
    base, extra = divmod(n_edges, n_checks)
    degrees = np.full(n_checks, base, dtype=np.int64)
    degrees[:extra] += 1
    sockets = np.repeat(np.arange(n_checks, dtype=np.int64), degrees)
    return np.asarray(rng.permutation(sockets), dtype=np.int64)


def _remove_repeated_edges(
    var_of_edge: NDArray[np.int64], check_of_edge: NDArray[np.int64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """Swap the check end of repeated (variable, check) pairs with random edges until none is left."""
    checks = check_of_edge.copy()
    n_checks = int(checks.max()) + 1
    for _ in range(1000):
        key = var_of_edge * n_checks + checks
        _, first = np.unique(key, return_index=True)
        repeated = np.setdiff1d(np.arange(key.size), first)
        if repeated.size == 0:
            return checks
        partners = rng.choice(first, size=repeated.size, replace=False)
        checks[repeated], checks[partners] = checks[partners], checks[repeated]
    raise RuntimeError("could not remove repeated edges; the degree distribution is too dense")


def _rows(
    var_of_edge: NDArray[np.int64], check_of_edge: NDArray[np.int64], n_checks: int
) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
    """Compressed sparse rows of ``H`` with columns sorted within each row."""
    order = np.lexsort((var_of_edge, check_of_edge))
    counts = np.bincount(check_of_edge, minlength=n_checks)
    row_ptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int32)
    return row_ptr, var_of_edge[order].astype(np.int32)
