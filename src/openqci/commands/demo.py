"""``openqci demo``: FranceQCI from nothing, the Toulouse-Paris ATC exchange over it, a cut fibre.

The command shows the phases of :func:`openqci.demo.run_demo` as they happen (rich progress), prints the
summary, writes the HTML report, and stops the network whatever happens, Ctrl-C included: the network runs
from a temporary directory that is removed on the way out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openqci.commands.output import console, fail, print_json

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from openqci.demo import DemoResult, DemoSettings
    from openqci.services.atc import TrackRecords
    from openqci.services.atc.exchange import ExchangeProgress

__all__ = ["demo"]

_DEFAULT_SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "franceqci.yaml"


def demo(
    output_dir: Annotated[
        Path, typer.Option("--output-dir", help="Where the HTML report is written.")
    ] = Path("out"),
    scenario_path: Annotated[
        Path, typer.Option("--scenario", help="The network to launch.")
    ] = _DEFAULT_SCENARIO,
    master: Annotated[str, typer.Option(help="The SAE that sends the tracks.")] = "atc-toulouse",
    slave: Annotated[str, typer.Option(help="The SAE that receives them.")] = "atc-dsna-paris",
    duration_s: Annotated[float, typer.Option("--duration-s", help="Seconds of the exchange.")] = 60.0,
    collect_s: Annotated[float, typer.Option("--collect-s", help="Seconds the links make key first.")] = 8.0,
    flights: Annotated[int, typer.Option(help="Flights in the simulated sky.")] = 3000,
    rekey_seconds: Annotated[float, typer.Option("--rekey-seconds", help="A new key every so many s.")] = 5.0,
    cut: Annotated[bool, typer.Option("--cut/--no-cut", help="Cut a fibre of the route halfway.")] = True,
    cut_link: Annotated[
        str | None, typer.Option("--cut-link", help="The link to cut (default: the route's first).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """FranceQCI from nothing: PKI, KMEs and links; air-traffic-control tracks from Toulouse to the Paris
    region over the encrypted channel with hybrid keys relayed across the trusted nodes; a fibre of the
    route cut halfway; a summary and an HTML report."""
    import signal
    import tempfile

    from rich.console import Console

    settings = _settings(
        scenario_path, master, slave, duration_s, collect_s, flights, rekey_seconds, cut, cut_link
    )
    out = Console(stderr=True) if json_output else console
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="openqci-demo-") as tmp:
        state_dir = Path(tmp) / "state"
        previous = signal.getsignal(signal.SIGINT)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _interrupt)
        result = None
        try:
            result = _run(settings, state_dir, out)
        except KeyboardInterrupt:
            out.print("[yellow]interrupted: stopping the network[/yellow]")
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            stopped = _shut_down(state_dir, out)
            signal.signal(signal.SIGINT, previous)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if result is None:
        raise SystemExit(130)
    result.stopped_processes = stopped
    try:
        _finish(result, output_dir, out, json_output)
    except KeyboardInterrupt:
        out.print("[yellow]interrupted while writing the report[/yellow]")
        raise SystemExit(130) from None


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _settings(
    scenario_path: Path,
    master: str,
    slave: str,
    duration_s: float,
    collect_s: float,
    flights: int,
    rekey_seconds: float,
    cut: bool,
    cut_link: str | None,
) -> DemoSettings:
    """The demonstration's settings, every option checked before anything starts."""
    from dataclasses import replace

    from openqci.demo import DemoSettings
    from openqci.scenario import load_scenario
    from openqci.services.atc.exchange import ExchangeSettings
    from openqci.services.channel import ChannelConfigError

    checks = [
        (duration_s > 0, f"--duration-s must be > 0, got {duration_s}"),
        (collect_s >= 0, f"--collect-s must be >= 0, got {collect_s}"),
        (flights >= 1, f"--flights must be >= 1, got {flights}"),
        (rekey_seconds > 0, f"--rekey-seconds must be > 0, got {rekey_seconds}"),
        (cut or cut_link is None, "--cut-link needs --cut"),
    ]
    for ok, message in checks:
        if not ok:
            fail(message)
    scenario = load_scenario(scenario_path)
    kme_of = {sae.name: sae.kme for sae in scenario.saes}
    for option, name in (("--master", master), ("--slave", slave)):
        if name not in kme_of:
            fail(f"{option} {name}: not an SAE of {scenario.name}; its SAEs are: {', '.join(kme_of)}")
    if master == slave:
        fail("--master and --slave must be two different SAEs")
    links = [link.name for link in scenario.links]
    if cut_link is not None and cut_link not in links:
        fail(f"--cut-link {cut_link}: not a link of {scenario.name}; its links are: {', '.join(links)}")
    exchange = ExchangeSettings(duration_s=duration_s)
    try:
        channel = replace(exchange.channel, rekey_seconds=rekey_seconds)
    except ChannelConfigError as error:
        fail(str(error))
    return DemoSettings(
        scenario=scenario_path,
        master_sae=master,
        master_kme=kme_of[master],
        slave_sae=slave,
        slave_kme=kme_of[slave],
        collect_s=collect_s,
        flights=flights,
        exchange=replace(exchange, channel=channel),
        cut_at=0.5 if cut else None,
        cut_link=cut_link,
    )


class _Display:
    """Shows each phase as a progress line, events above them (implements :class:`DemoObserver`)."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None

    def phase(self, name: str) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=1, total=1)
            self._progress.stop_task(self._task)
        self._task = self._progress.add_task(name, total=None, detail="")

    def launching(self, ready: int, total: int, waiting: str) -> None:
        assert self._task is not None
        self._progress.update(self._task, completed=ready, total=total, detail=f"waiting for {waiting}")

    def watching(self, document: dict[str, Any], links: list[str], elapsed_s: float, total_s: float) -> None:
        assert self._task is not None
        on_route = [x for x in document["links"] if x["qkdl_id"] in links]
        up = sum(x["qkdl_status"] == "up" for x in on_route)
        least = min((x["available_key_bits"] or 0 for x in on_route), default=0)
        detail = f"{up}/{len(links)} links of the route up, the least key on one: {least:,} bits"
        self._progress.update(self._task, completed=min(elapsed_s, total_s), total=total_s, detail=detail)

    def exchanging(self, progress: ExchangeProgress, total_s: float) -> None:
        assert self._task is not None
        state = (
            f"[bold red]PAUSED (fail closed, no key): {progress.pause_reason}[/bold red]"
            if progress.paused
            else f"epoch {progress.epoch}, route of {max(len(progress.route) - 1, 0)} hops"
        )
        detail = (
            f"{progress.records_sent:,} records ({progress.tracks_sent:,} tracks) sent, "
            f"{progress.records_received:,} received; {state}"
        )
        self._progress.update(
            self._task, completed=min(progress.elapsed_s, total_s), total=total_s, detail=detail
        )

    def event(self, text: str) -> None:
        self._progress.console.print(text)

    def done(self) -> None:
        self.phase("gathering the figures")


def _run(settings: DemoSettings, state_dir: Path, out: Console) -> DemoResult:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from openqci.demo import run_demo

    columns = (
        TextColumn("[bold]{task.description}[/bold]"),
        BarColumn(bar_width=24),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    with Progress(*columns, console=out) as progress, _warnings_to(out):
        display = _Display(progress)
        result = run_demo(settings, state_dir, display)
        display.phase("stopping the network")
    return result


@contextlib.contextmanager
def _warnings_to(out: Console) -> Iterator[None]:
    """Show the services' warnings (a paused sender and its reason, an alarm) above the progress lines."""
    import logging

    from rich.logging import RichHandler

    logger = logging.getLogger("openqci.services")
    handler = RichHandler(console=out, show_time=False, show_path=False, markup=False)
    handler.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _shut_down(state_dir: Path, out: Console) -> int:
    from openqci.network.errors import NetworkError
    from openqci.network.launcher import down

    if not (state_dir / "state.json").exists():
        return 0
    try:
        stopped = down(state_dir)
    except NetworkError as error:
        out.print(f"[red]could not stop the network: {error}[/red]")
        return 0
    out.print(f"network stopped ({len(stopped)} processes); its temporary directory is removed")
    return len(stopped)


def _finish(result: DemoResult, output_dir: Path, out: Console, json_output: bool) -> None:
    from openqci.reports.demo_report import write_demo_report

    tracks = _decoded_sample(result)
    path = write_demo_report(result, output_dir / "demo-report.html", tracks=tracks)
    if json_output:
        print_json(result.record() | {"report": str(path)})
        return
    from openqci.commands.demo_summary import print_summary

    print_summary(result, tracks, out)
    out.print(f"report written to [bold]{path}[/bold]")


def _decoded_sample(result: DemoResult) -> TrackRecords | None:
    """The tracks of the last record the control centre received, decoded with ``libasterix``."""
    from openqci.services.atc import AsterixError, decode_records

    if result.exchange is None or not result.exchange.last_received:
        return None
    try:
        return decode_records(result.exchange.last_received)
    except AsterixError:
        return None
