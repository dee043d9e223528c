"""``openqci keyrate``: secret-key rates of the quantum-layer models, at a distance or over a sweep."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import numpy as np
import typer
from numpy.typing import NDArray

from openqci.commands.output import cell, check_figure_path, console, fail, new_table, print_json, si

if TYPE_CHECKING:
    from openqci.physics import KeyRateResult, Protocol, QkdSystem

__all__ = ["keyrate", "parse_sweep"]

EnumT = TypeVar("EnumT", bound=Enum)


def keyrate(
    protocol: Annotated[
        str, typer.Option(help="decoy-bb84, bbm92, plob, tf-qkd, mdi-qkd, cv-qkd or cow.")
    ] = "decoy-bb84",
    preset: Annotated[
        str | None,
        typer.Option(
            help="Device preset (see `openqci presets`; tf-qkd, mdi-qkd, cv-qkd and cow have their own)."
        ),
    ] = None,
    distance_km: Annotated[
        float | None, typer.Option("--distance-km", help="Fibre length in km (default 50).")
    ] = None,
    mu: Annotated[
        float | None, typer.Option(help="Signal intensity (pair number for bbm92); optimised if absent.")
    ] = None,
    decoys: Annotated[
        str | None,
        typer.Option(help="Asymptotic decoy analysis of decoy-bb84: infinite (default) or vacuum-weak."),
    ] = None,
    block_size: Annotated[
        float | None, typer.Option("--block-size", help="Finite key: key-basis detections per block.")
    ] = None,
    epsilon: Annotated[float, typer.Option(help="Finite-key secrecy parameter, in (0, 1).")] = 1e-10,
    bound: Annotated[
        str | None,
        typer.Option(
            help="Finite-key analysis: lim2014 (default), chernoff or one-decoy (needs --block-size)."
        ),
    ] = None,
    sweep: Annotated[
        str | None, typer.Option(help="START:STOP:STEP in km, instead of --distance-km.")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="With --sweep: write the rate-versus-distance figure here (.png, .pdf or .svg)."),
    ] = None,
    max_distance: Annotated[
        bool, typer.Option("--max-distance", help="Print where the key rate reaches zero.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Secret key rate of a protocol over fibre (bits per pulse and per second)."""
    from openqci.physics import DecoyMethod, Protocol, get_preset, max_distance_km, secret_key_rate
    from openqci.physics.catalogue import CATALOGUE

    if protocol in CATALOGUE:
        given = {"--mu": mu, "--decoys": decoys, "--block-size": block_size, "--bound": bound}
        ignored = [name for name, value in given.items() if value is not None]
        if ignored:
            verb = "does" if len(ignored) == 1 else "do"
            fail(
                f"--protocol {protocol} optimises its own settings: {' and '.join(ignored)} {verb} not apply"
            )
        _refuse_contradictions_of_max_distance(max_distance, sweep=sweep, distance_km=distance_km, plot=plot)
        if sweep is not None and distance_km is not None:
            fail("give --sweep START:STOP:STEP or --distance-km, not both")
        _catalogue_keyrate(protocol, preset, distance_km, sweep, plot, max_distance, json_output)
        return
    chosen = _choice(Protocol, protocol, "protocol")
    method = _choice(DecoyMethod, decoys or "infinite", "decoys")
    if bound is not None and block_size is None:
        fail(f"--bound {bound} is a finite-key analysis: give --block-size too")
    _refuse_contradictions(
        chosen, mu=mu, decoys=decoys, block_size=block_size, sweep=sweep, distance_km=distance_km
    )
    _refuse_contradictions_of_max_distance(max_distance, sweep=sweep, distance_km=distance_km, plot=plot)
    if plot is not None:
        check_figure_path("--plot", plot)
    system = get_preset(preset or "gys2004")
    if max_distance:
        found = max_distance_km(
            system,
            protocol=chosen,
            mu=mu,
            decoys=method,
            block_size=block_size,
            epsilon=epsilon,
            finite_bound=bound or "lim2014",
        )
        _report_max_distance(found, json_output)
        return
    distances = (
        parse_sweep(sweep) if sweep is not None else np.array([50.0 if distance_km is None else distance_km])
    )
    if plot is not None and sweep is None:
        fail("--plot needs --sweep START:STOP:STEP")
    result = secret_key_rate(
        system,
        distances,
        protocol=chosen,
        mu=mu,
        decoys=method,
        block_size=block_size,
        epsilon=epsilon,
        finite_bound=bound or "lim2014",
    )
    if plot is not None:
        _plot(result, system, distances, plot)
    records = result.records()
    if json_output:
        print_json(records if sweep is not None else records[0])
    else:
        _table(records)


def _catalogue_keyrate(
    protocol: str,
    preset: str | None,
    distance_km: float | None,
    sweep: str | None,
    plot: Path | None,
    max_distance: bool,
    json_output: bool,
) -> None:
    """``keyrate`` for the protocols of :mod:`openqci.physics.catalogue` (their own presets and models)."""
    from openqci.physics.catalogue import catalogue_plob, catalogue_rate, catalogue_reach_km

    if plot is not None:
        check_figure_path("--plot", plot)
        if sweep is None:
            fail("--plot needs --sweep START:STOP:STEP")
    if max_distance:
        _report_max_distance(catalogue_reach_km(protocol, preset), json_output)
        return
    if distance_km is not None and not (distance_km >= 0 and np.isfinite(distance_km)):
        fail(f"--distance-km must be a finite number >= 0, got {distance_km!r}")
    distances = (
        parse_sweep(sweep) if sweep is not None else np.array([50.0 if distance_km is None else distance_km])
    )
    result = catalogue_rate(protocol, preset, distances)
    if plot is not None:
        from openqci.reports import plot_rate_versus_distance

        plot_rate_versus_distance([result], plot, bound=catalogue_plob(protocol, preset, distances))
    records = result.records()
    if json_output:
        print_json(records if sweep is not None else records[0])
    else:
        _table(records)


def parse_sweep(text: str) -> NDArray[np.float64]:
    """Distances from ``START:STOP:STEP`` (STOP included when the steps land on it)."""
    try:
        start, stop, step = (float(part) for part in text.split(":"))
    except ValueError:
        fail(f"--sweep must be START:STOP:STEP in km, got {text!r}")
    if step <= 0 or stop < start:
        fail(f"--sweep needs STEP > 0 and STOP >= START, got {text!r}")
    count = int(np.floor((stop - start) / step + 1e-9)) + 1
    if count > 100_000:
        fail(f"--sweep asks for {count} points; at most 100000")
    return np.asarray(start + step * np.arange(count), dtype=np.float64)


def _refuse_contradictions(
    protocol: Protocol,
    *,
    mu: float | None,
    decoys: str | None,
    block_size: float | None,
    sweep: str | None,
    distance_km: float | None,
) -> None:
    """Options that the chosen protocol would ignore, or that say the same thing twice, are refused."""
    from openqci.physics import Protocol

    if protocol is Protocol.PLOB:
        given = [name for name, value in (("--mu", mu), ("--block-size", block_size)) if value is not None]
        if given:
            fail(f"--protocol plob is a bound on the channel alone: {' and '.join(given)} do not apply")
    if protocol is not Protocol.DECOY_BB84 and decoys is not None:
        fail(f"--decoys applies to --protocol decoy-bb84 only, not {protocol.value}")
    if sweep is not None and distance_km is not None:
        fail("give --sweep START:STOP:STEP or --distance-km, not both")


def _refuse_contradictions_of_max_distance(
    max_distance: bool, *, sweep: str | None, distance_km: float | None, plot: Path | None
) -> None:
    if not max_distance:
        return
    given = [
        name
        for name, value in (("--sweep", sweep), ("--distance-km", distance_km), ("--plot", plot))
        if value is not None
    ]
    if given:
        fail(f"--max-distance finds the distance itself: drop {' and '.join(given)}")


def _choice(enum: type[EnumT], value: str, option: str) -> EnumT:
    try:
        return enum(value)
    except ValueError:
        fail(f"unknown {option} {value!r}; choose one of: {', '.join(str(m.value) for m in enum)}")


def _report_max_distance(found: float, json_output: bool) -> None:
    if json_output:
        print_json({"max_distance_km": found})
    else:
        console.print(f"maximum distance: [bold]{found:.2f} km[/bold]")


def _plot(result: KeyRateResult, system: QkdSystem, distances: NDArray[np.float64], path: Path) -> None:
    from openqci.physics import Protocol, secret_key_rate
    from openqci.reports import plot_rate_versus_distance

    bound = secret_key_rate(system, distances, protocol=Protocol.PLOB)
    curves = [] if result.protocol is Protocol.PLOB else [result]
    plot_rate_versus_distance(curves, path, bound=bound)


_COLUMNS = {
    "distance_km": ("distance (km)", 4),
    "channel_loss_db": ("loss (dB)", 4),
    "mu": ("mu", 3),
    "gain": ("gain", 4),
    "qber": ("QBER", 3),
    "secret_key_rate_per_pulse": ("key (bit/pulse)", 4),
    "secret_key_rate_bps": ("key rate", 4),
}
"""Record field to the table's header and the significant digits it shows."""


def _table(records: list[dict[str, object]]) -> None:
    table = new_table("Secret key rate", {header: "right" for header, _ in _COLUMNS.values()})
    for row in records:
        cells = [cell(row[field], digits=digits) for field, (_, digits) in _COLUMNS.items()]
        rate = row["secret_key_rate_bps"]
        cells[-1] = si(rate if isinstance(rate, float) else None, "bit/s")
        table.add_row(*cells)
    console.print(table)
