"""Exceptions of the quantum-layer models.

The tree::

    OpenQciError
    └── PhysicsError (also a ValueError)
        ├── InvalidParameterError   a parameter outside its physical range (distance < 0, mu <= 0, ...)
        └── UnknownPresetError      a preset name not in the registry; the message lists the valid ones

Callers (the CLI, the link engine) catch ``PhysicsError`` and show its message as a one-line error.
"""

from __future__ import annotations

from openqci.errors import OpenQciError

__all__ = ["InvalidParameterError", "PhysicsError", "UnknownPresetError"]


class PhysicsError(OpenQciError, ValueError):
    """Base of every error raised by :mod:`openqci.physics`."""


class InvalidParameterError(PhysicsError):
    """A model parameter lies outside the range where the model means anything."""


class UnknownPresetError(PhysicsError):
    """A device preset was asked for by a name the registry does not hold."""
