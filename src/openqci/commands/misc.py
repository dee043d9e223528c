"""``openqci presets``, ``openqci version`` and ``openqci demo``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from openqci.commands.output import console, print_json

__all__ = ["demo", "presets", "version"]

DEMO_DISTANCES_KM = (10.0, 50.0, 100.0)


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
) -> None:
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
