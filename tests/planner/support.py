"""Small scenarios built in code for the planner's tests."""

from __future__ import annotations

from typing import Any

from openqci.scenario import Scenario


def site(name: str, lat: float, lon: float, *roles: str) -> dict[str, Any]:
    return {"name": name, "roles": ["kme", *roles], "latitude_deg": lat, "longitude_deg": lon}


def link(a: str, b: str, km: float = 30.0, preset: str = "lim2014") -> dict[str, Any]:
    return {"name": f"{a}-{b}", "site_a": a, "site_b": b, "preset": preset, "length_km": km}


def demand(name: str, a: str, b: str, rate: float) -> dict[str, Any]:
    return {"name": name, "master_sae": f"sae-{a}", "slave_sae": f"sae-{b}", "key_rate_bps": rate}


def scenario(
    sites: list[dict[str, Any]],
    links: list[dict[str, Any]],
    demands: list[dict[str, Any]],
    planning: dict[str, Any] | None = None,
    satellites: list[dict[str, Any]] | None = None,
) -> Scenario:
    saes = [{"name": f"sae-{s['name']}", "kme": s["name"]} for s in sites]
    return Scenario.model_validate(
        {
            "name": "test",
            "sites": sites,
            "links": links,
            "saes": saes,
            "demands": demands,
            "satellites": satellites or [],
            **({"planning": planning} if planning else {}),
        }
    )


def chain(rate: float, km: float = 30.0, **planning: Any) -> Scenario:
    """a - b - c - d in a line (b, c trusted nodes), one demand from a to d."""
    sites = [
        site("a", 48.0, 2.0),
        site("b", 48.0, 2.4, "trusted-node"),
        site("c", 48.0, 2.8, "trusted-node"),
        site("d", 48.0, 3.2),
    ]
    links = [link("a", "b", km), link("b", "c", km), link("c", "d", km)]
    return scenario(sites, links, [demand("a-d", "a", "d", rate)], planning or None)
