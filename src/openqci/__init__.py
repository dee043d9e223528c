"""OpenQCI: software for a Quantum Communication Infrastructure, from photons to applications."""

from __future__ import annotations

from openqci._jit_cache import use_source_keyed_jit_cache

use_source_keyed_jit_cache()

__all__ = ["__version__"]

__version__ = "0.1.0"
