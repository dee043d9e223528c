"""Post-processing throughput: Cascade (speed and efficiency), privacy amplification, and SeQUeNCe's Cascade.

Prints figures and ratios measured in the same run (the machine is shared: quote the ratios).

* Cascade on 2^17-bit frames at QBER 2 %, every variant of ``CASCADE_VARIANTS`` (the default first):
  sifted bits per second on one core (wall clock and CPU time), efficiency f, residual errors, round
  trips per frame; the ratios are against the original protocol in the same run.
* Privacy amplification: hashing of 2^20-, 2^21- and 2^24-bit blocks to half their length, input bits
  per second, for the plain and modified Toeplitz families with the seed's spectrum computed in the
  call and ahead, against the former one-FFT plain Toeplitz hash in the same run, next to the cost of
  one real FFT of 2^24 points. Then the backend ``auto`` runs on this CPU with the figures it was
  chosen by (:mod:`openqci.link._hash_backend`), and the carry-less product at 2^24 bits with every
  vector width and largest leaf this CPU has, in turns, as ratios to the chosen one.
* The same 10,240-bit frames at QBER 2 % through SeQUeNCe 0.8.5's Cascade (its own simulated classical
  channel, driven by a stub in place of its BB84 layer) and through ours: speed ratio and residual errors.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import numpy as np
import scipy.fft

from openqci.link._carryless_toeplitz import AVAILABLE, toeplitz_product
from openqci.link._hash_backend import MEASURE_BITS, BackendChoice, candidates, choose_backend
from openqci.link.cascade import CASCADE_VARIANTS, DEFAULT_CASCADE_VARIANT, Cascade
from openqci.link.privacy import (
    HashBackend,
    ToeplitzFamily,
    amplify_privacy,
    seed_spectrum,
    toeplitz_hash,
    toeplitz_seed,
)
from openqci.physics.entropy import binary_entropy

QBER = 0.02


def frames(n_bits: int, count: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` pairs of Alice/Bob frames with independent errors at ``QBER``."""
    pairs = []
    for _ in range(count):
        alice = rng.random(n_bits) < 0.5
        pairs.append((alice, alice ^ (rng.random(n_bits) < QBER)))
    return pairs


def bench_cascade(
    pairs: list[tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    variant: str = DEFAULT_CASCADE_VARIANT,
) -> tuple[float, float, int, float, float]:
    """Throughput (bit/s wall, bit/s CPU), mean f, residual errors and round trips per frame."""
    reconciler = Cascade.from_name(variant)
    reconciler.reconcile(*pairs[0], QBER, rng=rng)  # JIT warm-up
    leaked = ideal = residual = trips = 0
    start, cpu = time.perf_counter(), time.process_time()
    for alice, bob in pairs:
        result = reconciler.reconcile(alice, bob, QBER, rng=rng)
        leaked += result.leaked_bits
        trips += result.round_trips
        ideal += alice.size * float(binary_entropy(np.mean(alice != bob)))
        residual += int(np.count_nonzero(result.corrected_bits != alice))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    bits = sum(a.size for a, _ in pairs)
    return bits / elapsed, bits / cpu, leaked / ideal, residual, trips / len(pairs)


def _best(call: Callable[[], object], repeats: int = 3) -> float:
    """Best CPU time of ``repeats`` calls (the machine is shared; CPU time is the steadier figure)."""
    best = math.inf
    for _ in range(repeats):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return best


def bench_privacy(rng: np.random.Generator, n: int) -> dict[str, float]:
    """Bit/s of hashing ``n`` bits to ``n / 2``: the former method and the current ones, same run.

    ``former``: plain Toeplitz by one real FFT of ``next_fast_len(n + l - 1)`` points (the method this
    module replaced, kept here as the same-run baseline); ``fft_*``: the four-step FFT backend, in the
    call and with the seed's spectrum computed ahead; ``carryless_*``: the carry-less backend (when
    this CPU has it), whose whole call includes drawing the seed.
    """
    out = n // 2
    key = rng.random(n) < 0.5
    rates: dict[str, float] = {}
    seed = toeplitz_seed(n, out, rng=rng)
    former = _former_spectrum(seed, n + out - 1)
    rates["former_ahead"] = n / _best(lambda: _former_hash(key, former, n + out - 1, n - 1, out))
    backends: list[HashBackend] = ["fft", "carryless"] if AVAILABLE else ["fft"]
    for family in ToeplitzFamily:
        seed = toeplitz_seed(n, out, rng=rng, family=family)
        spectrum = seed_spectrum(seed, n, out, family=family)
        ahead = _best(lambda: toeplitz_hash(key, seed, out, spectrum=spectrum, family=family, backend="fft"))  # noqa: B023
        rates[f"fft_{family.value}_ahead"] = n / ahead
        for backend in backends:
            full = _best(lambda: amplify_privacy(key, out, rng=rng, family=family, backend=backend))  # noqa: B023
            rates[f"{backend}_{family.value}"] = n / full
    return rates


def bench_widths(rng: np.random.Generator, n: int, repeats: int = 3) -> dict[str, float]:
    """Bit/s of the carry-less product of a modified hash with each width and leaf this CPU runs (the
    candidates of ``_hash_backend`` but the FFT), best of ``repeats`` rounds of one call each."""
    key, seed = rng.random(n) < 0.5, rng.random(n - 1) < 0.5
    variants = [BackendChoice(name) for name in candidates() if name != "fft"]
    best = {variant.name: math.inf for variant in variants}
    for _ in range(repeats):
        for variant in variants:
            start = time.process_time()
            toeplitz_product(
                seed,
                key[n // 2 :],
                n // 2,
                n // 2 - 1,
                vector_words=variant.vector_words,
                leaf_vectors=variant.leaf_vectors,
            )
            best[variant.name] = min(best[variant.name], time.process_time() - start)
    return {name: n / seconds for name, seconds in best.items()}


def describe_choice() -> str:
    """The backend ``auto`` runs here, where the choice came from, and the figures it was made by."""
    choice = choose_backend()
    figures = ", ".join(f"{name} {rate / 1e6:.1f}" for name, rate in choice.rates.items())
    measured = f"; at 2^{MEASURE_BITS.bit_length() - 1} bits, Mbit/s: {figures}" if figures else ""
    return f"{choice.name} ({choice.source}{measured})"


def _former_spectrum(seed: np.ndarray, min_size: int) -> np.ndarray:
    return scipy.fft.rfft(seed.astype(np.float64), scipy.fft.next_fast_len(min_size, real=True), workers=1)


def _former_hash(key: np.ndarray, spectrum: np.ndarray, min_size: int, start: int, count: int) -> np.ndarray:
    size = scipy.fft.next_fast_len(min_size, real=True)
    product = scipy.fft.rfft(key.astype(np.float64), size, workers=1) * spectrum
    sums = scipy.fft.irfft(product, size, overwrite_x=True, workers=1)[start : start + count]
    rounded = np.rint(sums)
    assert float(np.max(np.abs(sums - rounded))) <= 0.25
    return (rounded.astype(np.int64) & 1).astype(np.bool_)


def bench_sequence(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, int] | None:
    """Throughput (bit/s) and residual errors of SeQUeNCe's Cascade on the same frames, or None."""
    try:
        from sequence.kernel.timeline import Timeline
        from sequence.qkd.cascade import pair_cascade_protocols
        from sequence.topology.node import QKDNode
    except ImportError:
        return None
    timeline = Timeline()
    alice_node, bob_node = QKDNode("alice", timeline, stack_size=2), QKDNode("bob", timeline, stack_size=2)
    _connect(timeline, alice_node, bob_node)
    sender, receiver = alice_node.protocol_stack[1], bob_node.protocol_stack[1]
    pair_cascade_protocols(sender, receiver)
    alice_node.protocol_stack[0].role, bob_node.protocol_stack[0].role = 0, 1  # BB84 is bypassed
    ints = [(_to_int(a), _to_int(b)) for a, b in pairs]
    calibration = _to_int(pairs[0][0][:10000]), _to_int(pairs[0][1][:10000])
    stub = _FrameFeeder(sender, receiver, [calibration, *ints])
    sender.lower_protocols = [stub]
    receiver.lower_protocols = [stub]
    timeline.init()
    sender.push(10240, len(ints))
    start = time.perf_counter()
    timeline.run()
    elapsed = time.perf_counter() - start
    residual = sum(
        bin(a ^ b).count("1") for a, b in zip(sender.valid_keys, receiver.valid_keys, strict=False)
    )
    corrected = len(sender.valid_keys)
    if corrected < len(ints):
        print(f"  SeQUeNCe finished {corrected} of {len(ints)} frames", file=sys.stderr)
    return corrected * 10240 / elapsed, residual


class _FrameFeeder:
    """Stands in for SeQUeNCe's BB84 layer: hands the prepared frames to both Cascade instances."""

    def __init__(self, sender: object, receiver: object, frames: list[tuple[int, int]]) -> None:
        self.sender, self.receiver, self.frames = sender, receiver, frames

    def push(self, length: int, key_num: int, run_time: float = math.inf) -> None:
        for _ in range(min(key_num, len(self.frames))):
            alice, bob = self.frames.pop(0)
            self.receiver.pop(bob)  # type: ignore[attr-defined]
            self.sender.pop(alice)  # type: ignore[attr-defined]


def _connect(timeline: object, a: object, b: object) -> None:
    from sequence.components.optical_channel import ClassicalChannel

    for src, dst in ((a, b), (b, a)):
        channel = ClassicalChannel(f"cc_{src.name}_{dst.name}", timeline, distance=1000, delay=1e9)  # type: ignore[attr-defined]
        channel.set_ends(src, dst.name)  # type: ignore[attr-defined]


def _to_int(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits[::-1]) or "0", 2)


def main() -> None:
    rng = np.random.default_rng(2026)
    pairs = frames(1 << 17, 24, rng)
    results = {name: bench_cascade(pairs, rng, name) for name in CASCADE_VARIANTS}
    baseline = results["original"][1]
    print("Cascade, 24 frames of 2^17 bits, QBER 2 % (target >= 10 Mbit/s on one core, f <= 1.10):")
    for name in [DEFAULT_CASCADE_VARIANT, *sorted(set(CASCADE_VARIANTS) - {DEFAULT_CASCADE_VARIANT})]:
        wall, cpu, f, residual, trips = results[name]
        print(
            f"  {name:9s} {cpu / 1e6:6.2f} Mbit/s CPU ({wall / 1e6:6.2f} wall), f = {f:.3f}, residual "
            f"errors {residual}, {trips:.0f} round trips/frame, speed {cpu / baseline:.2f}x original"
        )
    print("privacy amplification n -> n/2 bits, Mbit/s of input (target >= 100 at 2^24; published CPU 71):")
    for log_n in (20, 21, 24):
        r = bench_privacy(rng, 1 << log_n)
        line = (
            f"  2^{log_n}: former one-FFT Toeplitz {r['former_ahead'] / 1e6:6.1f} (spectrum ahead); "
            "four-step FFT: "
            f"Toeplitz {r['fft_toeplitz'] / 1e6:6.1f}, modified {r['fft_modified'] / 1e6:6.1f}, "
            f"modified ahead {r['fft_modified_ahead'] / 1e6:6.1f}"
        )
        if "carryless_modified" in r:
            line += (
                f"; carry-less: Toeplitz {r['carryless_toeplitz'] / 1e6:6.1f}, modified "
                f"{r['carryless_modified'] / 1e6:6.1f} "
                f"({r['carryless_modified'] / r['fft_modified_ahead']:.1f}x four-step FFT ahead, "
                f"{r['carryless_modified'] / r['former_ahead']:.1f}x former)"
            )
        print(line)
    print(f"  backend chosen: {describe_choice()}")
    if not AVAILABLE:
        print("  carry-less backend: no carry-less multiplication on this CPU, not measured")
    else:
        chosen = choose_backend(carryless=True).name
        rates = bench_widths(rng, 1 << 24)
        print(
            "  carry-less product, modified 2^24 -> 2^23, Mbit/s by vector width and largest leaf in "
            f"64-bit words (best of 3 rounds taken in turn; ratio to the chosen {chosen}):"
        )
        for width in dict.fromkeys(BackendChoice(name).width for name in rates):
            leaves = [(name, rate) for name, rate in rates.items() if name.startswith(f"{width}-")]
            line = ", ".join(
                f"leaf {name.split('-leaf')[1]} {rate / 1e6:6.1f} ({rate / rates[chosen]:.2f}x)"
                for name, rate in leaves
            )
            print(f"    {width.removeprefix('carryless-')}-bit: {line}")
    size = 1 << 24
    signal = np.zeros(size)
    fft_s = _best(lambda: scipy.fft.rfft(signal, workers=1))
    print(f"  one float64 rfft of 2^24 points: {fft_s:.3f} s ({fft_s / size * 1e9:.1f} ns/point)")
    small = frames(10240, 20, rng)
    ours, _, f_small, ours_residual, _ = bench_cascade(small, rng)
    theirs = bench_sequence(small)
    print(
        f"ours on 10,240-bit frames: {ours / 1e6:.2f} Mbit/s, f = {f_small:.3f}, "
        f"residual errors {ours_residual}"
    )
    if theirs is None:
        print("SeQUeNCe not installed (pip install '.[bench]'): no side-by-side figure")
    else:
        print(
            f"SeQUeNCe cascade on the same frames: {theirs[0] / 1e3:.1f} kbit/s, residual errors {theirs[1]}"
        )
        print(f"speed ratio ours / SeQUeNCe: {ours / theirs[0]:.0f}x")


if __name__ == "__main__":
    main()
