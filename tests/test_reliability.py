"""The reliability campaigns, each run very short: the runner is tested, and so is every invariant it checks.

Each campaign runs against real KMEs (processes over mutual TLS, a launched network, network namespaces
where they can be made) with the smallest counts that still inject its faults. A campaign that finds a
violation fails here with the violation's text. The ten-minute soak is marked slow.
"""

from __future__ import annotations

import json

import pytest

from reliability.__main__ import main
from reliability.bad_input import run_bad_input
from reliability.crash import run_crash
from reliability.load import run_load
from reliability.outcome import Outcome
from reliability.partitions import run_partitions
from reliability.quantum import run_quantum
from reliability.runner import Settings, render, run_campaigns


def _clean(outcome: Outcome) -> None:
    assert outcome.skipped is None, outcome.skipped
    assert outcome.violations == [], sorted(set(outcome.violations))
    assert outcome.requests > 0


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow])]
)
def test_crash_campaign_kills_and_checks(backend: str) -> None:
    outcome = run_crash(backend, kills=1, budget_s=90, seed=1, sample=20)
    if outcome.skipped and backend == "postgres":
        pytest.skip(outcome.skipped)
    _clean(outcome)
    assert outcome.faults == 1
    assert any("keys delivered" in note for note in outcome.notes)


def test_quantum_campaign_catches_each_eavesdropper() -> None:
    outcome = run_quantum(blocks=1, budget_s=60, seed=1, control=False)
    _clean(outcome)
    kinds = " ".join(outcome.errors)
    for attack in ("intercept-resend 0.25", "intercept-resend 1", "pns 10 km", "classical tampering"):
        assert attack in kinds


def test_bad_input_campaign_finds_no_server_error() -> None:
    outcome = run_bad_input(examples=2, idle=4, budget_s=60, files=False)
    _clean(outcome)
    assert any("handshake refused" in kind for kind in outcome.errors)
    assert "certificate unknown SAE (valid, not registered): HTTP 401" in outcome.errors


@pytest.mark.slow
def test_partition_campaign_cuts_and_heals() -> None:
    outcome = run_partitions(cuts=1, budget_s=90, seed=1)
    if outcome.skipped:
        pytest.skip(outcome.skipped)
    _clean(outcome)
    assert outcome.faults == 1


@pytest.mark.slow
def test_load_campaign_samples_resources() -> None:
    outcome = run_load(duration_s=4, seed=1)
    _clean(outcome)
    assert outcome.rss_mb is not None
    assert outcome.rss_mb > 0
    assert outcome.p99_ms is not None


@pytest.mark.slow
@pytest.mark.timeout(900)  # ten minutes of load, with the network's start and stop
def test_ten_minute_soak() -> None:
    outcome = run_load(duration_s=600, seed=2, label="soak")
    _clean(outcome)
    assert outcome.store_mb_per_hour is not None


def test_runner_prints_one_table_and_writes_json(tmp_path, capsys) -> None:
    out = tmp_path / "table.json"
    assert main(["--only", "access", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "invariant violations" in printed
    assert "access: keys only to their parties" in printed
    document = json.loads(out.read_text())
    assert document["invariant_violations"] == 0
    assert document["cpu"]
    (row,) = document["rows"]
    assert row["scenario"] == "access: keys only to their parties"
    assert row["faults_injected"] > 500  # every identity, KME, endpoint and named master
    assert row["errors_by_kind"]["relay message sent by an SAE: 401"] == 1


def test_a_campaign_that_breaks_is_a_row_with_its_violation() -> None:
    def broken(settings: Settings) -> list[Outcome]:
        raise RuntimeError("no KME answered")

    rows = run_campaigns(["broken"], Settings(), campaigns={"broken": broken})
    (row,) = rows
    assert row.violations == ["the campaign itself failed: RuntimeError: no KME answered"]
    assert render(rows, "t").row_count == 1


def test_bad_options_are_one_error_line(capsys) -> None:
    assert main(["--only", "crash,nope"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("run reliability: error: unknown campaign nope")
