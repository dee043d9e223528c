"""Package exports imported on first use (PEP 562), so that importing a package costs only what is used.

A process of a launched network imports a handful of modules; the packages they live in re-export much
more (the controller, routing, the encrypted channel). A package lists its exports with their modules and
takes its ``__getattr__`` from :func:`lazy_exports`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``homes`` comes from its module when first used.

    The value is then kept in the package's namespace, so the next use costs a dictionary look-up.
    """
    namespace = sys.modules[package].__dict__

    def load(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return load
