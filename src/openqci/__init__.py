"""OpenQCI: software for a Quantum Communication Infrastructure, from photons to applications."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
