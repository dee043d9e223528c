"""The CPU numba compiles for, for the kernels that write target-specific LLVM IR.

The carry-less Toeplitz leaves and the LDPC sum-product sweep both pick instructions (VPCLMULQDQ,
AVX-512, F16C) by what numba's code generator enables, not by the host alone: ``NUMBA_CPU_FEATURES``
(or ``NUMBA_CPU_NAME=generic``, which empties it) makes numba compile for another CPU, and IR that asks
for instructions the target lacks does not compile. Both read it here, the way numba's own JIT code
generator does.
"""

from __future__ import annotations

import llvmlite.binding
import numba

__all__ = ["target_features", "target_triple"]


def target_features() -> frozenset[str]:
    """Names of the features numba compiles for (``"avx512f"``, ``"f16c"``, ...): ``NUMBA_CPU_FEATURES``
    where numba was given it, read when called, otherwise the host's."""
    chosen = getattr(numba.config, "CPU_FEATURES", None)  # "+avx2,-avx512f,..." when numba was told
    listed = chosen if chosen is not None else llvmlite.binding.get_host_cpu_features().flatten()
    return frozenset(entry[1:] for entry in listed.split(",") if entry.startswith("+"))


def target_triple() -> str:
    """The target triple of numba's JIT code (this process's: ``x86_64-unknown-linux-gnu``, ...)."""
    return str(llvmlite.binding.get_process_triple())
