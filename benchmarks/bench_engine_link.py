"""An engine link of a launched network on one core: does it keep up with the link it models?

Runs :class:`openqci.network.engine_source.EngineKeySource` (what ``source: engine`` runs in its process:
one block after the other, no overlap between transmission and post-processing) for the 1 GHz lim2014 link
at 10 km, and prints its real-time factor (seconds of transmission per second of wall time, blocks in turn;
run it under ``taskset -c 0`` for the figure on one core) and the key rates: a factor >= 1 means the engine
keeps up and its effective key rate equals its secret key rate. The baseline, measured in the same run, is
the same number of blocks through ``LinkSession.stream`` with overlap (two cores), as ``openqci link run``
does. Also printed for yuan2018.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from openqci.link.session import LinkSession
from openqci.network.engine_source import EngineKeySource
from openqci.network.link_simulator import LinkPlan

BLOCKS = 12


def plan(preset: str, distance_km: float) -> LinkPlan:
    return LinkPlan("bench", "a", "b", preset, "decoy-bb84", distance_km, 1.0, 65536.0, 1.0, 0.0, 256)


def engine_rtf(preset: str, distance_km: float) -> tuple[float, float, float]:
    """Real-time factor (blocks in turn), secret key rate and block length of the engine source."""
    source = EngineKeySource(plan(preset, distance_km), rng=np.random.default_rng(1), start_s=0.0)
    source.blocks_due(source.block_s)  # compiles and warms the kernels
    start = time.perf_counter()
    made = [block for _ in range(BLOCKS) for block in source.blocks_due(source.next_due_s)]
    wall = time.perf_counter() - start
    assert len(made) == BLOCKS, f"{BLOCKS - len(made)} blocks aborted"
    return BLOCKS * source.block_s / wall, source.state().skr_bps, source.block_s


def overlapped_rtf(preset: str, distance_km: float) -> float:
    """The same blocks with the next transmission overlapped with this post-processing."""
    source = EngineKeySource(plan(preset, distance_km), rng=np.random.default_rng(2), start_s=0.0)
    session: LinkSession = source._session  # the baseline runs the very same configured session
    list(session.stream(1))
    start = time.perf_counter()
    outcomes = list(session.stream(BLOCKS, overlap=True))
    return sum(o.duration_s for o in outcomes) / (time.perf_counter() - start)


def main() -> None:
    with open("/proc/cpuinfo") as info:
        names = [line.split(":", 1)[1].strip() for line in info if line.startswith("model name")]
    cpu = names[0] if names else "unknown CPU"
    print(f"CPU: {cpu} ({os.cpu_count()} cores); {BLOCKS} blocks of about 2^20 sifted bits each")
    for preset, distance_km in (("lim2014", 10.0), ("yuan2018", 10.0)):
        rtf, skr, block_s = engine_rtf(preset, distance_km)
        overlapped = overlapped_rtf(preset, distance_km)
        print(
            f"{preset} {distance_km:g} km: engine rtf {rtf:.2f}, blocks in turn "
            f"(overlapped transmission: {overlapped:.2f}; ratio {rtf / overlapped:.2f}); "
            f"secret key rate {skr / 1e6:.2f} Mbit/s, blocks of {block_s * 1e3:.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    sys.exit(main())
