"""Stage 2 of the QCI, the Quantum Information Network: entanglement links, repeater chains, and QKD on them.

Closed-form and exact-distribution models, fast enough for whole networks, with Monte Carlo checks:
:mod:`openqci.qin.chain` (waiting time and fidelity of nested-swapping repeater chains, with DEJMPS
distillation between levels),
:mod:`openqci.qin.montecarlo` (the same protocol sampled).
"""

from openqci.qin.chain import ChainParameters, ChainResult, WaitingTime, dejmps, solve_chain
from openqci.qin.errors import QinError, QinParameterError

__all__ = [
    "ChainParameters",
    "ChainResult",
    "QinError",
    "QinParameterError",
    "WaitingTime",
    "dejmps",
    "solve_chain",
]
