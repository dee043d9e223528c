"""Sweeps on Dask: four variants on a local cluster of two worker processes, gathered into one table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from openqci.cli import main
from openqci.planner.sweep import parse_vary, run_variant, variants
from tests.planner.support import chain

ROOT = Path(__file__).resolve().parents[2]


def test_vary_makes_the_cartesian_product_in_order() -> None:
    combos = variants(parse_vary(["demand_scale=1,2", "seed=3,4"]))
    assert combos == [
        {"demand_scale": 1.0, "seed": 3},
        {"demand_scale": 1.0, "seed": 4},
        {"demand_scale": 2.0, "seed": 3},
        {"demand_scale": 2.0, "seed": 4},
    ]


def test_a_variant_applies_its_parameters() -> None:
    scenario = chain(rate=40_000.0)
    plenty = run_variant(scenario, {"days": 0.05, "rate_scale": 1.0})
    starved = run_variant(scenario, {"days": 0.05, "rate_scale": 0.01})
    small = run_variant(scenario, {"days": 0.05, "kme_storage_bits": 1e4, "initial_key_fraction": 1.0})
    assert plenty["demands_satisfied"] == 1
    assert starved["demands_satisfied"] == 0
    assert small["key_wasted_bits"] > plenty["key_wasted_bits"]


@pytest.mark.slow
def test_a_sweep_of_four_variants_runs_on_a_local_cluster_of_two_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [
        "openqci", "plan", "sweep", str(ROOT / "scenarios" / "franceqci.yaml"),
        "--vary", "days=0.05", "--vary", "demand_scale=1,400", "--vary", "seed=1,2",
        "--workers", "2", "--out", str(tmp_path),
    ]  # fmt: skip
    monkeypatch.setattr("sys.argv", argv)
    main()
    rows = json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8"))
    with (tmp_path / "sweep.csv").open(encoding="utf-8") as stream:
        table = list(csv.DictReader(stream))
    assert len(rows) == len(table) == 4
    assert [(r["demand_scale"], r["seed"]) for r in rows] == [(1.0, 1), (1.0, 2), (400.0, 1), (400.0, 2)]
    assert all(r["demands"] == 9 for r in rows)
    assert rows[0]["demands_satisfied"] == 9
    assert rows[2]["key_consumed_bits"] > rows[0]["key_consumed_bits"]
    assert rows[2]["demands_satisfied"] < 9
