"""``openqci network``: scenario files (schema, show) and running networks (up, status, attack, down)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from openqci.commands.output import cell, console, fail, new_table, print_json, si
from openqci.ops.events import DEFAULT_LOG_BACKUPS, DEFAULT_LOG_MAX_BYTES, LOG_LEVELS

if TYPE_CHECKING:
    from rich.table import Table

    from openqci.network.supply import LinkSupply
    from openqci.scenario import Scenario

__all__ = ["app", "attack", "down", "schema", "show", "status", "up"]

app = typer.Typer(
    help="Trusted-node networks: scenario files, and whole networks run on this machine.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("schema")
def schema() -> None:
    """Print the JSON Schema of the scenario format (the file docs/scenario.schema.json)."""
    from openqci.scenario import scenario_json_schema

    sys.stdout.write(json.dumps(scenario_json_schema(), indent=2, ensure_ascii=False) + "\n")


@app.command("show")
def show(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario YAML file.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Sites, links (length, loss, expected key rate) and demands of a scenario."""
    from openqci.network.supply import expected_supply
    from openqci.scenario import load_scenario

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


def _table(title: str, columns: dict[str, Literal["left", "right"]]) -> Table:
    """A table with ``columns`` (name to justification)."""
    return new_table(title, columns)


def _sites_table(scenario: Scenario) -> Table:
    table = _table(
        f"Sites ({len(scenario.sites)})",
        {
            "site": "left",
            "roles": "left",
            "latitude (deg)": "right",
            "longitude (deg)": "right",
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
            "km": "right",
            "dB": "right",
            "key rate": "right",
        },
    )
    for link in supply:
        table.add_row(
            link.link,
            f"{link.site_a} -\n{link.site_b}",
            link.system or link.preset,
            f"{link.length_km:.1f}",
            f"{link.loss_db:.1f}",
            si(link.expected_key_rate_bps, "bit/s"),
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
            "required rate": "right",
        },
    )
    for demand in scenario.demands:
        master, slave = saes[demand.master_sae], saes[demand.slave_sae]
        table.add_row(
            demand.name,
            f"{master.name} ({master.kme})",
            f"{slave.name} ({slave.kme})",
            si(demand.required_rate_bps, "bit/s"),
        )
    return table


StateDirOption = Annotated[
    Path, typer.Option("--state-dir", help="Directory of the running network (its files, logs, state).")
]


@app.command("up")
def up(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario YAML file.")],
    state_dir: StateDirOption,
    speedup: Annotated[
        float, typer.Option(help="Key supply runs this many times faster than physics.")
    ] = 1.0,
    kmes_per_process: Annotated[
        int, typer.Option(help="KMEs served by one OS process (each keeps its own identity and store).")
    ] = 1,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds to wait for every part.")] = 120.0,
    intake_cap_bps: Annotated[
        float,
        typer.Option(
            "--intake-cap", help="Most key (bit/s) a KME takes in per link; beyond it key is discarded."
        ),
    ] = 16384.0,  # openqci.network.launcher.DEFAULT_INTAKE_CAP_BPS (not imported: the CLI starts fast)
    controller_host: Annotated[
        str,
        typer.Option(
            "--controller-host",
            help="IP address the controller listens on; any but loopback needs --controller-tls.",
        ),
    ] = "127.0.0.1",
    controller_port: Annotated[
        int, typer.Option("--controller-port", help="The controller's TCP port (0: any free port).")
    ] = 0,
    controller_tls: Annotated[
        bool,
        typer.Option(
            "--controller-tls",
            help="Serve the controller over TLS (certificate from the network's CA; KMEs may use theirs).",
        ),
    ] = False,
    log_level: Annotated[
        str, typer.Option(help="Level of every process's event log: debug, info, warning or error.")
    ] = "info",
    log_max_bytes: Annotated[
        int, typer.Option(help="Size at which each process's log file is rotated (bytes).")
    ] = DEFAULT_LOG_MAX_BYTES,
    log_backups: Annotated[
        int, typer.Option(help="Rotated log files kept per process.")
    ] = DEFAULT_LOG_BACKUPS,
) -> None:
    """Start a network: PKI, one process per KME site, the controller and the link key supply.

    Prints the address of the live dashboard the controller serves.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from openqci.network.errors import NetworkError
    from openqci.network.launcher import LaunchOptions
    from openqci.network.launcher import up as launch
    from openqci.network.statedir import StateDir
    from openqci.ops.dashboard_address import dashboard_url

    if not speedup > 0:
        fail(f"--speedup must be > 0, got {speedup:g}")
    if kmes_per_process < 1:
        fail(f"--kmes-per-process must be >= 1, got {kmes_per_process}")
    if not timeout_s > 0:
        fail(f"--timeout must be > 0 seconds, got {timeout_s:g}")
    if not intake_cap_bps > 0:
        fail(f"--intake-cap must be > 0 bit/s, got {intake_cap_bps:g}")
    if not 0 <= controller_port <= 65535:
        fail(f"--controller-port must lie in 0..65535, got {controller_port}")
    if log_level not in LOG_LEVELS:
        fail(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    if log_max_bytes < 1024:
        fail(f"--log-max-bytes must be >= 1024, got {log_max_bytes}")
    if log_backups < 0:
        fail(f"--log-backups must be >= 0, got {log_backups}")
    options = LaunchOptions(
        speedup=speedup,
        kmes_per_process=kmes_per_process,
        timeout_s=timeout_s,
        intake_cap_bps=intake_cap_bps,
        controller_host=controller_host,
        controller_port=controller_port,
        controller_tls=controller_tls,
        log_level=log_level,
        log_max_bytes=log_max_bytes,
        log_backups=log_backups,
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as display:
        task = display.add_task("starting", total=None)

        def show_progress(ready: int, total: int, waiting: str) -> None:
            display.update(task, completed=ready, total=total, description=f"waiting for {waiting}")

        try:
            state = launch(scenario_path, state_dir, options, show_progress)
        except NetworkError as error:
            fail(str(error))
    console.print(
        f"[bold]{state.network}[/bold] is up: {len(state.kme_urls)} KMEs in "
        f"{sum(p.role == 'site' for p in state.processes)} processes, controller at {state.controller_url}"
    )
    console.print(f"dashboard: {dashboard_url(StateDir(state_dir.resolve()))}", soft_wrap=True)


@app.command("status")
def status(
    state_dir: StateDirOption,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep a live view on the terminal until Ctrl-C.")
    ] = False,
    interval_s: Annotated[
        float, typer.Option("--interval", help="Seconds between refreshes of --watch.")
    ] = 1.0,
) -> None:
    """The live state of a running network: nodes, links (key rate, available key, QBER) and alarms."""
    from openqci.network.controller_client import ControllerClient
    from openqci.network.errors import NetworkError
    from openqci.network.statedir import StateDir

    if watch and json_output:
        fail("give --watch or --json, not both")
    if not 0.1 <= interval_s <= 3600:
        fail(f"--interval must lie between 0.1 and 3600 seconds, got {interval_s:g}")
    if watch:
        from openqci.ops.terminal_view import watch_network

        try:
            watch_network(StateDir(state_dir.resolve()), console, interval_s=interval_s)
        except NetworkError as error:
            fail(str(error))
        return
    try:
        with ControllerClient.from_state_dir(StateDir(state_dir.resolve())) as client:
            document = client.state()
    except NetworkError as error:
        fail(str(error))
    if json_output:
        print_json(document)
        return
    for table in (_nodes_table(document), _live_links_table(document), _alarms_table(document)):
        console.print(table)


@app.command("attack")
def attack(
    link: Annotated[str, typer.Argument(help="The link to attack.")],
    state_dir: StateDirOption,
    intercept_resend: Annotated[
        float | None,
        typer.Option(help="Fraction of the pulses an eavesdropper intercepts and resends (default 0.3)."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Take the eavesdropper off the link.")] = False,
    cut: Annotated[
        bool, typer.Option("--cut", help="Cut the link's fibre instead (--clear mends it).")
    ] = False,
) -> None:
    """Put an intercept-resend eavesdropper on one link (QBER rises by about a quarter of the fraction)."""
    from openqci.network.errors import NetworkError
    from openqci.network.launcher import attack as inject

    chosen = [
        name
        for name, given in (
            ("--intercept-resend", intercept_resend is not None),
            ("--cut", cut),
            ("--clear", clear),
        )
        if given
    ]
    if len(chosen) > 1:
        fail(f"give one of --intercept-resend, --cut and --clear, not {' and '.join(chosen)}")
    fraction = 0.3 if intercept_resend is None else intercept_resend
    try:
        event = inject(state_dir, link, intercept_resend=0.0 if clear or cut else fraction, cut=cut)
    except NetworkError as error:
        fail(str(error))
    if cut:
        what = "fibre cut"
    elif clear:
        what = "no eavesdropper"
    else:
        what = f"an intercept-resend eavesdropper on {fraction:.0%} of pulses"
    console.print(f"{link}: {what} from block {event.from_block}")


@app.command("down")
def down(
    state_dir: StateDirOption,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds before SIGKILL.")] = 10.0,
) -> None:
    """Stop every process of a running network (SIGTERM, then SIGKILL after the timeout)."""
    from openqci.network.errors import NetworkError
    from openqci.network.launcher import down as stop

    try:
        stopped = stop(state_dir, timeout_s=timeout_s)
    except NetworkError as error:
        fail(str(error))
    if stopped:
        console.print(f"stopped {len(stopped)} processes")
    else:
        console.print(f"no network runs from {state_dir}; nothing to stop")


def _nodes_table(document: dict[str, Any]) -> Table:
    table = _table(f"Nodes ({len(document['nodes'])})", {"KME": "left", "status": "left", "URL": "left"})
    for node in document["nodes"]:
        table.add_row(node["qkdn_id"], node["qkdn_status"], cell(node["kme_url"]))
    return table


def _live_links_table(document: dict[str, Any]) -> Table:
    table = _table(
        f"Links ({len(document['links'])})",
        {
            "link": "left",
            "status": "left",
            "key rate": "right",
            "effective": "right",
            "available (bits)": "right",
            "QBER": "right",
            "alarms": "left",
        },
    )
    for link in document["links"]:
        table.add_row(
            link["qkdl_id"],
            link["qkdl_status"],
            si(link["skr_bps"], "bit/s"),
            si(link["eskr_bps"], "bit/s"),
            cell(link["available_key_bits"]),
            cell(link["qber"], digits=3),
            ", ".join(alarm["kind"] for alarm in link["alarms"]) or "—",
        )
    return table


def _alarms_table(document: dict[str, Any]) -> Table:
    active = document["alarms"]["active"]
    table = _table(
        f"Active alarms ({len(active)})", {"link": "left", "alarm": "left", "since": "left", "why": "left"}
    )
    for alarm in active:
        table.add_row(alarm["link"], alarm["kind"], alarm["raised_at"], alarm["message"])
    return table
