"""The names of the protocols the key-rate models cover, apart from the models themselves.

The scenario model validates a link's protocol against these names; keeping them in a module of their own
lets it do so without loading the numerics behind each rate.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Protocol"]


class Protocol(StrEnum):
    """The protocols the models cover."""

    DECOY_BB84 = "decoy-bb84"
    BBM92 = "bbm92"
    PLOB = "plob"
