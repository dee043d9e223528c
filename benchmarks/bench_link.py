"""Whole-link speed: real_time_factor (simulated seconds per wall second) of a 1 GHz decoy-BB84 link at 10 km.

The baseline is the transmission time itself: a factor >= 1 means the simulation, post-processing
included, keeps up with the hardware it models. Also printed for the 1 GHz yuan2018 preset, whose detection
rate at 10 km is about twice lim2014's.
"""

from __future__ import annotations

import numpy as np

from openqci.link.run import run_link


def main() -> None:
    run_link(preset="lim2014", distance_km=10, duration_s=0.05, rng=np.random.default_rng(0))  # JIT warm-up
    for preset, duration_s in (("lim2014", 2.0), ("yuan2018", 1.0)):
        report = run_link(
            preset=preset,
            distance_km=10,
            duration_s=duration_s,
            block_bits=1 << 21,
            rng=np.random.default_rng(1),
        )
        print(
            f"{preset} 10 km, {duration_s:g} s simulated: wall {report.wall_s:.2f} s, real_time_factor "
            f"{report.real_time_factor:.2f} (target >= 1); {report.detections / duration_s / 1e6:.1f} M "
            f"detections/s, {report.sifted_bits / duration_s / 1e6:.2f} Mbit/s sifted, "
            f"{report.secret_key_rate_bps / 1e6:.3f} Mbit/s secret, keys identical {report.keys_identical}, "
            f"aborts {report.abort_reasons}"
        )


if __name__ == "__main__":
    main()
