"""Quantum memories at a site, shared by the network section (``quantum:`` of a site) and the planner's
candidate repeaters (``planning.candidate_repeaters``), which would otherwise import each other."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["QuantumNode"]


class QuantumNode(BaseModel):
    """Quantum memories at a site: it can hold one end of an entangled pair, and swap two (a repeater)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    memory_coherence_s: float = Field(gt=0.0)
    """1/e decay time of a stored pair's Werner parameter."""
    node_efficiency: float = Field(default=0.5, gt=0.0, le=1.0)
    """Chance that a memory's photon enters the fibre (collection and coupling)."""
    p_swap: float = Field(default=0.5, gt=0.0, le=1.0)
    """Success probability of its entanglement swap (0.5: a linear-optics Bell measurement)."""
    cutoff_s: float | None = Field(default=None, gt=0.0)
    """Longest a pair waits in memory for its partner before both are discarded (none: no cutoff)."""
