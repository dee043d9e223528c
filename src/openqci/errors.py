"""The root of OpenQCI's exceptions.

Each package keeps its own ``errors.py`` with a family base class deriving from :class:`OpenQciError`, so
the command line reports any of them as a one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

__all__ = ["OpenQciError"]


class OpenQciError(Exception):
    """Base of every error OpenQCI raises on purpose; its message is meant for the user."""
