"""``openqci presets``, ``openqci version`` and ``openqci demo``.

The demo has two parts: the secret-key rates of the device presets (a table and a figure), then the
FranceQCI network launched on this machine (SQLite stores, eight KMEs per process) into a temporary state
directory, its links making key shown live, and keys relayed between the air-traffic-control SAEs of
Toulouse and the Paris region. The network is stopped whatever happens, Ctrl-C included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from openqci.commands.output import console, print_json

__all__ = ["demo", "presets", "version"]

DEMO_DISTANCES_KM = (10.0, 50.0, 100.0)
DEMO_SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "franceqci.yaml"
DEMO_MASTER = ("atc-toulouse", "dsna-blagnac")
DEMO_SLAVE = ("atc-dsna-paris", "dsna-paris")


def presets(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the device presets and the publications they come from."""
    from dataclasses import asdict

    from rich.table import Table

    from openqci.physics import PRESETS

    if json_output:
        print_json({name: asdict(system) for name, system in PRESETS.items()})
        return
    table = Table(title="Device presets")
    for column in ("name", "clock (Hz)", "intensities", "eta_Bob", "dark/gate", "e_det", "source"):
        table.add_column(column)
    for name, system in PRESETS.items():
        table.add_row(
            name,
            f"{system.source.repetition_rate_hz:.3g}",
            str(system.source.intensities),
            f"{system.receiver_efficiency:.3g}",
            f"{system.detector.dark_count_prob:.2g}",
            f"{system.misalignment:.3g}",
            system.reference,
        )
    console.print(table)


def version(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Versions of OpenQCI and of the libraries its numbers depend on."""
    from importlib.metadata import version as package_version

    import openqci

    names = ("numpy", "scipy", "numba", "cryptography", "fastapi", "sgp4", "networkx")
    versions = {"openqci": openqci.__version__} | {name: package_version(name) for name in names}
    if json_output:
        print_json(versions)
    else:
        for name, value in versions.items():
            console.print(f"{name:14} {value}")


def demo(
    output_dir: Annotated[Path, typer.Option("--output-dir", help="Where figures are written.")] = Path(
        "out"
    ),
    scenario_path: Annotated[Path, typer.Option("--scenario", help="The network to launch.")] = DEMO_SCENARIO,
    keys: Annotated[int, typer.Option(help="Keys to relay from Toulouse to the Paris region.")] = 5,
    collect_s: Annotated[float, typer.Option(help="Seconds to watch the links make key.")] = 8.0,
    network: Annotated[
        bool, typer.Option("--network/--no-network", help="Run the network part after the key rates.")
    ] = True,
) -> None:
    """Key rates of the presets, then FranceQCI on this machine: links making key, and a key relayed
    from the civil-aviation SAE in Toulouse to the ATC gateway in the Paris region."""
    import signal
    import tempfile

    _rate_table(output_dir)
    if not network:
        return
    with tempfile.TemporaryDirectory(prefix="openqci-demo-") as tmp:
        state_dir = Path(tmp) / "state"
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            _network_demo(scenario_path, state_dir, keys, collect_s)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: stopping the network[/yellow]")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _shut_down(state_dir)
            signal.signal(signal.SIGINT, previous)


def _rate_table(output_dir: Path) -> None:
    """Secret-key rates of every preset at 10, 50 and 100 km, and the rate-versus-distance figure."""
    import numpy as np
    from rich.table import Table

    from openqci.physics import PRESETS, DecoyMethod, Protocol, max_distance_km, secret_key_rate
    from openqci.reports import plot_rate_versus_distance

    table = Table(title="Decoy-state BB84 secret key rate (asymptotic, infinite decoys, mu optimised)")
    table.add_column("preset")
    for distance in DEMO_DISTANCES_KM:
        table.add_column(f"{distance:.0f} km (bit/s)", justify="right")
    table.add_column("max distance (km)", justify="right")
    for name, system in PRESETS.items():
        rates = secret_key_rate(system, np.array(DEMO_DISTANCES_KM)).secret_key_rate_bps
        reach = max_distance_km(system)
        table.add_row(name, *(f"{r:.4g}" for r in rates), f"{reach:.1f}")
    console.print(table)
    sweep = np.linspace(0.0, 250.0, 1001)
    gys, lim = PRESETS["gys2004"], PRESETS["lim2014"]
    curves = [
        secret_key_rate(gys, sweep),
        secret_key_rate(gys, sweep, decoys=DecoyMethod.VACUUM_WEAK),
        secret_key_rate(lim, sweep, block_size=1e8, epsilon=1e-10),
        secret_key_rate(gys, sweep, protocol=Protocol.BBM92),
    ]
    path = plot_rate_versus_distance(
        curves, output_dir / "keyrate.png", bound=secret_key_rate(gys, sweep, protocol=Protocol.PLOB)
    )
    console.print(f"rate-versus-distance figure written to [bold]{path}[/bold]")


def _network_demo(scenario_path: Path, state_dir: Path, keys: int, collect_s: float) -> None:
    import time

    from rich.live import Live
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from openqci.network.controller_client import ControllerClient
    from openqci.network.demo import relay_keys
    from openqci.network.launcher import LaunchOptions, up
    from openqci.network.statedir import StateDir

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    started = time.monotonic()
    with Progress(*columns, console=console, transient=True) as display:
        task = display.add_task("starting the network", total=None)

        def show(ready: int, total: int, waiting: str) -> None:
            display.update(task, completed=ready, total=total, description=f"waiting for {waiting}")

        state = up(scenario_path, state_dir, LaunchOptions(kmes_per_process=8), show)
    console.print(
        f"[bold]{state.network}[/bold] is up in {time.monotonic() - started:.1f} s: "
        f"{len(state.kme_urls)} KMEs "
        f"in {sum(p.role == 'site' for p in state.processes)} processes, controller at {state.controller_url}"
    )
    with ControllerClient.from_state_dir(StateDir(state_dir.resolve())) as controller:
        route = controller.route(DEMO_MASTER[1], DEMO_SLAVE[1], 512)
        watched = list(route["links"])
        progress = Progress(*columns, console=console)
        task = progress.add_task("links making key", total=int(collect_s * 10))
        with Live(console=console, refresh_per_second=4) as live:
            for step in range(int(collect_s * 10) + 1):
                if step % 5 == 0:
                    document = controller.state()
                progress.update(task, completed=step)
                live.update(_live_view(document, watched, progress))
                time.sleep(0.1)
    console.print(
        f"relaying {keys} keys from [bold]{DEMO_MASTER[0]}[/bold] ({DEMO_MASTER[1]}) to "
        f"[bold]{DEMO_SLAVE[0]}[/bold] ({DEMO_SLAVE[1]}) over ETSI GS QKD 014 ..."
    )
    relayed = relay_keys(
        state_dir,
        master=DEMO_MASTER[0],
        master_kme=DEMO_MASTER[1],
        slave=DEMO_SLAVE[0],
        slave_kme=DEMO_SLAVE[1],
        number=keys,
    )
    _report(state_dir, relayed, document)


def _live_view(document: dict[str, Any], watched: list[str], progress: Any) -> Any:
    from rich.console import Group

    links = [link for link in document["links"] if link["qkdl_id"] in watched]
    table = _table(
        f"The {len(watched)} links from Toulouse to Paris, of {len(document['links'])} (live)",
        ["link", "status", "skr_bps", "eskr_bps", "available_key_bits", "QBER", "blocks"],
    )
    for link in links:
        table.add_row(
            link["qkdl_id"],
            link["qkdl_status"],
            f"{link['skr_bps']:.4g}",
            f"{link['eskr_bps']:.4g}",
            f"{link['available_key_bits'] or 0:d}",
            f"{link['qber'] or 0:.4f}",
            str(sum(link["blocks_by_end"].values())),
        )
    return Group(table, progress)


def _report(state_dir: Path, relayed: list[Any], document: dict[str, Any]) -> None:
    import itertools
    import statistics

    from openqci.network.demo import link_key

    route = relayed[0].route
    console.print(f"route taken ({len(route) - 1} hops): [bold]{' > '.join(route)}[/bold]")
    ends = {link["qkdl_id"]: (link["qkdl_local"], link["qkdl_remote"]) for link in document["links"]}
    on_route = {
        name: pair
        for name, pair in ends.items()
        if any({a, b} == set(pair) for a, b in itertools.pairwise(route))
    }
    table = _table("Key per link on the route", ["link", "made (bits)", "consumed (bits)"])
    for figure in link_key(state_dir, on_route):
        table.add_row(figure.link, f"{figure.made_bits:,}", f"{figure.consumed_bits:,}")
    console.print(table)
    latencies = [k.latency_s * 1e3 for k in relayed]
    matched = sum(k.matched for k in relayed)
    console.print(
        f"keys delivered: {len(relayed)} ({matched} retrieved by {DEMO_SLAVE[0]} with the same bytes); "
        f"enc_keys latency p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms; "
        f"dec_keys p50 {statistics.median(k.retrieved_s * 1e3 for k in relayed):.0f} ms"
    )


def _shut_down(state_dir: Path) -> None:
    from openqci.network.errors import NetworkError
    from openqci.network.launcher import down

    if not (state_dir / "state.json").exists():
        return
    try:
        stopped = down(state_dir)
    except NetworkError as error:
        console.print(f"[red]could not stop the network: {error}[/red]")
        return
    console.print(f"network stopped ({len(stopped)} processes)")


def _table(title: str, columns: list[str]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    return table
