"""``openqci link``: run a simulated QKD link and report what it produced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from openqci.commands.output import cell, console, new_table, print_json, si

if TYPE_CHECKING:
    from rich.table import Table

__all__ = ["app", "link", "report_table", "run"]

app = typer.Typer(help="Simulated QKD links that make real key.", no_args_is_help=True)


@app.callback()
def link() -> None:
    """Simulated QKD links that make real key."""


@app.command("run")
def run(
    preset: Annotated[str, typer.Option(help="Device preset (see `openqci presets`).")] = "lim2014",
    distance_km: Annotated[float, typer.Option("--distance-km", help="Fibre length in km.")] = 25.0,
    duration_s: Annotated[
        float, typer.Option("--duration-s", help="Simulated transmission time in s.")
    ] = 1.0,
    reconciliation: Annotated[str, typer.Option(help="cascade or ldpc.")] = "cascade",
    eve: Annotated[
        str | None, typer.Option(help="Eavesdropper: intercept-resend:FRACTION, pns or tamper.")
    ] = None,
    block_bits: Annotated[int, typer.Option("--block-bits", help="Sifted key bits per block.")] = 1 << 20,
    seed: Annotated[int | None, typer.Option(help="Seed of the run's random generator.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Simulate a decoy-BB84 fibre link and post-process its key, block by block."""
    import numpy as np
    from rich.progress import Progress

    from openqci.link.run import run_link

    rng = np.random.default_rng(seed)
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("link blocks", total=None)
        report = run_link(
            preset=preset,
            distance_km=distance_km,
            duration_s=duration_s,
            reconciliation=reconciliation,
            eve=eve,
            block_bits=block_bits,
            rng=rng,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if json_output:
        print_json(report.record())
        return
    console.print(report_table(report.record(), f"{preset} over {distance_km:g} km"))


def report_table(record: dict[str, Any], title: str) -> Table:
    """The figures of a link run, one per row; rates carry their SI prefix."""
    table = new_table(title, {"quantity": "left", "value": "left"})
    for name, value in record.items():
        shown = si(value, "bit/s") if name.endswith("_bps") else cell(value)
        table.add_row(name, shown)
    return table
