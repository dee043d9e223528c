"""Twin-field and MDI links: an untrusted node in the middle that holds no key and is no hop of a route."""

from __future__ import annotations

from pathlib import Path

import pytest

from openqci.network.link_simulator import link_physics
from openqci.network.routing import build_graph
from openqci.network.supply import expected_supply
from openqci.physics import Protocol, get_preset, secret_key_rate
from openqci.physics.catalogue import catalogue_rate
from openqci.planner.supply import fibre_rates_bps
from openqci.planner.topology import build_network
from openqci.scenario import load_scenario
from openqci.scenario.errors import ScenarioError
from openqci.scenario.geo import great_circle_km

# Two KMEs 300 km of fibre apart (beyond decoy BB84's reach), a twin-field link through a measuring node
# halfway, and a short BB84 link from one end to a third KME.
SCENARIO = """\
name: tf-line
sites:
  - {name: west, roles: [kme, user-site], latitude_deg: 46.0, longitude_deg: 2.0}
  - {name: charlie, roles: [untrusted-node], latitude_deg: 46.0, longitude_deg: 4.0}
  - {name: east, roles: [kme, trusted-node], latitude_deg: 46.0, longitude_deg: 6.0}
  - {name: far, roles: [kme, user-site], latitude_deg: 46.2, longitude_deg: 6.2}
links:
  - {name: west-east, site_a: west, site_b: east, protocol: tf-qkd, preset: lucamarini2018,
     middle_site: charlie, length_km: 300.0}
  - {name: east-far, site_a: east, site_b: far, preset: yuan2018, length_km: 20.0}
saes:
  - {name: sae-west, kme: west}
  - {name: sae-far, kme: far}
demands:
  - {name: west-far, master_sae: sae-west, slave_sae: sae-far, key_rate_bps: 100.0}
"""


def _load(tmp_path: Path, text: str = SCENARIO):
    path = tmp_path / "tf.yaml"
    path.write_text(text)
    return load_scenario(path)


def _error(tmp_path: Path, old: str, new: str) -> str:
    assert old in SCENARIO
    with pytest.raises(ScenarioError) as caught:
        _load(tmp_path, SCENARIO.replace(old, new, 1))
    return str(caught.value)


def test_a_twin_field_link_makes_key_where_bb84_cannot(tmp_path: Path) -> None:
    scenario = _load(tmp_path)
    supply = {s.link: s for s in expected_supply(scenario)}
    tf = supply["west-east"]
    expected = catalogue_rate("tf-qkd", "lucamarini2018", 300.0).secret_key_rate_bps[0]
    assert tf.expected_key_rate_bps == pytest.approx(expected)
    assert tf.expected_key_rate_bps > 0
    bb84 = secret_key_rate(get_preset("lim2014"), 300.0, protocol=Protocol.DECOY_BB84)
    assert float(bb84.secret_key_rate_bps) == 0.0
    # the launched network's rate model and the twin use the same figure
    rate, qber = link_physics("lucamarini2018", "tf-qkd", 300.0, 0.0)
    assert rate == pytest.approx(expected)
    assert 0.0 <= qber < 0.05
    network = build_network(scenario)
    assert fibre_rates_bps(network)[network.link_index()["west-east"]] == pytest.approx(expected)


def test_an_eavesdropper_raises_the_qber_of_a_twin_field_link(tmp_path: Path) -> None:
    quiet_rate, quiet_qber = link_physics("lucamarini2018", "tf-qkd", 300.0, 0.0)
    rate, qber = link_physics("lucamarini2018", "tf-qkd", 300.0, 0.4)
    assert qber == pytest.approx(quiet_qber + 0.1)
    assert rate < quiet_rate


def test_the_middle_node_holds_no_key_and_is_no_hop(tmp_path: Path) -> None:
    scenario = _load(tmp_path)
    assert [site.name for site in scenario.kme_sites] == ["west", "east", "far"]
    graph = build_graph(scenario)
    assert "charlie" not in graph
    assert graph.has_edge("west", "east")


def test_without_a_length_the_fibre_runs_through_the_middle_node(tmp_path: Path) -> None:
    scenario = _load(tmp_path, SCENARIO.replace(" length_km: 300.0}", "}", 1))
    link = scenario.links[0]
    legs = great_circle_km(46.0, 2.0, 46.0, 4.0) + great_circle_km(46.0, 4.0, 46.0, 6.0)
    assert scenario.link_length_km(link) == pytest.approx(1.3 * float(legs))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("preset: lucamarini2018", "preset: yuan2018", "unknown preset 'yuan2018' for protocol tf-qkd"),
        ("middle_site: charlie", "middle_site: east", "site 'east' has no 'untrusted-node' role"),
        ("middle_site: charlie", "middle_site: nowhere", "unknown site 'nowhere'"),
        ("roles: [untrusted-node]", "roles: [untrusted-node, kme]", "holds no key"),
        (
            "preset: yuan2018, length_km: 20.0}",
            "preset: yuan2018, length_km: 20.0, middle_site: charlie}",
            "middle_site applies to tf-qkd and mdi-qkd links only",
        ),
        ("middle_site: charlie,", "middle_site: charlie, source: engine,", "source engine cannot run tf-qkd"),
        ("middle_site: charlie,", "middle_site: charlie, loss_db: 40.0,", "loss_db apply to decoy-bb84"),
    ],
)
def test_a_wrong_untrusted_middle_is_one_clear_error(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert expected in _error(tmp_path, old, new)
