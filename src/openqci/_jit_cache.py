"""Numba's on-disk cache, kept in a directory named by a digest of the package's sources.

Numba checks a cached function against the modification time of the file that defines it, and no
other. A kernel that calls a jitted function of another module therefore keeps running the old callee
after only that module changed: a checkout updated in place ran a replaced LDPC check rule until its
caches were deleted by hand. Naming the cache directory by every source file of the package makes any
change to the sources start from an empty cache, and identical sources share one.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

__all__ = ["jit_cache_dir", "use_source_keyed_jit_cache"]

_PACKAGE = Path(__file__).resolve().parent


def jit_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/openqci/numba/<digest>`` (by default under ``~/.cache``) for these sources."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "openqci" / "numba" / digest.hexdigest()[:16]


def use_source_keyed_jit_cache() -> None:
    """Point numba's cache at :func:`jit_cache_dir`, unless ``NUMBA_CACHE_DIR`` already chose a place."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    try:
        directory = str(jit_cache_dir())
    except OSError:  # unreadable sources or no home directory: numba's default place it is
        return
    os.environ["NUMBA_CACHE_DIR"] = directory  # read by numba at import, and by child processes
    numba = sys.modules.get("numba")
    if numba is not None:  # imported before this package: it has read its settings already
        numba.config.CACHE_DIR = directory
