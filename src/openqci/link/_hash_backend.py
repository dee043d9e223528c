"""Which privacy-amplification backend runs by default: measured once per CPU target, then stored.

The carry-less product runs on vectors of 128, 256 or 512 bits where the CPU has the instructions,
with a recursion that may stop at leaves of up to 8, 4 or 2 vectors, and the FFT runs anywhere. The
widest vector is not always the fastest, nor is one leaf size best everywhere: on an AMD EPYC whose
AVX-512 unit runs 512-bit instructions as two halves, the product of 2^24 bits ran at 74-77 Mbit/s
with 256-bit vectors and 57-58 with 512-bit ones at the former eight-vector leaves, and at 99-109 with
512-bit vectors and two-vector leaves, in the same runs. So at first use in a process, unless figures are
stored already, every candidate (:func:`candidates`) hashes :data:`MEASURE_BITS` bits to half that
(the modified family the session uses), interleaved and best of :data:`REPEATS` in CPU time, after
one small untimed call that loads or compiles its kernel; the fastest is used. That is about a
quarter of a second of hashing, most of it the FFT's.

The figures are stored with numba's compiled code, as JSON in numba's cache directory (the
source-keyed one of :mod:`openqci._jit_cache`, or ``NUMBA_CACHE_DIR``), in a file named after the CPU
target numba compiles for (:mod:`openqci._jit_target`), written to a temporary file and renamed into
place. Later processes read it and measure nothing; changed sources start a new cache directory and
so measure again. A file that does not parse, names another target or lacks a candidate is measured
over.

:data:`ENVIRONMENT_VARIABLE` (``OPENQCI_PA_BACKEND``) overrides the choice: ``auto`` (the default),
``carryless`` (the fastest carry-less candidate), ``fft``, a vector width (``carryless-512``,
``carryless-256``, ``carryless-128``: its fastest leaf, from the same figures), or one candidate
outright (``carryless-512-leaf16``: 512-bit vectors, leaves of at most 16 words; never measures),
among those this CPU runs. Every backend, width and leaf gives the same bits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import llvmlite.binding
import numba
import numpy as np

from openqci._jit_target import target_features, target_triple
from openqci.link import _carryless_toeplitz
from openqci.link._privacy_convolution import bit_spectrum, convolution_parities, plan_convolution
from openqci.link.errors import InvalidLinkParameterError

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "MEASURE_BITS",
    "REPEATS",
    "BackendChoice",
    "candidates",
    "choose_backend",
    "measure_rates",
    "store_path",
]

ENVIRONMENT_VARIABLE = "OPENQCI_PA_BACKEND"
"""Forces the backend: ``auto``, ``carryless``, ``fft``, a width (``carryless-256``) or a candidate."""

MEASURE_BITS = 1 << 20
"""Key bits each candidate hashes (to half as many) when measured: 2-5 ms carry-less, about 30 ms by FFT."""

REPEATS = 4
"""Timed calls per candidate, interleaved; the best counts."""

_FORMAT = 1
_WARM_UP_BITS = 1 << 12

Measure = Callable[[Sequence[str]], Mapping[str, float]]
"""Input bits per second of each named candidate."""


@dataclass(frozen=True)
class BackendChoice:
    """The candidate that runs, and the figures it was chosen by."""

    name: str
    """``carryless-<bits>-leaf<words>`` (vector width in bits, largest leaf in 64-bit words) or ``fft``."""
    rates: Mapping[str, float] = field(default_factory=dict)
    """Input bits per second of every candidate at :data:`MEASURE_BITS` bits (empty if none measured)."""
    source: Literal["measured", "stored", "environment", "only candidate"] = "measured"
    """Where the choice came from: figures measured in this process, figures read from the stored
    file, :data:`ENVIRONMENT_VARIABLE` naming the candidate outright, or the one candidate there is."""

    @property
    def backend(self) -> Literal["carryless", "fft"]:
        """The backend: ``carryless`` or ``fft``."""
        return "fft" if self.name == "fft" else "carryless"

    @property
    def width(self) -> str:
        """``carryless-512``, ``carryless-256``, ``carryless-128`` or ``fft``."""
        return self.name.split("-leaf")[0]

    @property
    def vector_words(self) -> int | None:
        """64-bit words per carry-less vector (8, 4 or 2); None for the FFT."""
        return None if self.name == "fft" else int(self.width.removeprefix("carryless-")) // 64

    @property
    def leaf_vectors(self) -> int | None:
        """The largest leaf in vectors (one of ``LEAF_VECTORS``); None for the FFT."""
        if self.vector_words is None:
            return None
        return int(self.name.split("-leaf")[1]) // self.vector_words


def candidates() -> tuple[str, ...]:
    """What this CPU runs: ``carryless-<bits>-leaf<words>`` for every vector width (widest first) and
    largest leaf (largest first), then ``fft``."""
    words = _carryless_toeplitz.VECTOR_WORDS
    leaves = _carryless_toeplitz.LEAF_VECTORS
    return (*(f"carryless-{64 * w}-leaf{v * w}" for w in words for v in leaves), "fft")


def choose_backend(*, carryless: bool = False, measure: Measure | None = None) -> BackendChoice:
    """The candidate ``auto`` runs (the fastest carry-less one when ``carryless``), forced or measured.

    ``measure`` replaces :func:`measure_rates` where the figures are not known yet (tests count its
    calls); the figures, once measured or read, are kept for the rest of the process.

    Raises
    ------
    InvalidLinkParameterError
        If :data:`ENVIRONMENT_VARIABLE` holds a value other than the ones this CPU allows (the
        message lists them), or ``carryless`` is asked of a CPU without carry-less multiplication.
    """
    names = candidates()
    variants = names[:-1]
    widths = tuple(dict.fromkeys(BackendChoice(name).width for name in variants))
    raw = os.environ.get(ENVIRONMENT_VARIABLE, "")
    forced = raw.strip().lower() or "auto"
    allowed = ("auto", *(("carryless",) if variants else ()), *widths, "fft")
    if forced not in allowed and forced not in variants:
        exact = (
            f"; or a width with its largest leaf in 64-bit words: {', '.join(variants)}" if variants else ""
        )
        raise InvalidLinkParameterError(
            f"{ENVIRONMENT_VARIABLE}={raw!r} is not a privacy-amplification backend this CPU runs; "
            f"allowed: {', '.join(allowed)}{exact}"
        )
    if carryless and not variants:
        raise InvalidLinkParameterError("the carryless backend needs an x86-64 CPU with PCLMULQDQ; use fft")
    if forced in names and not (carryless and forced == "fft"):
        return BackendChoice(forced, _known(), "environment")
    if forced in widths:
        pool = tuple(name for name in variants if BackendChoice(name).width == forced)
    else:
        pool = variants if carryless or forced == "carryless" else names
    if len(pool) == 1:
        return BackendChoice(pool[0], _known(), "only candidate")
    rates, source = _rates(measure or measure_rates)
    return BackendChoice(fastest(rates, pool), rates, source)


def fastest(rates: Mapping[str, float], pool: Sequence[str]) -> str:
    """The candidate of ``pool`` with the highest rate; a tie goes to the one listed first."""
    return max(pool, key=lambda name: (rates[name], -pool.index(name)))


def store_path() -> Path:
    """The JSON file of this CPU target's figures in numba's cache directory."""
    from openqci._jit_cache import jit_cache_dir

    directory = Path(getattr(numba.config, "CACHE_DIR", "") or jit_cache_dir())
    digest = hashlib.sha256(json.dumps(_target(), sort_keys=True).encode()).hexdigest()[:16]
    return directory / f"privacy-backend-{digest}.json"


def measure_rates(names: Sequence[str]) -> dict[str, float]:
    """Input bits per second of each candidate hashing :data:`MEASURE_BITS` bits to half, best of
    :data:`REPEATS` interleaved calls in CPU time, after an untimed small call of each."""
    rng = np.random.default_rng(0)
    small_key, small_seed = rng.random(_WARM_UP_BITS) < 0.5, rng.random(_WARM_UP_BITS - 1) < 0.5
    for name in names:  # loads (or compiles) the kernel
        _hash_call(name, small_key, small_seed)()
    key, seed = rng.random(MEASURE_BITS) < 0.5, rng.random(MEASURE_BITS - 1) < 0.5
    calls = {name: _hash_call(name, key, seed) for name in names}
    best = dict.fromkeys(names, math.inf)
    for _ in range(REPEATS):
        for name, call in calls.items():
            start = time.process_time()
            call()
            best[name] = min(best[name], time.process_time() - start)
    return {name: MEASURE_BITS / max(seconds, 1e-9) for name, seconds in best.items()}


def _hash_call(name: str, key: np.ndarray, seed: np.ndarray) -> Callable[[], object]:
    """One modified Toeplitz hash of ``key`` to half its length by the named candidate's kernel."""
    rows = key.size // 2
    vector = key[rows:]
    start = vector.size - 1
    if name == "fft":
        plan = plan_convolution(seed.size)
        return lambda: convolution_parities(vector, bit_spectrum(seed, plan), plan, start, rows)
    choice = BackendChoice(name)
    words, leaf = choice.vector_words, choice.leaf_vectors
    return lambda: _carryless_toeplitz.toeplitz_product(
        seed, vector, rows, start, vector_words=words, leaf_vectors=leaf
    )


_records: dict[tuple[str, ...], tuple[dict[str, float], Literal["measured", "stored"]]] = {}
"""This process's figures, by the candidates they cover."""
_lock = threading.Lock()


def _rates(measure: Measure) -> tuple[dict[str, float], Literal["measured", "stored"]]:
    """This process's figures: kept, else read from :func:`store_path`, else measured and stored."""
    names = candidates()
    with _lock:
        if names not in _records:
            path = store_path()
            stored = _read(path, names)
            if stored is not None:
                _records[names] = stored, "stored"
            else:
                measured = measure(names)
                rates = {name: float(measured[name]) for name in names}
                _records[names] = rates, "measured"
                _write(path, rates, fastest(rates, names))
        rates, source = _records[names]
        return dict(rates), source


def _known() -> dict[str, float]:
    """The figures of this process, if any were measured or read."""
    kept = _records.get(candidates())
    return dict(kept[0]) if kept else {}


def _target() -> dict[str, Any]:
    """The CPU target numba compiles for: triple, CPU name and features."""
    cpu = getattr(numba.config, "CPU_NAME", None) or llvmlite.binding.get_host_cpu_name()
    return {"triple": target_triple(), "cpu": str(cpu), "features": sorted(target_features())}


def _read(path: Path, names: Sequence[str]) -> dict[str, float] | None:
    """The stored rates if ``path`` holds this target's figures for every candidate, else None."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("target") != _target():
        return None
    rates = data.get("rates")
    if not isinstance(rates, dict) or set(rates) != set(names):
        return None
    if not all(type(rate) in (int, float) and math.isfinite(rate) and rate > 0 for rate in rates.values()):
        return None
    return {name: float(rates[name]) for name in names}


def _write(path: Path, rates: Mapping[str, float], chosen: str) -> None:
    """Store the figures atomically (a temporary file renamed into place); a failure only costs a
    measurement in the next process."""
    record = {
        "format": _FORMAT,
        "target": _target(),
        "measured_bits": MEASURE_BITS,
        "unit": "input bits per second, modified Toeplitz hash to half the length",
        "rates": dict(rates),
        "chosen": chosen,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(record, stream, indent=1, sort_keys=True)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
