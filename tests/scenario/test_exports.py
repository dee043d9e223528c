"""The public surface of openqci.scenario: sorted, complete, and its docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import openqci.scenario as scenario


def test_all_is_sorted_and_complete() -> None:
    assert scenario.__all__ == sorted(scenario.__all__, key=lambda name: (not name.isupper(), name))
    public = {name for name in vars(scenario) if not name.startswith("_")}
    modules = {info.name for info in pkgutil.iter_modules(scenario.__path__)}
    assert public - modules - {"annotations"} == set(scenario.__all__)


@pytest.mark.parametrize("module", sorted(info.name for info in pkgutil.iter_modules(scenario.__path__)))
def test_docstring_examples_run(module: str) -> None:
    loaded = importlib.import_module(f"openqci.scenario.{module}")
    failures, _ = doctest.testmod(loaded, optionflags=doctest.ELLIPSIS)
    assert failures == 0
