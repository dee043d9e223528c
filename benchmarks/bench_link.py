"""Whole-link speed: real_time_factor (simulated seconds per wall second) of a 1 GHz decoy-BB84 link at 10 km.

The baseline is the transmission time itself: a factor >= 1 means the simulation, post-processing
included, keeps up with the hardware it models. Printed side by side in the same run: the link with the
next block's transmission overlapped with this block's post-processing (two cores) and without, and the
cost of every stage per simulated second, on one core (CPU seconds); privacy amplification with this
host's default backend and, as the same-run reference, the FFT. Also printed for the 1 GHz yuan2018
preset. Both run, as ``run_link`` does, at the source settings that are finite-key-optimal for
``BLOCK_BITS``-bit blocks; the stage costs are measured at those settings too.
"""

from __future__ import annotations

import time

import numpy as np

from openqci.link.cascade import Cascade
from openqci.link.privacy import ToeplitzFamily, default_backend, seed_spectrum, toeplitz_hash, toeplitz_seed
from openqci.link.run import run_link
from openqci.link.sampler import sample_detections
from openqci.link.settings import optimal_settings
from openqci.link.sifting import sift
from openqci.physics.channels import fibre_transmittance
from openqci.physics.presets import get_preset

BLOCK_BITS = 1 << 21


def stage_costs(preset: str, distance_km: float, rng: np.random.Generator) -> dict[str, float]:
    """CPU seconds per simulated second of each stage, measured on 0.25 s of transmission."""
    preset_system = get_preset(preset)
    eta = float(fibre_transmittance(distance_km, preset_system.fibre_attenuation_db_per_km))
    system = optimal_settings(preset_system, eta, key_bits=BLOCK_BITS, epsilon_sec=1e-10, epsilon_cor=1e-15)
    pulses = int(0.25 * system.source.repetition_rate_hz)
    costs: dict[str, float] = {}
    start = time.process_time()
    events = sample_detections(system, eta, pulses, rng=rng)
    costs["sampler"] = time.process_time() - start
    start = time.process_time()
    sifted = sift(events, 3)
    costs["sifting"] = time.process_time() - start
    start = time.process_time()
    frame = 1 << 17
    for lo in range(0, sifted.size, frame):
        Cascade().reconcile(
            sifted.alice_bits[lo : lo + frame], sifted.bob_bits[lo : lo + frame], 0.02, rng=rng
        )
    costs["cascade"] = time.process_time() - start
    length = max(sifted.size // 7, 1)  # about the secret fraction at 10 km
    for backend in dict.fromkeys([default_backend(), "fft"]):
        start = time.process_time()
        for lo in range(0, sifted.size, BLOCK_BITS):
            key = sifted.alice_bits[lo : lo + BLOCK_BITS]
            out = min(length, key.size)
            family = ToeplitzFamily.MODIFIED  # as the session hashes
            seed = toeplitz_seed(key.size, out, rng=rng, family=family)
            spectrum = seed_spectrum(seed, key.size, out, family=family) if backend == "fft" else None
            for _ in range(2):  # both ends; the FFT's seed spectrum is shared
                toeplitz_hash(key, seed, out, spectrum=spectrum, family=family, backend=backend)
        costs[f"privacy amplification, {backend}"] = time.process_time() - start
    costs["detections per simulated second"] = events.detections / 0.25
    return {k: (v / 0.25 if k != "detections per simulated second" else v) for k, v in costs.items()}


def main() -> None:
    warm = np.random.default_rng(0)
    run_link(preset="lim2014", distance_km=10, duration_s=0.05, rng=warm)  # JIT warm-up
    stage_costs("lim2014", 10, warm)
    costs = stage_costs("lim2014", 10, np.random.default_rng(3))
    detections = costs.pop("detections per simulated second")
    print("lim2014 10 km, CPU seconds per simulated second, one core:")
    for name, cost in costs.items():
        print(f"  {name:34s} {cost:6.3f} s")
    print(f"  {'sampler per detection':34s} {costs['sampler'] / detections * 1e9:6.1f} ns")
    for preset, duration_s in (("lim2014", 2.0), ("yuan2018", 2.0)):
        reports = {}
        for overlap in (False, True):
            reports[overlap] = run_link(
                preset=preset,
                distance_km=10,
                duration_s=duration_s,
                block_bits=BLOCK_BITS,
                rng=np.random.default_rng(1),
                overlap=overlap,
            )
        report, serial = reports[True], reports[False]
        print(
            f"{preset} 10 km, {duration_s:g} s simulated: wall {report.wall_s:.2f} s, real_time_factor "
            f"{report.real_time_factor:.2f} (target >= 1; one thread {serial.real_time_factor:.2f}, "
            f"overlap gain {report.real_time_factor / serial.real_time_factor:.2f}x); "
            f"{report.detections / duration_s / 1e6:.1f} M detections/s, "
            f"{report.sifted_bits / duration_s / 1e6:.2f} Mbit/s sifted, f = {report.ec_efficiency:.3f}, "
            f"{report.secret_key_rate_bps / 1e6:.3f} Mbit/s secret, keys identical {report.keys_identical}, "
            f"same keys both ways {report.final_key_bits == serial.final_key_bits}, "
            f"aborts {report.abort_reasons}; settings q_x {report.basis_prob_x:.3f}, "
            f"mu {[round(m, 3) for m in report.intensities]}, "
            f"p {[round(p, 3) for p in report.intensity_probabilities]}"
        )
    fixed = run_link(
        preset="lim2014",
        distance_km=10,
        duration_s=2.0,
        block_bits=BLOCK_BITS,
        rng=np.random.default_rng(1),
        optimise_settings=False,
    )
    print(
        f"lim2014 10 km, 2 s, the preset's own settings (q_x 1/2): real_time_factor "
        f"{fixed.real_time_factor:.2f}, {fixed.sifted_bits / 2e6:.2f} Mbit/s sifted, "
        f"f = {fixed.ec_efficiency:.3f}, "
        f"{fixed.secret_key_rate_bps / 1e6:.3f} Mbit/s secret, keys identical {fixed.keys_identical}, "
        f"aborts {fixed.abort_reasons}"
    )


if __name__ == "__main__":
    main()
