"""Numba's cache directory follows the package's sources, so a change in any module starts it afresh."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openqci import _jit_cache


def test_directory_changes_with_any_source_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "package"
    (package / "link").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    kernel = package / "link" / "kernel.py"
    kernel.write_text("RULE = 1\n")
    monkeypatch.setattr(_jit_cache, "_PACKAGE", package)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = _jit_cache.jit_cache_dir()
    assert first.parent == tmp_path / "cache" / "openqci" / "numba"
    assert _jit_cache.jit_cache_dir() == first
    kernel.write_text("RULE = 2\n")
    assert _jit_cache.jit_cache_dir() != first


def test_numba_uses_it_unless_told_otherwise(tmp_path: Path) -> None:
    probe = "import openqci.link, numba; print(numba.config.CACHE_DIR)"
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    environment["XDG_CACHE_HOME"] = str(tmp_path)
    shown = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True
    )
    assert Path(shown.stdout.strip()).parent == tmp_path / "openqci" / "numba"
    # numba imported first, then the link engine: the setting still reaches numba
    late = "import numba, openqci.link; print(numba.config.CACHE_DIR)"
    shown_late = subprocess.run(
        [sys.executable, "-c", late], env=environment, capture_output=True, text=True, check=True
    )
    assert shown_late.stdout == shown.stdout
    environment["NUMBA_CACHE_DIR"] = str(tmp_path / "mine")
    chosen = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True
    )
    assert chosen.stdout.strip() == str(tmp_path / "mine")


def test_directories_unused_for_weeks_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    import numba

    # the call points numba at the temporary directory: put numba's own setting back afterwards
    monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR, raising=False)
    parent = tmp_path / "openqci" / "numba"
    stale, recent = parent / "0123456789abcdef", parent / "fedcba9876543210"
    for directory in (stale, recent):
        directory.mkdir(parents=True)
        (directory / "kernel.nbi").write_bytes(b"index")
    weeks_ago = time.time() - (_jit_cache.UNUSED_DAYS + 1) * 86400
    os.utime(stale, (weeks_ago, weeks_ago))
    _jit_cache.use_source_keyed_jit_cache()
    assert not stale.exists()
    assert recent.exists()
    assert Path(os.environ["NUMBA_CACHE_DIR"]).is_dir()
