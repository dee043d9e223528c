"""Key-rate model sweeps: 1,000 distances in one vectorised call against a per-distance scalar loop.

The baseline is the same model evaluated one distance at a time (what a scalar optimiser per point
costs), measured in the same run; the ratio is the figure to quote.
"""

from __future__ import annotations

import numpy as np

from openqci.physics import DecoyMethod, get_preset, max_distance_km, secret_key_rate
from timing import best_of


def main() -> None:
    gys, lim = get_preset("gys2004"), get_preset("lim2014")
    sweep = np.linspace(0.0, 200.0, 1000)
    scalar_points = sweep[::20]
    cases = {
        "asymptotic, infinite decoys": lambda d: secret_key_rate(gys, d),
        "asymptotic, vacuum+weak": lambda d: secret_key_rate(gys, d, decoys=DecoyMethod.VACUUM_WEAK),
        "finite key n=1e8 (5 parameters)": lambda d: secret_key_rate(lim, d, block_size=1e8),
    }
    print(f"{'model':34} {'1000 pts vectorised':>20} {'scalar loop (est.)':>20} {'speed-up':>9}")
    for label, model in cases.items():
        vectorised = best_of(3, lambda m=model: m(sweep))
        scalar = best_of(1, lambda m=model: [m(np.array([d])) for d in scalar_points])
        scalar_estimate = scalar * sweep.size / scalar_points.size
        speed_up = scalar_estimate / vectorised
        print(f"{label:34} {vectorised * 1e3:17.1f} ms {scalar_estimate * 1e3:17.1f} ms {speed_up:8.1f}x")
    reach = best_of(3, lambda: max_distance_km(gys))
    print(f"max distance search (gys2004, 0.01 km resolution): {reach * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
