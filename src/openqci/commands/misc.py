"""``openqci presets`` and ``openqci version`` (``openqci demo`` is :mod:`openqci.commands.demo`)."""

from __future__ import annotations

from typing import Annotated

import typer

from openqci.commands.output import cell, console, new_table, print_json, si

__all__ = ["presets", "version"]


def presets(json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the device presets and the publications they come from."""
    from dataclasses import asdict

    from openqci.physics import PRESETS

    if json_output:
        print_json({name: asdict(system) for name, system in PRESETS.items()})
        return
    table = new_table(
        "Device presets",
        {
            "preset": "left",
            "clock": "right",
            "intensities (signal, decoys)": "left",
            "eta_Bob": "right",
            "dark/gate": "right",
            "e_det": "right",
        },
    )
    for name, system in PRESETS.items():
        table.add_row(
            name,
            si(system.source.repetition_rate_hz, "Hz", digits=3),
            cell(system.source.intensities, digits=3),
            cell(system.receiver_efficiency, digits=3),
            cell(system.detector.dark_count_prob, digits=2),
            cell(system.misalignment, digits=3),
        )
    console.print(table)
    console.print("Sources:", style="bold")
    for name, system in PRESETS.items():
        console.print(f"  {name}: {system.reference}", markup=False, highlight=False)


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
