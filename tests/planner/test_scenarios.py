"""EuroQCI builds on FranceQCI through ``include:``, and holds what the programme's description asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from openqci.geodata import countries, countries_in
from openqci.planner.supply import fibre_rates_bps
from openqci.planner.topology import build_network
from openqci.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
EU_CAPITALS = {
    "vienna", "brussels", "sofia", "zagreb", "nicosia", "prague", "copenhagen", "tallinn", "helsinki",
    "paris", "berlin", "athens", "budapest", "dublin", "rome", "riga", "vilnius", "luxembourg",
    "valletta", "amsterdam", "warsaw", "lisbon", "bucharest", "bratislava", "ljubljana", "madrid",
    "stockholm",
}  # fmt: skip


@pytest.fixture(scope="module")
def euro():  # type: ignore[no-untyped-def]
    return load_scenario(ROOT / "scenarios" / "euroqci.yaml")


def test_euroqci_includes_franceqci_and_overrides_its_satellite(euro) -> None:  # type: ignore[no-untyped-def]
    france = load_scenario(ROOT / "scenarios" / "franceqci.yaml")
    names = {site.name for site in euro.sites}
    assert {site.name for site in france.sites} <= names
    assert {link.name for link in france.links} <= {link.name for link in euro.links}
    assert {d.name for d in france.demands} <= {d.name for d in euro.demands}
    satellite = {s.name: s for s in euro.satellites}["qci-sat-1"]
    assert len(satellite.ground_stations) > 1
    assert [s.name for s in euro.satellites].count("qci-sat-1") == 1


def test_euroqci_has_the_capitals_named_links_satellites_and_ground_stations(euro) -> None:  # type: ignore[no-untyped-def]
    names = {site.name for site in euro.sites}
    assert names >= EU_CAPITALS
    assert len(euro.satellites) >= 3
    assert sum(1 for site in euro.sites if site.is_ground_station) >= 20
    network = build_network(euro)
    graph = network.graph()
    import networkx as nx

    assert nx.is_connected(graph)
    fibre_only = nx.Graph([(u, v) for u, v, d in graph.edges(data=True) if d["cost"] == 1.0])
    for a, b in [("hamburg", "muenchen"), ("lyon", "toulouse"), ("szczecin", "krakow"), ("milano", "napoli")]:
        assert nx.has_path(fibre_only, a, b), (a, b)
    # Zaragoza - Lanzarote through a satellite: the only way to Lanzarote
    assert "lanzarote-ogs" not in fibre_only
    assert nx.has_path(graph, "zaragoza", "lanzarote-ogs")
    rates = fibre_rates_bps(network)
    fibre = [i for i, link in enumerate(network.links) if str(link.kind) == "fibre"]
    assert all(rates[i] > 0 for i in fibre), "every fibre span must be within reach of its devices"


def test_include_problems_are_named(tmp_path: Path) -> None:
    loop = tmp_path / "a.yaml"
    loop.write_text("include: [b.yaml]\nname: a\nsites: []\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("include: [a.yaml]\nname: b\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="includes itself"):
        load_scenario(loop)
    missing = tmp_path / "m.yaml"
    missing.write_text("include: [nowhere.yaml]\nname: m\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"include: nowhere.yaml: cannot read the file"):
        load_scenario(missing)


def test_planning_references_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "include: [" + str(ROOT / "scenarios" / "franceqci.yaml") + "]\nname: bad\n"
        "planning:\n  climate:\n    - {station: lyon, monthly_cloud_fraction: [0.5, 0.5, 0.5, 0.5, 0.5,"
        " 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]}\n"
        "  outages:\n    - {link: nowhere, start_hour: 1, duration_hours: 1}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as error:
        load_scenario(bad)
    message = "; ".join(error.value.problems)
    assert "'lyon' is not a site with the ground-station role" in message
    assert "unknown link 'nowhere'" in message


def test_the_shipped_country_outlines_cover_the_eu() -> None:
    assert len(countries()) > 150
    europe = {c.name for c in countries_in(-10.0, 35.0, 30.0, 70.0)}
    assert {"France", "Germany", "Italy", "Poland", "Sweden", "Greece", "Ireland"} <= europe
    france = next(c for c in countries() if c.iso_a3 == "FRA")
    west, _south, _east, north = france.bounds()
    assert -5.5 < west < 0 or west < -50  # metropolitan France, or with French Guiana
    assert 48 < north < 52
