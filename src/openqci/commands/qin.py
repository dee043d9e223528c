"""``openqci qin``: entanglement links, repeater chains and satellite dual downlinks (the QIN, stage 2)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from openqci.commands.output import console, fail, print_json

if TYPE_CHECKING:
    from openqci.qin.chain import ChainResult

__all__ = ["app"]

app = typer.Typer(
    help="Quantum Information Network: entanglement links and repeater chains.", no_args_is_help=True
)


KeyDurationOption = Annotated[
    float | None,
    typer.Option(
        "--key-duration-s",
        help="Also give the BBM92 key (asymptotic and finite) of the pairs delivered over this many seconds.",
    ),
]


@app.callback()
def qin() -> None:
    """Quantum Information Network: entanglement links and repeater chains."""


@app.command("chain")
def chain(
    segments: Annotated[int, typer.Option(help="Number of elementary segments (>= 1).")],
    p_gen: Annotated[float, typer.Option("--p-gen", help="Success probability of one elementary attempt.")],
    p_swap: Annotated[float, typer.Option("--p-swap", help="Success probability of a swap.")] = 1.0,
    length_km: Annotated[
        float | None,
        typer.Option("--length-km", help="Segment length: one attempt lasts length / (2e5 km/s)."),
    ] = None,
    cutoff: Annotated[
        int | None, typer.Option(help="Longest wait of a stored half, in attempts (none by default).")
    ] = None,
    coherence: Annotated[
        float | None, typer.Option(help="Memory coherence time (1/e of the Werner parameter), in attempts.")
    ] = None,
    werner: Annotated[float, typer.Option(help="Werner parameter of a fresh elementary pair.")] = 1.0,
    distil: Annotated[
        str | None,
        typer.Option(
            help="Nesting levels whose links are distilled with DEJMPS before use, comma-separated (0: the "
            "elementary links; a level twice: two nested rounds), or 'all': every level below the top, "
            "as Brand, Coopmans and Elkouss do."
        ),
    ] = None,
    twirl: Annotated[
        bool, typer.Option("--twirl", help="Twirl each distilled pair to a Werner state (BCE's model).")
    ] = False,
    key_duration_s: KeyDurationOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Exact waiting time and fidelity of a nested-swapping repeater chain, with optional distillation."""
    from openqci.qin import ChainParameters, solve_chain
    from openqci.qin.elementary import FIBRE_LIGHT_SPEED_KM_PER_S

    if length_km is not None and not length_km > 0:
        fail(f"--length-km must be > 0, got {length_km}")
    if twirl and distil is None:
        fail("--twirl applies with --distil only")
    if key_duration_s is not None and length_km is None:
        fail("--key-duration-s needs --length-km (without it the chain's time is counted in attempts)")
    duration = 1.0 if length_km is None else length_km / FIBRE_LIGHT_SPEED_KM_PER_S
    parameters = ChainParameters(
        segments=segments,
        p_gen=p_gen,
        p_swap=p_swap,
        cutoff_attempts=cutoff,
        werner_elementary=werner,
        coherence_attempts=math.inf if coherence is None else coherence,
        attempt_duration_s=duration,
        distil_levels=() if distil is None else _distil_levels(distil, segments),
        distil_twirl=twirl,
    )
    solved = solve_chain(parameters)
    record = solved.records() | _key_record(solved, key_duration_s)
    if length_km is not None:
        record["length_km"] = length_km
    else:
        record.pop("mean_waiting_time_s")
        record.pop("pair_rate_hz")
        record.pop("attempt_duration_s")
    _report(record, json_output, title=f"repeater chain of {segments} segments")


def _distil_levels(text: str, segments: int) -> tuple[int, ...]:
    """``--distil``: ``all`` (every level below the end-to-end pair) or comma-separated levels."""
    top = (max(segments, 1) - 1).bit_length()
    if text.strip().lower() == "all":
        if top == 0:
            fail("--distil all needs at least 2 segments (one segment has no level below its top)")
        return tuple(range(top))
    try:
        levels = tuple(int(part) for part in text.split(","))
    except ValueError:
        fail(f"--distil must be 'all' or comma-separated levels from 0 to {top}, got {text!r}")
    bad = [level for level in levels if not 0 <= level <= top]
    if bad:
        fail(f"--distil levels must be from 0 to {top} for {segments} segments, got {bad[0]}")
    return levels


@app.command("route")
def route(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario YAML file.")],
    source: Annotated[str, typer.Option("--from", help="A site with quantum memories.")],
    destination: Annotated[str, typer.Option("--to", help="Another one.")],
    scheme: Annotated[str, typer.Option(help="two-photon or single-photon heralding.")] = "two-photon",
    key_duration_s: KeyDurationOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Entanglement between two sites of a scenario: the repeater chain its quantum nodes allow."""
    from openqci.qin.elementary import HeraldingScheme
    from openqci.qin.route import route_entanglement
    from openqci.scenario import load_scenario

    try:
        chosen = HeraldingScheme(scheme)
    except ValueError:
        fail(f"--scheme must be one of {', '.join(s.value for s in HeraldingScheme)}, got {scheme!r}")
    found = route_entanglement(load_scenario(scenario_path), source, destination, scheme=chosen)
    record = found.records() | _key_record(found.chain, key_duration_s)
    _report(record, json_output, title=f"entanglement from {source} to {destination}")


def _key_record(chain: ChainResult, duration_s: float | None) -> dict[str, object]:
    """``--key-duration-s``: the BBM92 key of the chain's pairs over that time (none without it)."""
    from openqci.qin.entanglement_qkd import chain_key

    if duration_s is None:
        return {}
    if not (duration_s > 0 and math.isfinite(duration_s)):
        fail(f"--key-duration-s must be a number of seconds > 0, got {duration_s}")
    key = chain_key(chain, duration_s)
    return {"key_duration_s": duration_s, "bbm92_qber": key.qber, **key.rates(duration_s)}


@app.command("link")
def link(
    length_km: Annotated[float, typer.Option("--length-km", help="Fibre between the two memories, km.")],
    scheme: Annotated[str, typer.Option(help="two-photon or single-photon heralding.")] = "two-photon",
    node_efficiency: Annotated[
        float, typer.Option("--node-efficiency", help="Chance a memory's photon enters the fibre.")
    ] = 0.5,
    detector_efficiency: Annotated[float, typer.Option("--detector-efficiency")] = 0.9,
    visibility: Annotated[float, typer.Option(help="Two-photon interference visibility.")] = 0.95,
    alpha: Annotated[float, typer.Option(help="Bright-state population (single-photon scheme).")] = 0.1,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """One heralded entanglement link over fibre: success per attempt, fidelity, pair rate."""
    from openqci.qin.elementary import FibreEntanglementLink, HeraldingScheme

    try:
        chosen = HeraldingScheme(scheme)
    except ValueError:
        fail(f"--scheme must be one of {', '.join(s.value for s in HeraldingScheme)}, got {scheme!r}")
    if scheme != "single-photon" and alpha != 0.1:
        fail("--alpha applies to --scheme single-photon only")
    made = FibreEntanglementLink(
        length_km=length_km,
        scheme=chosen,
        node_efficiency=node_efficiency,
        detector_efficiency=detector_efficiency,
        visibility=visibility,
        bright_state=alpha,
    ).elementary()
    record = {
        "length_km": length_km,
        "scheme": chosen.value,
        "p_gen": made.p_gen,
        "attempt_duration_s": made.attempt_duration_s,
        "pair_rate_hz": made.pair_rate_hz,
        "werner": made.werner,
        "fidelity": made.fidelity,
    }
    _report(record, json_output, title=f"{chosen.value} entanglement link over {length_km:g} km")


@app.command("downlink")
def downlink(
    loss_a_db: Annotated[float, typer.Option("--loss-a-db", help="First downlink's loss, dB.")],
    loss_b_db: Annotated[float, typer.Option("--loss-b-db", help="Second downlink's loss, dB.")],
    duration_s: Annotated[
        float, typer.Option("--duration-s", help="Time both stations see the satellite, s.")
    ] = 3100.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Micius's entangled pairs over two downlinks: pair rate, QBER, CHSH value and BBM92 key."""
    from openqci.qin.entanglement_qkd import bbm92_key_from_pairs
    from openqci.qin.presets import MICIUS_DUAL_DOWNLINK

    if not duration_s > 0:
        fail(f"--duration-s must be > 0, got {duration_s}")
    if min(loss_a_db, loss_b_db) < 0:
        fail("--loss-a-db and --loss-b-db must be >= 0 dB")
    result = MICIUS_DUAL_DOWNLINK.at_losses(loss_a_db, loss_b_db)
    sifted = result.coincidence_rate_hz * duration_s / 2.0
    key = bbm92_key_from_pairs(sifted, result.qber)
    record = {
        "loss_a_db": loss_a_db,
        "loss_b_db": loss_b_db,
        "coincidence_rate_hz": result.coincidence_rate_hz,
        "qber": result.qber,
        "chsh": result.chsh,
        "fidelity": result.fidelity,
        "duration_s": duration_s,
        **key.rates(duration_s),
    }
    _report(record, json_output, title="Micius dual downlink")


def _report(record: Mapping[str, object], json_output: bool, *, title: str) -> None:
    from rich.table import Table

    if json_output:
        print_json(record)
        return
    table = Table("quantity", "value", title=title)
    for name, value in record.items():
        table.add_row(name, _format(value))
    console.print(table)


def _format(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return ", ".join(_format(item) for item in value) or "—"
    return str(value)
