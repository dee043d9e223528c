"""Numba's on-disk cache, kept in a directory named by a digest of the package's sources.

Numba checks a cached function against the modification time of the file that defines it, and no
other. A kernel that calls a jitted function of another module therefore keeps running the old callee
after only that module changed: a checkout updated in place ran a replaced LDPC check rule until its
caches were deleted by hand. Naming the cache directory by every source file of the package makes any
change to the sources start from an empty cache, and identical sources share one. Each use marks its
directory, and directories no process has used for :data:`UNUSED_DAYS` days are removed, so a
developer's machine does not gather one per commit forever.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

__all__ = ["UNUSED_DAYS", "jit_cache_dir", "use_source_keyed_jit_cache"]

UNUSED_DAYS = 14
"""Cache directories of other sources unused for this long are removed."""

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
        path = jit_cache_dir()
        path.mkdir(parents=True, exist_ok=True)
        os.utime(path)  # marks it used; see _remove_unused
        _remove_unused(path)
    except OSError:  # unreadable sources, no home directory or a read-only one: numba's default place
        return
    directory = str(path)
    os.environ["NUMBA_CACHE_DIR"] = directory  # read by numba at import, and by child processes
    numba = sys.modules.get("numba")
    if numba is not None:  # imported before this package: it has read its settings already
        numba.config.CACHE_DIR = directory


def _remove_unused(current: Path) -> None:
    """Delete the sibling directories of ``current`` not marked used for :data:`UNUSED_DAYS` days."""
    oldest = time.time() - UNUSED_DAYS * 86400
    for sibling in current.parent.iterdir():
        if sibling != current and sibling.is_dir() and sibling.stat().st_mtime < oldest:
            shutil.rmtree(sibling, ignore_errors=True)
