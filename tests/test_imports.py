"""What importing a package costs: the KMEs and the scenario model load no numerics of the link engine.

A KME imports the ground-floor contract (:mod:`openqci.keysource`), never :mod:`openqci.link`, so it starts
without numba, llvmlite or scipy; the planner and the operations view read scenarios the same way. Each
check runs in a fresh interpreter, since this test process has loaded everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numba", "llvmlite", "scipy", "openqci.link", "networkx")


def _loaded_after(statement: str, environment: dict[str, str] | None = None) -> list[str]:
    probe = f"import sys, json; {statement}; print(json.dumps(sorted(sys.modules)))"
    shown = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True
    )
    return [name for name in json.loads(shown.stdout) if name.split(".")[0] in HEAVY or name in HEAVY]


@pytest.mark.parametrize("module", ["openqci", "openqci.keysource", "openqci.kms", "openqci.scenario"])
def test_light_packages_load_no_numerics(module: str) -> None:
    assert _loaded_after(f"import {module}") == []


def test_the_link_engine_does_load_numba() -> None:
    # the probe above would pass vacuously if it could not see a module at all
    assert "numba" in _loaded_after("import openqci.link")


def test_importing_the_package_touches_no_cache(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environment["XDG_CACHE_HOME"] = str(tmp_path)
    probe = "import os, openqci, openqci.kms, openqci.scenario; print(os.environ.get('NUMBA_CACHE_DIR', ''))"
    shown = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == ""
    assert list(tmp_path.iterdir()) == []
