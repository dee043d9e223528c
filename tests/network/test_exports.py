"""The public surface of openqci.network: sorted, complete, and its docstring examples run."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys

import pytest

import openqci.network as network


def test_all_is_sorted_and_complete() -> None:
    # the names are loaded on first use (a site process imports none of them): __all__ lists exactly
    # the lazily exported names, and each one resolves to what its module defines
    assert network.__all__ == sorted(network.__all__, key=lambda name: (not name.isupper(), name))
    assert set(network.__all__) == set(network._EXPORTS)
    for name in network.__all__:
        assert getattr(network, name) is getattr(importlib.import_module(network._EXPORTS[name]), name)
    public = {name for name in vars(network) if not name.startswith("_")}
    modules = {info.name for info in pkgutil.iter_modules(network.__path__)}
    assert public - modules - {"annotations", "lazy_exports", "TYPE_CHECKING"} <= set(network.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = network.Nothing


def test_a_site_process_imports_neither_the_controller_nor_routing() -> None:
    code = (
        "import sys, openqci.network.site; "
        "print(sorted(m for m in ('networkx', 'openqci.network.controller', 'openqci.network.routing', "
        "'openqci.services.channel') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("module", sorted(info.name for info in pkgutil.iter_modules(network.__path__)))
def test_docstring_examples_run(module: str) -> None:
    loaded = importlib.import_module(f"openqci.network.{module}")
    failures, _ = doctest.testmod(loaded, optionflags=doctest.ELLIPSIS)
    assert failures == 0
