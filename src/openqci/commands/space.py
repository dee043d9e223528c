"""``openqci space``: satellite passes over a ground station and the key each pass yields."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openqci.commands.output import cell, check_figure_path, console, fail, new_table, print_json

if TYPE_CHECKING:
    from openqci.network.pass_link import PassLinkReport
    from openqci.space import GroundStation, Pass, PassKey, Satellite, SpaceMission

__all__ = ["app"]

app = typer.Typer(
    help="Satellites: passes over ground stations and the secret key per pass.", no_args_is_help=True
)

TleOption = Annotated[Path, typer.Option("--tle", help="TLE file (two- or three-line sets).")]
StationOption = Annotated[str, typer.Option("--station", help="Ground station as LAT,LON[,ALT_M].")]
StartOption = Annotated[
    str | None,
    typer.Option("--start", help="Start of the window, ISO 8601 (UTC if no zone); default TLE epoch."),
]
HoursOption = Annotated[float, typer.Option("--hours", help="Length of the window in hours.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("passes")
def passes(
    tle: TleOption,
    station: StationOption,
    start: StartOption = None,
    hours: HoursOption = 24.0,
    min_elevation: Annotated[float, typer.Option("--min-elevation", help="Elevation mask (deg).")] = 10.0,
    night_only: Annotated[bool, typer.Option("--night-only", help="Count only passes in darkness.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Passes of the satellites in a TLE file over a ground station."""
    from dataclasses import replace

    from openqci.space import GroundStation, find_passes

    satellites, window_start = _satellites_and_start(tle, start)
    site = replace(GroundStation.from_text(station, min_elevation_deg=min_elevation), night_only=night_only)
    found = sorted(
        (p for sat in satellites for p in find_passes(sat, site, window_start, _hours_s(hours))),
        key=lambda p: p.start,
    )
    if json_output:
        print_json({"passes": [_pass_record(p) for p in found]})
        return
    _print_passes(found)


@app.command("pass-key")
def pass_key(
    tle: TleOption,
    station: StationOption,
    preset: Annotated[
        str, typer.Option("--preset", help="Mission preset: micius2017 or jinan1.")
    ] = "micius2017",
    start: StartOption = None,
    hours: HoursOption = 24.0,
    min_elevation: Annotated[
        float | None, typer.Option("--min-elevation", help="Elevation mask (deg); default the mission's.")
    ] = None,
    aggregate: Annotated[
        bool, typer.Option("--aggregate", help="All passes as one finite-key block.")
    ] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Figure of the best pass against time (.png, .pdf, .svg).")
    ] = None,
    simulate: Annotated[
        bool,
        typer.Option("--simulate", help="Also run the link engine over each pass and print its final key."),
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of --simulate's generator.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Secret key per pass (finite-key decoy BB84) for a mission preset over a ground station."""
    from dataclasses import replace

    from openqci.space import GroundStation, find_passes, get_mission, pass_profile, pass_track
    from openqci.space import pass_key as key_of_block

    if plot is not None:
        check_figure_path("--plot", plot)
    mission = get_mission(preset)
    satellites, window_start = _satellites_and_start(tle, start)
    mask = mission.min_elevation_deg if min_elevation is None else min_elevation
    located = GroundStation.from_text(station, min_elevation_deg=mask)
    site = replace(located, aperture_m=mission.ground_aperture_m)
    found = [(sat, p) for sat in satellites for p in find_passes(sat, site, window_start, _hours_s(hours))]
    tracks = [pass_track(sat, site, p) for sat, p in found]
    keys = [key_of_block(mission, site, [t]) for t in tracks]
    if plot is not None and tracks:
        from openqci.space.plotting import plot_pass

        best = max(range(len(keys)), key=lambda i: keys[i].secret_key_bits)
        plot_pass(
            pass_profile(mission, site, tracks[best]),
            plot,
            title=f"{found[best][1].satellite} over {site.name}",
        )
    block = key_of_block(mission, site, tracks) if aggregate and tracks else None
    simulated = _simulate(mission, site, found, seed) if simulate else None
    _report_keys(mission.name, [p for _, p in found], keys, block, json_output, simulated)


def _simulate(
    mission: SpaceMission, site: GroundStation, found: list[tuple[Satellite, Pass]], seed: int | None
) -> list[PassLinkReport]:
    """The link engine over every pass, each with its own stream spawned from ``--seed``."""
    import numpy as np

    from openqci.network.pass_link import run_pass_link

    streams = np.random.default_rng(seed).spawn(len(found))
    return [
        run_pass_link(mission, sat, site, window, rng=rng)
        for (sat, window), rng in zip(found, streams, strict=True)
    ]


def _satellites_and_start(tle: Path, start: str | None) -> tuple[list[Satellite], datetime]:
    """Read the TLE file (the only file access of the space commands) and settle the window's start."""
    from openqci.space import parse_tle_text
    from openqci.space.timescale import to_utc

    try:
        text = tle.read_text(encoding="ascii", errors="replace")
    except OSError as error:
        fail(f"cannot read TLE file {str(tle)!r}: {error.strerror or error}")
    satellites = parse_tle_text(text)
    if start is None:
        return satellites, satellites[0].epoch
    try:
        return satellites, to_utc(datetime.fromisoformat(start))
    except ValueError:
        fail(f"--start must be an ISO 8601 date and time such as 2026-03-20T18:00:00Z, got {start!r}")


def _hours_s(hours: float) -> float:
    if not hours >= 0 or hours == float("inf"):
        fail(f"--hours must be a finite number >= 0, got {hours!r}")
    return hours * 3600.0


def _pass_record(found: Pass) -> dict[str, Any]:
    return {
        "satellite": found.satellite,
        "station": found.station,
        "start": found.start.isoformat(),
        "end": found.end.isoformat(),
        "culmination": found.culmination.isoformat(),
        "max_elevation_deg": round(found.max_elevation_deg, 3),
        "duration_s": round(found.duration_s, 2),
    }


def _key_record(key: PassKey) -> dict[str, Any]:
    return {
        "loss_db_min": round(key.loss_db_min, 2),
        "loss_db_max": round(key.loss_db_max, 2),
        "detections": round(key.detections),
        "sifted_bits": round(key.sifted_bits),
        "qber": round(key.qber, 5),
        "secret_key_bits": key.secret_key_bits,
        "finite_key": {
            "bound": "Lim et al. 2014, whole pass as one block",
            "key_basis_bits": round(key.key_basis_bits),
            "phase_error": round(key.phase_error, 5),
            "leaked_ec_bits": round(key.leaked_ec_bits),
            "ec_efficiency": key.ec_efficiency,
            "epsilon_sec": key.epsilon_sec,
            "epsilon_cor": key.epsilon_cor,
            "intensities": list(key.intensities),
            "probabilities": list(key.probabilities),
            "basis_prob_x": key.basis_prob_x,
        },
    }


def _report_keys(
    mission: str,
    found: list[Pass],
    keys: list[PassKey],
    block: PassKey | None,
    json_output: bool,
    simulated: list[PassLinkReport] | None = None,
) -> None:
    records = [_pass_record(p) | _key_record(k) for p, k in zip(found, keys, strict=True)]
    for record, report in zip(records, simulated or [], strict=False):
        record["simulated"] = report.record()
    if json_output:
        document: dict[str, Any] = {"preset": mission, "passes": records}
        if block is not None:
            document["aggregate"] = _key_record(block) | {"passes": block.passes}
        print_json(document)
        return
    columns = ["start (UTC)", "max el (deg)", "duration (s)", "loss (dB)", "sifted bits", "secret bits"]
    if simulated is not None:
        columns += ["X-key expected", "X-key simulated"]
    table = new_table(None, {c: "left" if c.startswith("start") else "right" for c in columns})
    for r in records:
        loss = f"{r['loss_db_min']:.1f}-{r['loss_db_max']:.1f}"
        cells = [
            r["start"][:19].replace("T", " "),
            f"{r['max_elevation_deg']:.1f}",
            f"{r['duration_s']:.0f}",
            loss,
            cell(r["sifted_bits"]),
            cell(r["secret_key_bits"]),
        ]
        if "simulated" in r:
            run = r["simulated"]
            cells += [cell(run["expected_key_bits"]), _simulated_cell(run)]
        table.add_row(*cells)
    console.print(table)
    if block is not None:
        console.print(f"all {block.passes} passes as one block: {block.secret_key_bits:,} secret bits")


def _simulated_cell(run: dict[str, Any]) -> str:
    """The engine's final key, or why the pass made none."""
    if run["abort_reason"] is not None:
        return f"0 ({run['abort_reason']})"
    return cell(run["final_key_bits"]) + ("" if run["keys_identical"] else " (keys differ)")


def _print_passes(found: list[Pass]) -> None:
    table = new_table(
        None,
        {
            "satellite": "left",
            "start (UTC)": "left",
            "end (UTC)": "left",
            "max el (deg)": "right",
            "duration (s)": "right",
        },
    )
    for p in found:
        table.add_row(
            p.satellite,
            f"{p.start:%Y-%m-%d %H:%M:%S}",
            f"{p.end:%H:%M:%S}",
            f"{p.max_elevation_deg:.1f}",
            f"{p.duration_s:.0f}",
        )
    console.print(table)
