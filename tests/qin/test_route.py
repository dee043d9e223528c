"""Entanglement routes between the quantum nodes a scenario declares (``openqci qin route``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from openqci.qin.chain import ChainParameters, solve_chain
from openqci.qin.elementary import ElementaryLink, FibreEntanglementLink
from openqci.qin.errors import QinParameterError
from openqci.qin.route import route_entanglement
from openqci.scenario import load_scenario

SCENARIO = """\
name: qline
sites:
  - {name: a, roles: [kme, user-site], latitude_deg: 48.0, longitude_deg: 2.0,
     quantum: {memory_coherence_s: 1.0}}
  - {name: r1, roles: [kme, trusted-node], latitude_deg: 48.0, longitude_deg: 2.4,
     quantum: {memory_coherence_s: 1.0, p_swap: 0.5, cutoff_s: 0.05}}
  - {name: r2, roles: [kme, trusted-node], latitude_deg: 48.0, longitude_deg: 2.8,
     quantum: {memory_coherence_s: 0.5, p_swap: 0.6}}
  - {name: b, roles: [kme, user-site], latitude_deg: 48.0, longitude_deg: 3.2,
     quantum: {memory_coherence_s: 1.0}}
  - {name: plain, roles: [kme, trusted-node], latitude_deg: 48.3, longitude_deg: 2.6}
links:
  - {name: a-r1, site_a: a, site_b: r1, preset: lim2014, length_km: 25.0}
  - {name: r1-r2, site_a: r1, site_b: r2, preset: lim2014, length_km: 30.0}
  - {name: r2-b, site_a: r2, site_b: b, preset: lim2014, length_km: 25.0}
  - {name: a-plain, site_a: a, site_b: plain, preset: lim2014, length_km: 20.0}
  - {name: plain-b, site_a: plain, site_b: b, preset: lim2014, length_km: 20.0}
"""


@pytest.fixture
def scenario_path(tmp_path: Path) -> Path:
    path = tmp_path / "qline.yaml"
    path.write_text(SCENARIO)
    return path


def test_the_route_crosses_quantum_nodes_only_and_is_solved_segment_by_segment(
    scenario_path: Path,
) -> None:
    found = route_entanglement(load_scenario(scenario_path), "a", "b")
    # the two-segment path through 'plain' is shorter, but 'plain' has no memories to swap with
    assert found.sites == ("a", "r1", "r2", "b")
    assert found.segment_km == (25.0, 30.0, 25.0)
    short, long = (
        FibreEntanglementLink(length_km=25.0).elementary(),
        FibreEntanglementLink(length_km=30.0).elementary(),
    )
    step = long.attempt_duration_s  # every segment attempts at the pace of the slowest
    exact = solve_chain(
        ChainParameters(
            segments=3,
            p_gen=0.5,
            cutoff_attempts=int(0.05 // step),  # r1's cutoff, the only one
            coherence_attempts=0.5 / step,  # r2's memories, the shortest-lived
            attempt_duration_s=step,
            segment_p_gen=(short.p_gen, long.p_gen, short.p_gen),
            segment_werner=(short.werner, long.werner, short.werner),
            node_p_swap=(0.5, 0.6),  # r1's swap, then r2's
        )
    )
    assert found.chain.pair_rate_hz == pytest.approx(exact.pair_rate_hz, rel=1e-12)
    assert found.chain.mean_fidelity == pytest.approx(exact.mean_fidelity, rel=1e-12)

    # between the chain of its weakest segment (and swap) repeated and that of its best one
    def uniform(segment: ElementaryLink, p_swap: float) -> float:
        parameters = ChainParameters(
            segments=3,
            p_gen=segment.p_gen,
            p_swap=p_swap,
            cutoff_attempts=int(0.05 // step),
            werner_elementary=segment.werner,
            coherence_attempts=0.5 / step,
            attempt_duration_s=step,
        )
        return solve_chain(parameters).pair_rate_hz

    assert uniform(long, 0.5) < found.chain.pair_rate_hz < uniform(short, 0.6)


@pytest.mark.parametrize(
    ("source", "destination", "message"),
    [
        ("a", "plain", "site 'plain' has no quantum memories"),
        ("a", "nowhere", "unknown site 'nowhere'"),
        ("a", "a", "two different sites"),
    ],
)
def test_what_no_chain_can_join_is_named(
    scenario_path: Path, source: str, destination: str, message: str
) -> None:
    with pytest.raises(QinParameterError, match=message):
        route_entanglement(load_scenario(scenario_path), source, destination)


def test_a_gap_in_the_memories_is_no_route(scenario_path: Path, tmp_path: Path) -> None:
    gap = tmp_path / "gap.yaml"
    gap.write_text(SCENARIO.replace("quantum: {memory_coherence_s: 0.5, p_swap: 0.6}", "organisation: x"))
    with pytest.raises(QinParameterError, match="no fibre path of quantum nodes joins a and b"):
        route_entanglement(load_scenario(gap), "a", "b")


def test_the_command_prints_the_route_and_the_chain(scenario_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "openqci",
            "qin",
            "route",
            str(scenario_path),
            "--from",
            "a",
            "--to",
            "b",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["sites"] == ["a", "r1", "r2", "b"]
    assert record["pair_rate_hz"] > 0
    assert 0.5 < record["mean_fidelity"] < 1.0
