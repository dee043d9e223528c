"""The air-traffic-control feed on one core: CAT062 records per second of the numpy encoder and the simulator.

The baseline is ``libasterix`` encoding the same records in the same run, one Python object per
subfield; the ratio is the figure to quote. The feed it is sized for is the French sky at a busy hour:
3,000 tracks updated every 4 s, 750 records a second; the target is ten times that on one core.

``python benchmarks/bench_asterix.py [--flights N]``
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from openqci.services.atc import TrackFeed, encode_cat062, encode_cat062_libasterix
from timing import best_of, cpu_name

FEED_RATE = 750.0  # records/s: 3,000 tracks every 4 s
TARGET = 10 * FEED_RATE


def one_core() -> int:
    """Pin this process to one of the cores it may use; that core's number."""
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flights", type=int, default=3000, help="tracks at any instant (default 3000)")
    parser.add_argument("--baseline-records", type=int, default=300, help="records libasterix encodes")
    args = parser.parse_args()

    core = one_core()
    print(f"CPU: {cpu_name()}; pinned to core {core}; load average {os.getloadavg()[0]:.1f}")
    feed = TrackFeed(seed=1, flights=args.flights)
    t = feed.start + 900.0
    picture = feed.tracks_at(t)
    second = feed.updates_between(t, t + 1.0)
    print(f"{len(picture)} tracks at {t:.0f} s, {len(second)} updates in the second after")

    encode_cat062_libasterix(picture.take(np.arange(2)))  # import the library outside the timing
    sample = picture.take(np.arange(min(args.baseline_records, len(picture))))
    library = best_of(3, lambda: encode_cat062_libasterix(sample))
    library_rate = len(sample) / library

    rows = [
        ("encoder, whole picture", len(picture), best_of(50, lambda: encode_cat062(picture))),
        ("encoder, one second", len(second), best_of(50, lambda: encode_cat062(second))),
        ("simulator, whole picture", len(picture), best_of(20, lambda: feed.tracks_at(t))),
        ("simulator, one second", len(second), best_of(20, lambda: feed.updates_between(t, t + 1.0))),
        ("feed: records_at (both)", len(picture), best_of(20, lambda: feed.records_at(t))),
        ("feed: records_between 1 s", len(second), best_of(20, lambda: feed.records_between(t, t + 1.0))),
    ]
    print(f"{'':28} {'records':>8} {'time':>10} {'records/s':>12} {'x libasterix':>13} {'x target':>9}")
    print(
        f"{'libasterix encoder':28} {len(sample):8d} {library * 1e3:8.1f} ms {library_rate:12,.0f}"
        f" {1.0:12.1f}x {library_rate / TARGET:8.2f}x"
    )
    for label, n, seconds in rows:
        rate = n / seconds
        print(
            f"{label:28} {n:8d} {seconds * 1e3:8.2f} ms {rate:12,.0f}"
            f" {rate / library_rate:12.0f}x {rate / TARGET:8.0f}x"
        )
    print(f"target: {TARGET:,.0f} records/s on one core (ten times the {FEED_RATE:.0f}/s feed)")


if __name__ == "__main__":
    main()
