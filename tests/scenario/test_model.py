"""Scenario files: the ready ones load and make physical sense; broken ones give one clear error each."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from openqci.network.supply import expected_supply
from openqci.scenario import Scenario, SiteRole, load_scenario, scenario_json_schema
from openqci.scenario.errors import ScenarioError
from openqci.scenario.geo import great_circle_km

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"

MINIMAL = """\
name: tiny
sites:
  - {name: a, roles: [kme, user-site], latitude_deg: 48.85, longitude_deg: 2.35}
  - {name: b, roles: [kme, user-site], latitude_deg: 48.71, longitude_deg: 2.20}
links:
  - {name: a-b, site_a: a, site_b: b, preset: yuan2018}
saes:
  - {name: sae-a, kme: a}
  - {name: sae-b, kme: b}
demands:
  - {name: a-b, master_sae: sae-a, slave_sae: sae-b, key_rate_bps: 100.0}
"""


@pytest.fixture(scope="module")
def franceqci() -> Scenario:
    return load_scenario(SCENARIOS / "franceqci.yaml")


@pytest.mark.parametrize("name", ["franceqci", "line5", "mesh"])
def test_ready_scenarios_load_with_positive_key_rate_on_every_link(name: str) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    supply = expected_supply(scenario)
    assert len(supply) == len(scenario.links) > 0
    assert all(link.expected_key_rate_bps > 0 for link in supply), [
        s for s in supply if s.expected_key_rate_bps <= 0
    ]
    assert all(demand.required_rate_bps > 0 for demand in scenario.demands)


def test_franceqci_spans_stay_within_reach_of_trusted_nodes(franceqci: Scenario) -> None:
    lengths = {link.name: franceqci.link_length_km(link) for link in franceqci.links}
    backbone = {link.name for link in franceqci.links if link.preset == "lim2014"}
    assert len(backbone) >= 15
    assert max(lengths[name] for name in backbone) <= 110.0
    assert max(lengths.values()) <= 110.0


def test_franceqci_joins_paris_nice_and_toulouse(franceqci: Scenario) -> None:
    import networkx as nx

    from openqci.network.routing import build_graph

    graph = build_graph(franceqci)
    for a, b in [("dsna-blagnac", "dsna-paris"), ("sorbonne-lip6", "uca-valrose"), ("enac", "oca-calern")]:
        assert nx.has_path(graph, a, b)
    assert nx.shortest_path_length(graph, "dsna-blagnac", "dsna-paris") >= 15


def test_franceqci_has_the_atc_use_case(franceqci: Scenario) -> None:
    saes = franceqci.saes_by_name
    sites = franceqci.sites_by_name
    atc = [d for d in franceqci.demands if d.name.startswith("atc-toulouse")]
    assert atc
    for demand in atc:
        master, slave = sites[saes[demand.master_sae].kme], sites[saes[demand.slave_sae].kme]
        assert great_circle_km(master.latitude_deg, master.longitude_deg, 43.6, 1.44) < 20  # Toulouse
        assert great_circle_km(slave.latitude_deg, slave.longitude_deg, 48.86, 2.35) < 40  # Paris region
        assert demand.key_size_bits == 256


def test_franceqci_sites_cite_their_coordinates(franceqci: Scenario) -> None:
    assert all(site.reference for site in franceqci.sites)
    assert all(
        41.0 < site.latitude_deg < 51.5 and -5.5 < site.longitude_deg < 9.6 for site in franceqci.sites
    )
    assert any(SiteRole.GROUND_STATION in site.roles for site in franceqci.sites)


def test_length_defaults_to_great_circle_times_route_factor(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(MINIMAL)
    scenario = load_scenario(path)
    link = scenario.links[0]
    straight_km = float(great_circle_km(48.85, 2.35, 48.71, 2.20))
    assert scenario.link_length_km(link) == pytest.approx(1.3 * straight_km)
    assert scenario.demands[0].required_rate_bps == 100.0


def _error(tmp_path: Path, text: str) -> ScenarioError:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return caught.value


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("site_b: b, preset", "site_b: c, preset"), "links[0] (a-b): site_b: unknown site 'c'"),
        (
            ("- {name: b, roles", "- {name: a, roles"),
            "sites[1] (a): name: duplicate name; also used by sites[0]",
        ),
        (("preset: yuan2018}", "preset: yuan2018, length_km: -5}"), "links[0] (a-b): length_km: must be > 0"),
        (("preset: yuan2018", "preset: yuan2019"), "links[0] (a-b): preset: unknown preset 'yuan2019'"),
        (
            ("preset: yuan2018}", "preset: yuan2018, source: device}"),
            "links[0] (a-b): source: must be one of",
        ),
        (("latitude_deg: 48.85, ", ""), "sites[0] (a): latitude_deg: required field is missing"),
        (("kme: b}", "kme: z}"), "saes[1] (sae-b): kme: unknown site 'z'"),
        (("slave_sae: sae-b", "slave_sae: sae-c"), "demands[0] (a-b): slave_sae: unknown SAE 'sae-c'"),
        (
            ("roles: [kme, user-site], latitude_deg: 48.71", "roles: [user-site], latitude_deg: 48.71"),
            "links[0] (a-b): site_b: site 'b' has no 'kme' role",
        ),
        (("key_rate_bps: 100.0", "rekey_period_s: 10"), "demands[0] (a-b): key_rate_bps: give it, or both"),
        (
            ("roles: [kme, user-site], latitude_deg: 48.85", "roles: [kme, relay], latitude_deg: 48.85"),
            "sites[0] (a): roles[1]: must be one of",
        ),
        (("preset: yuan2018}", "preset: yuan2018, colour: red}"), "links[0] (a-b): colour: unknown field"),
    ],
)
def test_bad_entry_names_file_entry_and_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in MINIMAL
    error = _error(tmp_path, MINIMAL.replace(old, new, 1))
    assert error.problems[0].startswith(expected), error.problems
    assert str(error).startswith(f"{error.path}: {expected}")


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    error = _error(tmp_path, MINIMAL.replace("links:", "links: [unclosed"))
    assert re.search(r": line \d+, column \d+: not valid YAML", str(error))


def test_repeated_yaml_key_is_refused(tmp_path: Path) -> None:
    error = _error(tmp_path, MINIMAL.replace("name: tiny", "name: tiny\nname: again"))
    assert "key 'name' is repeated" in str(error)


def test_missing_file_and_non_mapping_are_scenario_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario(tmp_path / "absent.yaml")
    assert "must hold a mapping" in str(_error(tmp_path, "- just\n- a list\n"))


def test_every_problem_is_listed(tmp_path: Path) -> None:
    text = MINIMAL.replace("site_b: b", "site_b: c").replace("kme: b}", "kme: z}")
    error = _error(tmp_path, text)
    assert len(error.problems) == 2
    assert "(and 1 more problem(s))" in str(error)


def test_length_and_route_factor_together_are_refused(tmp_path: Path) -> None:
    error = _error(
        tmp_path, MINIMAL.replace("preset: yuan2018}", "preset: yuan2018, length_km: 5, route_factor: 2}")
    )
    assert "links[0] (a-b): route_factor: give length_km or route_factor, not both" in str(error)


SATELLITE = """
satellites:
  - name: sat
    preset: micius2017
    ground_stations: [a]
"""
ISS_TLE = (
    "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927",
    "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537",
)


def test_satellite_takes_a_tle_or_elements(tmp_path: Path) -> None:
    ground = MINIMAL.replace(
        "roles: [kme, user-site], latitude_deg: 48.85", "roles: [kme, ground-station], latitude_deg: 48.85"
    )
    tle = f"    tle: {{line1: '{ISS_TLE[0]}', line2: '{ISS_TLE[1]}'}}\n"
    path = tmp_path / "sat.yaml"
    path.write_text(ground + SATELLITE + tle)
    assert load_scenario(path).satellites[0].tle is not None
    corrupt = tle.replace("0  2927", "0  2928")
    assert "tle.line1: checksum digit should be 7" in str(_error(tmp_path, ground + SATELLITE + corrupt))
    assert "satellites[0] (sat): tle: give either tle or elements" in str(
        _error(tmp_path, ground + SATELLITE)
    )
    elements = (
        "    elements: {epoch: 2026-01-01T00:00:00Z, altitude_km: 500, inclination_deg: 97.4, raan_deg: 10}\n"
    )
    path.write_text(ground + SATELLITE + elements)
    assert load_scenario(path).satellites[0].elements is not None
    no_station = MINIMAL + SATELLITE + elements
    assert "ground_stations[0]: site 'a' has no 'ground-station' role" in str(_error(tmp_path, no_station))


def test_committed_schema_equals_generated() -> None:
    committed = json.loads((ROOT / "docs" / "scenario.schema.json").read_text(encoding="utf-8"))
    assert committed == scenario_json_schema()


def test_documentation_example_loads(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "scenario.md").read_text(encoding="utf-8")
    example = text.split("## Example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "example.yaml"
    path.write_text(example)
    scenario = load_scenario(path)
    assert [link.name for link in scenario.links] == ["a-node", "node-b"]
