"""Imported first by :mod:`openqci.link`: numba reads its cache directory when it is imported.

The package's kernels all live under :mod:`openqci.link`, so choosing the directory here, rather than when
``openqci`` itself is imported, keeps the rest of the package (the KMEs, the scenario model) free of the
digest of every source file and of the pruning of old cache folders.
"""

from __future__ import annotations

from openqci._jit_cache import use_source_keyed_jit_cache

use_source_keyed_jit_cache()
