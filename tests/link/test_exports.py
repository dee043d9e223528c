"""``openqci.link`` exports a sorted, complete ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil

import openqci.link as link


def test_all_is_sorted_and_importable() -> None:
    assert link.__all__ == sorted(link.__all__, key=lambda name: (not name.isupper(), name))
    for name in link.__all__:
        assert hasattr(link, name), name


def test_all_covers_every_module_export() -> None:
    exported = set(link.__all__)
    for module_info in pkgutil.iter_modules(link.__path__):
        if module_info.name.startswith(("ldpc", "_")):
            continue
        module = importlib.import_module(f"openqci.link.{module_info.name}")
        missing = set(getattr(module, "__all__", ())) - exported
        assert not missing, f"{module_info.name}: {sorted(missing)}"
