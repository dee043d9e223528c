"""The public surface of openqci.demo: sorted and complete."""

from __future__ import annotations

import pkgutil

import openqci.demo as demo


def test_all_is_sorted_and_complete() -> None:
    assert demo.__all__ == sorted(demo.__all__, key=lambda name: (not name.isupper(), name))
    public = {name for name in vars(demo) if not name.startswith("_")}
    modules = {info.name for info in pkgutil.iter_modules(demo.__path__)}
    assert public - modules - {"annotations"} == set(demo.__all__)
