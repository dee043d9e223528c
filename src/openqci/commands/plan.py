"""``openqci plan``: the digital twin of a scenario, its least-cost design and parameter sweeps.

``openqci plan SCENARIO --days N --out DIR`` runs the twin (``plan run`` spelled out); ``plan optimize``
and ``plan sweep`` are sub-commands. Heavy imports stay inside the functions so ``openqci --help`` is quick.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from openqci.commands.output import console, fail, print_json

if TYPE_CHECKING:
    from rich.progress import Progress

__all__ = ["app"]


class _RunByDefault(TyperGroup):
    """A group whose first argument, when it names no sub-command, is the scenario of ``plan run``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Plan a network: run its digital twin over days, find the cheapest design, sweep parameters.",
    no_args_is_help=True,
)

ScenarioArgument = Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario YAML file.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the weather and failure draws.")]
_SWEEP_NAMES = (
    "days, seed, step_s, rate_scale, cloud_scale, demand_scale, kme_storage_bits, initial_key_fraction, "
    "link_mtbf_hours, link_mttr_hours, required_met_fraction"
)


@app.command("run")
def run(
    scenario_path: ScenarioArgument,
    days: Annotated[float, typer.Option("--days", help="Simulated days.")] = 7.0,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for metrics.json and report.html (created).")
    ] = None,
    seed: SeedOption = 0,
    step: Annotated[float, typer.Option("--step", help="Time step in seconds.")] = 60.0,
    failures: Annotated[
        bool, typer.Option("--failures/--no-failures", help="Also fail each trusted node in turn.")
    ] = True,
    json_output: JsonOption = False,
) -> None:
    """Run the digital twin of SCENARIO: key supply against demand, minute by minute, over DAYS days."""
    from openqci.planner.metrics import twin_metrics
    from openqci.planner.twin import run_twin
    from openqci.scenario import load_scenario

    _check_days(days)
    if not (step > 0 and step < float("inf")):
        fail(f"--step must be a number of seconds > 0, got {step!r}")
    if out is not None:
        _check_out(out)
    scenario = load_scenario(scenario_path)
    started = time.perf_counter()
    with _progress(json_output) as progress:
        result = run_twin(
            scenario, days, seed=seed, step_s=step, failures=failures, progress=_reporter(progress)
        )
    metrics = twin_metrics(result)
    metrics["wall_s"] = time.perf_counter() - started
    if out is not None:
        from openqci.planner.report import write_report

        write_report(result, metrics, out)
    if json_output:
        print_json(metrics)
        return
    _print_twin(metrics, out)


def _check_days(days: float) -> None:
    if not (days > 0 and days <= 3650):
        fail(f"--days must be a number of days in (0, 3650], got {days!r}")


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    if not out.exists() and not out.resolve().parent.is_dir():
        fail(f"--out {out}: the folder {out.resolve().parent} does not exist")


class _NoProgress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _progress(quiet: bool) -> Any:
    """A rich progress display on stderr, or nothing when the output is JSON."""
    if quiet:
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


def _reporter(progress: Progress | None) -> Any:
    if progress is None:
        return None
    tasks: dict[str, Any] = {}
    labels = {"twin": "twin (minute steps)", "failures": "trusted-node failures"}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(labels.get(stage, stage), total=total)
        progress.update(tasks[stage], completed=done)

    return report


def _print_twin(metrics: dict[str, Any], out: Path | None) -> None:
    from rich.table import Table

    totals = metrics["totals"]
    console.print(
        f"[bold]{metrics['scenario']}[/bold]: {metrics['days']:g} days in {metrics['steps']} steps, "
        f"{totals['links']} links ({totals['satellite_legs']} satellite legs), {totals['passes']} passes "
        f"({totals['clouded_passes']} clouded), {totals['demands_satisfied']}/{totals['demands']} demands "
        f"satisfied, {metrics['wall_s']:.1f} s"
    )
    table = Table(title="Demands")
    for column in ("demand", "from", "to", "rate b/s", "met", "shortfall bits", "hops"):
        table.add_column(column, justify="left" if column in ("demand", "from", "to") else "right")
    for d in metrics["demands"]:
        used = [r for r in d["routes"] if r["steps"] > 0]
        hops = ",".join(str(r["hops"]) for r in used) or "-"
        met = f"{100 * d['met_fraction']:.1f} %"
        table.add_row(
            d["name"], d["source"], d["destination"], f"{d['rate_bps']:g}",
            met if d["satisfied"] else f"[red]{met}[/red]", f"{d['shortfall_bits']:.3g}", hops,
        )  # fmt: skip
    console.print(table)
    if metrics["bottlenecks"]:
        bottlenecks = Table(title="Bottlenecks (links whose key ran out)")
        for column in ("link", "binding", "utilisation", "demands"):
            bottlenecks.add_column(column)
        for row in metrics["bottlenecks"][:10]:
            bottlenecks.add_row(
                row["link"],
                f"{100 * row['binding_fraction']:.1f} %",
                f"{100 * row['utilisation']:.1f} %",
                ", ".join(row["demands"]),
            )
        console.print(bottlenecks)
    failing = [row for row in metrics["failures"] if row["failed_demands"]]
    if failing:
        failures = Table(title="Single trusted-node failures")
        failures.add_column("node")
        failures.add_column("demands that fail")
        for row in failing[:15]:
            failures.add_row(row["node"], ", ".join(row["failed_demands"]))
        console.print(failures)
    if out is not None:
        console.print(f"report: {out / 'report.html'}, figures: {out / 'metrics.json'}")


@app.command("optimize")
def optimize(
    scenario_path: ScenarioArgument,
    survivable: Annotated[
        bool,
        typer.Option("--survivable", help="Every demand still met after any single trusted-node failure."),
    ] = False,
    days: Annotated[
        float, typer.Option("--days", help="Days of satellite passes behind the mean rates.")
    ] = 7.0,
    time_limit: Annotated[float, typer.Option("--time-limit", help="Solver time limit, seconds.")] = 300.0,
    write: Annotated[
        Path | None, typer.Option("--write", help="Write the planned network as a scenario YAML file.")
    ] = None,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Run the twin on the plan for --days days, without and with the scenario's outages.",
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Choose the candidate links, trusted nodes, ground stations and repeaters to build at least cost (MILP,
    HiGHS)."""
    from openqci.planner.optimize import apply_plan, optimize_design
    from openqci.planner.verify import check_design
    from openqci.scenario import load_scenario

    _check_days(days)
    if not (time_limit > 0 and time_limit <= 86_400):
        fail(f"--time-limit must be a number of seconds in (0, 86400], got {time_limit!r}")
    if write is not None and not write.resolve().parent.is_dir():
        fail(f"--write {write}: the folder {write.resolve().parent} does not exist")
    scenario = load_scenario(scenario_path)
    with _progress(json_output) as progress:
        if progress is not None:
            progress.add_task("passes, capacities and the MILP", total=None)
        plan = optimize_design(scenario, survivable=survivable, days=days, time_limit_s=time_limit)
        planned = apply_plan(scenario, plan)
        checks = []
        if verify:
            if progress is not None:
                progress.add_task("the twin on the plan, without and with outages", total=None)
            checks = [check_design(planned, days, outages=with_outages) for with_outages in (False, True)]
    if write is not None:
        import yaml

        text = yaml.safe_dump(planned.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
        write.write_text(f"# {scenario.name} as built by openqci plan optimize\n" + text, encoding="utf-8")
    if json_output:
        print_json(plan.record() | ({"twin_checks": [c.record() for c in checks]} if verify else {}))
        return
    console.print(
        f"[bold]{scenario.name}[/bold]: {plan.status}, cost {plan.cost:g}, gap {100 * plan.gap:.3g} %, "
        f"solved in {plan.solve_s:.2f} s ({plan.variables} variables, {plan.constraints} constraints"
        f"{', survivable to any single trusted-node failure' if plan.survivable else ''})"
    )
    console.print(f"build links: {', '.join(plan.built_links) or 'none'}")
    console.print(f"build sites: {', '.join(plan.built_sites) or 'none'}")
    if plan.built_repeaters or plan.skipped_repeaters:
        console.print(f"install quantum memories at: {', '.join(plan.built_repeaters) or 'none'}")
    skipped = [*plan.skipped_links, *plan.skipped_sites, *plan.skipped_repeaters]
    console.print(f"leave out: {', '.join(skipped) or 'nothing'}")
    for name, chain in plan.entanglement_routes.items():
        console.print(
            f"entanglement {name}: {'-'.join(chain.sites)}, {chain.pair_rate_hz:.4g} pairs/s at fidelity "
            f"{chain.mean_fidelity:.4f}"
        )
    for check in checks:
        kind = "with the scenario's outages" if check.outages else "without outages (as planned)"
        console.print(f"twin, {check.days:g} days {kind}: {check.satisfied} of {check.demands} demands met")
        for failing in check.failing:
            causes = "; ".join(failing["causes"])
            console.print(
                f"  {failing['name']}: met {100 * failing['met_fraction']:.1f} % of the time ({causes})"
            )
    if write is not None:
        console.print(f"planned network: {write} (run it with: openqci plan {write})")


@app.command("replay")
def replay(
    folder: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="A report folder written by `openqci plan SCENARIO --out DIR`."),
    ],
    speed: Annotated[
        float, typer.Option("--speed", help="Simulated seconds per second (3600: an hour a second).")
    ] = 3600.0,
    host: Annotated[str, typer.Option("--host", help="Address to serve the dashboard on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port (0: any free one).")] = 0,
) -> None:
    """Replay a twin run on the operations dashboard: the map, links, key in store, outages and routes."""
    import secrets

    import uvicorn

    from openqci.kms.server import listen
    from openqci.network.controller_server import uvicorn_config
    from openqci.ops.dashboard.standalone import standalone_app
    from openqci.planner.recording import RECORDING_FILE, load_recording
    from openqci.planner.replay import ReplaySource

    if not (speed > 0 and speed <= 1e7):
        fail(f"--speed must be a number of simulated seconds per second in (0, 1e7], got {speed!r}")
    if not 0 <= port <= 65535:
        fail(f"--port must be in [0, 65535], got {port}")
    recording = load_recording(folder / RECORDING_FILE)
    token = secrets.token_urlsafe(24)
    app_ = standalone_app(ReplaySource(recording, speed=speed), token, name="twin-replay")
    sock = listen(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    hours = recording.duration_s / 3600.0
    console.print(
        f"replaying [bold]{recording.network['name']}[/bold]: {hours:g} simulated hours in "
        f"{recording.frames} frames of {recording.frame_s / 60:g} min, {speed:g}x "
        f"({recording.duration_s / speed:.0f} s a round)"
    )
    console.print(f"dashboard: http://{shown}:{bound_port}/dashboard/?token={token}", soft_wrap=True)
    console.print("Ctrl-C stops it")
    uvicorn.Server(uvicorn_config(app_)).run(sockets=[sock])


@app.command("sweep")
def sweep(
    scenario_path: ScenarioArgument,
    vary: Annotated[
        list[str],
        typer.Option("--vary", help="NAME=V1,V2,... (repeat for a grid); NAME among: " + _SWEEP_NAMES),
    ],
    scheduler: Annotated[
        str | None, typer.Option("--scheduler", help="An existing Dask cluster, tcp://HOST:PORT.")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes of the local cluster.")] = 2,
    failures: Annotated[
        bool, typer.Option("--failures/--no-failures", help="Also run the single-failure analysis.")
    ] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for sweep.csv and sweep.json.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Run the twin for every combination of parameter values on Dask; one table of results."""
    from openqci.planner.sweep import parse_vary, run_sweep, variants
    from openqci.scenario import load_scenario

    combos = variants(parse_vary(vary))
    if workers < 1 or workers > 256:
        fail(f"--workers must be between 1 and 256, got {workers}")
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://")):
        fail(f"--scheduler must be an address such as tcp://HOST:PORT, got {scheduler!r}")
    if out is not None:
        _check_out(out)
    scenario = load_scenario(scenario_path)
    with _progress(json_output) as progress:
        task = None if progress is None else progress.add_task("variants on Dask", total=len(combos))

        def report(done: int, total: int) -> None:
            if progress is not None:
                progress.update(task, completed=done, total=total)

        rows = run_sweep(
            scenario, combos, scheduler=scheduler, workers=workers, failures=failures, progress=report
        )
    if out is not None:
        _write_table(rows, out)
    if json_output:
        print_json({"scenario": scenario.name, "variants": rows})
        return
    _print_sweep(rows, out)


def _write_table(rows: list[dict[str, Any]], out: Path) -> None:
    import csv

    import orjson

    out.mkdir(parents=True, exist_ok=True)
    columns = list(rows[0]) if rows else []
    with (out / "sweep.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    (out / "sweep.json").write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))


def _print_sweep(rows: list[dict[str, Any]], out: Path | None) -> None:
    from rich.table import Table

    if not rows:
        return
    table = Table(title="Sweep")
    shown = [c for c in rows[0] if c not in ("key_produced_bits", "key_wasted_bits", "passes", "demands")]
    for column in shown:
        table.add_column(column)
    for row in rows:
        table.add_row(*[f"{row[c]:.4g}" if isinstance(row[c], float) else str(row[c]) for c in shown])
    console.print(table)
    if out is not None:
        console.print(f"table: {out / 'sweep.csv'}, {out / 'sweep.json'}")
