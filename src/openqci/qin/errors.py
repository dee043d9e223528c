"""Exceptions of the Quantum Information Network models.

The tree::

    OpenQciError
    └── QinError (also a ValueError)
        └── QinParameterError   a parameter outside its range, or a chain too long to solve in memory

The command line shows their messages as one-line errors.
"""

from __future__ import annotations

from openqci.errors import OpenQciError

__all__ = ["QinError", "QinParameterError"]


class QinError(OpenQciError, ValueError):
    """Base of every error raised by :mod:`openqci.qin`."""


class QinParameterError(QinError):
    """A parameter outside the range where the model means anything."""
