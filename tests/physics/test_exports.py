"""The public surface of openqci.physics: sorted, complete, and its docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import openqci.physics as physics


def test_all_is_sorted_and_complete() -> None:
    assert physics.__all__ == sorted(physics.__all__, key=lambda name: (not name.isupper(), name))
    public = {name for name in vars(physics) if not name.startswith("_")}
    modules = {info.name for info in pkgutil.iter_modules(physics.__path__)}
    assert public - modules - {"annotations"} == set(physics.__all__)


@pytest.mark.parametrize("module", sorted(info.name for info in pkgutil.iter_modules(physics.__path__)))
def test_docstring_examples_run(module: str) -> None:
    loaded = importlib.import_module(f"openqci.physics.{module}")
    failures, _ = doctest.testmod(loaded, optionflags=doctest.ELLIPSIS)
    assert failures == 0
