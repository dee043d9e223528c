"""``openqci network``: the scenario format's JSON Schema, and a scenario's sites, links and demands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openqci.commands.output import console, print_json

if TYPE_CHECKING:
    from rich.table import Table

    from openqci.network.scenario import Scenario
    from openqci.network.supply import LinkSupply

__all__ = ["app", "schema", "show"]

app = typer.Typer(
    help="Trusted-node networks: scenario files, their links and demands.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the scenario format (the file docs/scenario.schema.json)."""
    from openqci.network.scenario import scenario_json_schema

    sys.stdout.write(json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n")


@app.command("show")
def show(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario YAML file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Sites, links (length, loss, expected key rate) and demands of a scenario."""
    from openqci.network.scenario import load_scenario
    from openqci.network.supply import expected_supply

    scenario = load_scenario(scenario_path)
    supply = expected_supply(scenario)
    if json_output:
        print_json(_record(scenario, supply))
        return
    console.print(f"[bold]{scenario.name}[/bold]: {scenario.description}".rstrip(": "))
    for table in (_sites_table(scenario), _links_table(supply), _demands_table(scenario)):
        console.print(table)


def _record(scenario: Scenario, supply: list[LinkSupply]) -> dict[str, object]:
    return {
        "name": scenario.name,
        "description": scenario.description,
        "sites": [site.model_dump(mode="json") for site in scenario.sites],
        "links": [link.record() for link in supply],
        "satellites": [satellite.model_dump(mode="json") for satellite in scenario.satellites],
        "saes": [sae.model_dump(mode="json") for sae in scenario.saes],
        "demands": [
            {**demand.model_dump(mode="json"), "required_rate_bps": demand.required_rate_bps}
            for demand in scenario.demands
        ],
    }


def _table(title: str, columns: dict[str, str]) -> Table:
    """A table with ``columns`` (name to justification)."""
    from rich.table import Table

    table = Table(title=title)
    for column, justify in columns.items():
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    return table


def _sites_table(scenario: Scenario) -> Table:
    table = _table(
        f"Sites ({len(scenario.sites)})",
        {
            "site": "left",
            "roles": "left",
            "latitude_deg": "right",
            "longitude_deg": "right",
            "organisation": "left",
        },
    )
    for site in scenario.sites:
        roles = ", ".join(str(role) for role in site.roles)
        table.add_row(
            site.name, roles, f"{site.latitude_deg:.4f}", f"{site.longitude_deg:.4f}", site.organisation
        )
    return table


def _links_table(supply: list[LinkSupply]) -> Table:
    table = _table(
        f"Fibre links ({len(supply)})",
        {
            "link": "left",
            "ends": "left",
            "preset": "left",
            "length_km": "right",
            "loss_db": "right",
            "expected_key_rate_bps": "right",
        },
    )
    for link in supply:
        table.add_row(
            link.link,
            f"{link.site_a} - {link.site_b}",
            link.preset,
            f"{link.length_km:.1f}",
            f"{link.loss_db:.1f}",
            f"{link.expected_key_rate_bps:.4g}",
        )
    return table


def _demands_table(scenario: Scenario) -> Table:
    saes = scenario.saes_by_name
    table = _table(
        f"Demands ({len(scenario.demands)})",
        {
            "demand": "left",
            "master SAE (KME)": "left",
            "slave SAE (KME)": "left",
            "required_rate_bps": "right",
        },
    )
    for demand in scenario.demands:
        master, slave = saes[demand.master_sae], saes[demand.slave_sae]
        table.add_row(
            demand.name,
            f"{master.name} ({master.kme})",
            f"{slave.name} ({slave.kme})",
            f"{demand.required_rate_bps:.4g}",
        )
    return table
