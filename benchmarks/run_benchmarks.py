"""Run OpenQCI's benchmarks: ``./run bench`` runs them all, ``./run bench NAME`` the named group.

Each ``bench_*.py`` is a script that prints its figures with a baseline measured in the same run, because
the machines these run on are shared and noisy: ratios travel, absolute numbers do not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# A group name runs several scripts; any other name runs bench_NAME.py.
GROUPS: dict[str, tuple[str, ...]] = {
    "postprocess": ("bench_postprocess.py", "bench_ldpc.py", "bench_ldpc_sweep.py"),
}


def scripts_for(name: str | None) -> list[Path]:
    """The benchmark scripts a name stands for (all of them when ``name`` is None)."""
    if name is None:
        return sorted(HERE.glob("bench_*.py"))
    names = GROUPS.get(name, (f"bench_{name}.py",))
    found = [HERE / n for n in names if (HERE / n).exists()]
    if not found:
        available = sorted({p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py")} | set(GROUPS))
        sys.exit(f"run bench: no benchmark named {name!r}; available: {', '.join(available)}")
    return found


def main(argv: list[str]) -> int:
    """Run the selected scripts one after the other; the exit status is the first failure's."""
    status = 0
    for script in scripts_for(argv[0] if argv else None):
        print(f"== {script.stem} ==", flush=True)
        code = subprocess.call([sys.executable, str(script), *argv[1:]])
        status = status or code
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
