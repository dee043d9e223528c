"""Post-processing throughput: Cascade (speed and efficiency), privacy amplification, and SeQUeNCe's Cascade.

Prints figures and ratios measured in the same run (the machine is shared: quote the ratios).

* Cascade (option 8 of Martinez-Mateo et al. 2015) on 2^18-bit frames at QBER 2 %: sifted bits per
  second on one core, efficiency f, residual errors.
* Privacy amplification: Toeplitz hashing of 2^24-bit blocks to 2^23 bits, input bits per second.
* The same 10,240-bit frames at QBER 2 % through SeQUeNCe 0.8.5's Cascade (its own simulated classical
  channel, driven by a stub in place of its BB84 layer) and through ours: speed ratio and residual errors.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from openqci.link.cascade import Cascade
from openqci.link.privacy import amplify_privacy
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
    pairs: list[tuple[np.ndarray, np.ndarray]], rng: np.random.Generator
) -> tuple[float, float, int]:
    """Throughput (bit/s), mean f, residual errors of our Cascade over the frames."""
    reconciler = Cascade()
    reconciler.reconcile(*pairs[0], QBER, rng=rng)  # JIT warm-up
    leaked = ideal = residual = 0
    start = time.perf_counter()
    for alice, bob in pairs:
        result = reconciler.reconcile(alice, bob, QBER, rng=rng)
        leaked += result.leaked_bits
        ideal += alice.size * float(binary_entropy(np.mean(alice != bob)))
        residual += int(np.count_nonzero(result.corrected_bits != alice))
    elapsed = time.perf_counter() - start
    return sum(a.size for a, _ in pairs) / elapsed, leaked / ideal, residual


def bench_privacy(rng: np.random.Generator, repeats: int = 3) -> float:
    """Input bits per second of Toeplitz hashing 2^24 bits to 2^23 bits (best of ``repeats``)."""
    key = rng.random(1 << 24) < 0.5
    amplify_privacy(key, 1 << 23, rng=rng)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        amplify_privacy(key, 1 << 23, rng=rng)
        best = min(best, time.perf_counter() - start)
    return key.size / best


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
    rate, f, residual = bench_cascade(frames(1 << 18, 16, rng), rng)
    print(
        f"cascade option-8, 2^18-bit frames, QBER 2 %: {rate / 1e6:.2f} Mbit/s, f = {f:.3f}, "
        f"residual errors {residual} (target >= 10 Mbit/s, f <= 1.10)"
    )
    pa = bench_privacy(rng)
    print(f"privacy amplification 2^24 -> 2^23 bits: {pa / 1e6:.1f} Mbit/s (target >= 100; published CPU 71)")
    small = frames(10240, 20, rng)
    ours, f_small, ours_residual = bench_cascade(small, rng)
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
