"""Benchmark of the planner: EuroQCI for seven simulated days, and how the twin's time grows with size.

1. EuroQCI (286 sites, 364 links with the satellite legs, 74 demands), 7 days in minute steps: the satellite
   passes with their finite key, the twin, the single-failure analysis (one world per trusted node) and the
   metrics, on one core (the process is pinned; CPU time and wall time are both printed). Target: < 60 s.
2. The baseline, in the same run: the same step rule written as plain Python loops over demands and hops,
   timed on the first few hundred steps and scaled to the week; its served key is checked against the
   vectorised engine on those steps.
3. Scaling: EuroQCI's fibre network copied 1, 2 and 4 times side by side (4x the links and demands), the
   twin alone for 7 days. Linear cost means the 4x copy takes about 4x as long.

Run with ``./run bench plan`` or ``python benchmarks/bench_plan.py``.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from openqci.planner.engine import simulate
from openqci.planner.metrics import twin_metrics
from openqci.planner.routes import candidate_paths, path_array
from openqci.planner.schedule import Schedule, draw_events, schedule
from openqci.planner.topology import build_network
from openqci.planner.twin import run_twin
from openqci.scenario import Scenario, load_scenario
from timing import cpu_name

ROOT = Path(__file__).resolve().parents[1]
DAYS = 7.0
BASELINE_STEPS = 240


def one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def timed(work: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def scalar_twin(plan: Schedule, paths: np.ndarray, steps: int) -> np.ndarray:
    """The engine's step rule, one demand and one hop at a time (the baseline)."""
    links = plan.rate_bps.shape[0]
    buffer = [float(b) for b in plan.initial_bits]
    served_total = [0.0] * paths.shape[0]
    cursor = 0
    for step in range(steps):
        up = plan.up[step]
        for link in range(links):
            if up[link]:
                buffer[link] += plan.rate_bps[link] * plan.step_s
        while cursor < len(plan.deposit_step) and plan.deposit_step[cursor] == step:
            buffer[plan.deposit_link[cursor]] += plan.deposit_bits[cursor]
            cursor += 1
        for link in range(links):
            buffer[link] = min(buffer[link], plan.capacity_bits[link])
        chosen = []
        for demand in range(paths.shape[0]):
            need = plan.need_bits[demand]
            best, best_key, first = -1, -1.0, -1
            for k in range(paths.shape[1]):
                key = float("inf")
                for hop in paths[demand, k]:
                    if hop == links:
                        continue
                    key = min(key, 0.0 if hop == links + 1 or not up[hop] else buffer[hop])
                if first < 0 and key >= need:
                    first = k
                if key > best_key:
                    best, best_key = k, key
            pick = first if first >= 0 else best
            hops = [h for h in paths[demand, pick] if h < links] if best_key > 0 else []
            chosen.append((hops, need if best_key > 0 else 0.0))
        load = [0.0] * links
        for hops, want in chosen:
            for hop in hops:
                load[hop] += want
        share = [buffer[i] / load[i] if load[i] > buffer[i] else 1.0 for i in range(links)]
        for demand, (hops, want) in enumerate(chosen):
            got = want * min((share[h] for h in hops), default=1.0)
            for hop in hops:
                buffer[hop] = max(buffer[hop] - got, 0.0)
            served_total[demand] += got
    return np.array(served_total)


def copies(scenario: Scenario, count: int) -> Scenario:
    """``count`` disjoint copies of the scenario's fibre network (no satellites, no random failures)."""
    raw = scenario.model_dump(mode="json", exclude_defaults=True)
    merged: dict[str, Any] = {
        "name": f"{scenario.name}-x{count}",
        "sites": [],
        "links": [],
        "saes": [],
        "demands": [],
    }
    for k in range(count):
        tag = f"-{k}"
        merged["sites"] += [{**s, "name": s["name"] + tag} for s in raw["sites"]]
        merged["links"] += [
            {**li, "name": li["name"] + tag, "site_a": li["site_a"] + tag, "site_b": li["site_b"] + tag}
            for li in raw["links"]
        ]
        merged["saes"] += [{**s, "name": s["name"] + tag, "kme": s["kme"] + tag} for s in raw["saes"]]
        merged["demands"] += [
            {
                **d,
                "name": d["name"] + tag,
                "master_sae": d["master_sae"] + tag,
                "slave_sae": d["slave_sae"] + tag,
            }
            for d in raw["demands"]
        ]
    merged["planning"] = {"initial_key_fraction": 0.001}
    return Scenario.model_validate(merged)


def main() -> None:
    core = one_core()
    print(f"CPU: {cpu_name()}; pinned to core {core}; load average {os.getloadavg()[0]:.1f}")
    euro = load_scenario(ROOT / "scenarios" / "euroqci.yaml")
    network = build_network(euro)
    events, wall_e, cpu_e = timed(lambda: draw_events(network, DAYS, 0))
    result, wall_t, cpu_t = timed(lambda: run_twin(euro, DAYS, events=events))
    metrics, wall_m, cpu_m = timed(lambda: twin_metrics(result))
    total_wall, total_cpu = wall_e + wall_t + wall_m, cpu_e + cpu_t + cpu_m
    print(
        f"EuroQCI {DAYS:g} days: {len(network.links)} links, {len(network.demands)} demands, "
        f"{result.schedule.steps} steps, {len(events.passes)} passes, "
        f"{len(network.trusted_nodes)} failure worlds"
    )
    print(f"  passes and weather   {cpu_e:7.2f} s CPU ({wall_e:.2f} s wall)")
    print(f"  twin + failures      {cpu_t:7.2f} s CPU ({wall_t:.2f} s wall)")
    print(f"  metrics              {cpu_m:7.2f} s CPU ({wall_m:.2f} s wall)")
    verdict = "met" if total_cpu < 60 else "NOT met"
    print(
        f"  total                {total_cpu:7.2f} s CPU ({total_wall:.2f} s wall); target < 60 s: {verdict}"
    )
    print(f"  demands satisfied {metrics['totals']['demands_satisfied']}/{metrics['totals']['demands']}")

    plan = schedule(network, events, 60.0)
    pool = candidate_paths(network, network.graph())
    links = len(network.links)
    paths = path_array(pool, pad=links, no_path=links + 1)
    short = replace(plan, steps=BASELINE_STEPS, up=plan.up[:BASELINE_STEPS])
    fast, wall_v, _ = timed(lambda: simulate(short, paths[None], np.zeros((1, links), dtype=bool)))
    slow, wall_s, _ = timed(lambda: scalar_twin(short, paths, BASELINE_STEPS))
    agree = np.allclose(fast.served[0], slow, rtol=1e-9, atol=1e-6)
    per_step_v, per_step_s = wall_v / BASELINE_STEPS, wall_s / BASELINE_STEPS
    print(
        f"baseline (Python loops) on {BASELINE_STEPS} steps: {1e3 * per_step_s:.2f} ms/step against "
        f"{1e3 * per_step_v:.2f} ms/step vectorised: {per_step_s / per_step_v:.0f}x; week est. "
        f"{per_step_s * plan.steps:.0f} s against {per_step_v * plan.steps:.1f} s; served key agrees: {agree}"
    )

    base = None
    for count in (1, 2, 4):
        scaled = copies(euro, count)
        scaled_network = build_network(scaled)
        scaled_events = draw_events(scaled_network, DAYS, 0, passes=())
        _, wall, cpu = timed(lambda s=scaled, e=scaled_events: run_twin(s, DAYS, events=e, failures=False))
        base = base or cpu
        print(
            f"scaling x{count}: {len(scaled_network.links)} links, {len(scaled_network.demands)} demands: "
            f"{cpu:.2f} s CPU ({wall:.2f} s wall), {cpu / base:.2f}x the x1 time"
        )


if __name__ == "__main__":
    main()
