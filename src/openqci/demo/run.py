"""The demonstration's run: a network from nothing, its links making key, the ATC exchange, a cut fibre.

:func:`run_demo` launches the scenario into an empty state directory (:func:`openqci.network.launcher.up`
creates the PKI, the KMEs' configurations and the link plans, and starts every process), watches the links
of the route between the two ATC sites make key while the flights are simulated, then runs the exchange
(:class:`openqci.services.atc.exchange.AtcExchange`) and, at ``cut_at`` of it, cuts the fibre of one link
of the route in use the way ``openqci network attack --cut`` does. The KMEs route the next keys around it.
Before returning it reads from the controller what every link made and spent. It does not stop the
network: the caller does, whatever happens (:func:`openqci.network.launcher.down`).

Everything is reported to a :class:`DemoObserver` as it happens, so a command can show the phases.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from openqci.demo.figures import DemoResult, LinkFigures, link_figures
from openqci.network.controller_client import ControllerClient
from openqci.network.errors import LaunchError, NoRouteError
from openqci.network.launcher import LaunchOptions, attack, up
from openqci.network.statedir import StateDir
from openqci.services.atc.exchange import AtcExchange, ExchangeProgress, ExchangeSettings, RoutedSaeClient
from openqci.services.atc.feed import TrackFeed
from openqci.services.sae_client import SaeClient

__all__ = ["DEFAULT_SCENARIO", "DemoObserver", "DemoSettings", "run_demo"]

DEFAULT_SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "franceqci.yaml"


class DemoObserver(Protocol):
    """What a display is told while the demonstration runs."""

    def phase(self, name: str) -> None:
        """A new phase begins (its description)."""

    def launching(self, ready: int, total: int, waiting: str) -> None:
        """Parts of the network up so far, and what is awaited."""

    def watching(self, document: dict[str, Any], links: list[str], elapsed_s: float, total_s: float) -> None:
        """The controller's state while the links make key; ``links`` are those of the route."""

    def exchanging(self, progress: ExchangeProgress, total_s: float) -> None:
        """The exchange's figures so far."""

    def event(self, text: str) -> None:
        """Something happened that the user should see (the route, the cut)."""


@dataclass(frozen=True)
class DemoSettings:
    """The demonstration's choices; the defaults are FranceQCI's ATC exchange, Toulouse to Paris.

    ``cut_link`` None cuts the first link of the route in use at ``cut_at`` (a fraction of the exchange);
    ``cut_at`` None cuts nothing. ``launch_timeout_s`` bounds the start-up, until a route between the two
    sites holds key (about 20 s for FranceQCI on an idle 2-core machine; far longer when other work shares
    the cores).
    """

    scenario: Path = DEFAULT_SCENARIO
    master_sae: str = "atc-toulouse"
    master_kme: str = "dsna-blagnac"
    slave_sae: str = "atc-dsna-paris"
    slave_kme: str = "dsna-paris"
    collect_s: float = 8.0
    flights: int = 3000
    seed: int = 1
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    cut_at: float | None = 0.5
    cut_link: str | None = None
    kmes_per_process: int = 8
    launch_timeout_s: float = 300.0

    def __post_init__(self) -> None:
        if self.collect_s < 0 or self.flights < 1:
            raise ValueError("collect_s must be >= 0 and flights >= 1")
        if self.cut_at is not None and not 0.0 <= self.cut_at < 1.0:
            raise ValueError(f"cut_at must lie in [0, 1), got {self.cut_at}")


def run_demo(
    settings: DemoSettings,
    state_dir: Path,
    observer: DemoObserver,
    *,
    on_sent: Callable[[bytes], None] | None = None,
    on_received: Callable[[bytes], None] | None = None,
) -> DemoResult:
    """Launch, let the links make key, run the exchange with a cut fibre, and gather the figures.

    ``on_sent`` and ``on_received`` are given every record's payload as the exchange sends and receives it.

    Raises
    ------
    ScenarioError, LaunchError
        If the scenario is invalid or the network cannot start (nothing is left running then).
    KeyboardInterrupt
        Passed on after the exchange has been told to stop; the caller stops the network.
    """
    started = time.monotonic()
    observer.phase("creating the PKI and starting the network")
    options = LaunchOptions(kmes_per_process=settings.kmes_per_process, timeout_s=settings.launch_timeout_s)
    state = up(settings.scenario, state_dir, options, observer.launching)
    layout = StateDir(state_dir.resolve())
    observer.event(
        f"{state.network} is up in {time.monotonic() - started:.1f} s: {len(state.kme_urls)} KMEs in "
        f"{sum(p.role == 'site' for p in state.processes)} processes, "
        f"{sum(p.role == 'engine' for p in state.processes)} link engines"
    )
    result = DemoResult(network=state.network, launched_s=time.monotonic() - started)
    with ControllerClient.from_state_dir(layout) as controller:
        route = _first_route(settings, controller, observer, deadline=started + settings.launch_timeout_s)
        feed = _collect(settings, route, controller, observer)
        before = controller.state()
        hooks = {"on_sent": on_sent, "on_received": on_received}
        exchange = _exchange(settings, layout, state.kme_urls, feed, observer, hooks)
        after = _fresh_state(controller, time.time())
    result.exchange = exchange.result
    result.cut_link = _cut_of(exchange)
    result.links = _figures(before, after, result)
    result.total_s = time.monotonic() - started
    return result


def _first_route(
    settings: DemoSettings, controller: ControllerClient, observer: DemoObserver, *, deadline: float
) -> dict[str, Any]:
    """The route between the two ATC sites once its links hold the key of a first record.

    The network is up once every process serves, which can be before any link has made key or any KME has
    reported it: asked at once, the controller finds every link drained (seen on a fast machine).
    """
    observer.phase(f"waiting for key on a route from {settings.master_kme} to {settings.slave_kme}")
    while True:
        try:
            return controller.route(settings.master_kme, settings.slave_kme, 512)
        except NoRouteError as error:
            if time.monotonic() >= deadline:
                raise LaunchError(
                    f"no route from {settings.master_kme} to {settings.slave_kme} held key within "
                    f"launch_timeout_s ({settings.launch_timeout_s:g} s): {error}"
                ) from None
        time.sleep(0.5)


def _collect(
    settings: DemoSettings, route: dict[str, Any], controller: ControllerClient, observer: DemoObserver
) -> TrackFeed:
    """Watch the route's links make key for ``collect_s``, simulating the flights meanwhile."""
    observer.event(f"route from {settings.master_kme} to {settings.slave_kme}: {' > '.join(route['kmes'])}")
    observer.phase(f"links making key; simulating {settings.flights:,} flights over France")
    made: list[TrackFeed] = []
    simulating = threading.Thread(
        target=lambda: made.append(TrackFeed(seed=settings.seed, flights=settings.flights)), daemon=True
    )
    simulating.start()
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < settings.collect_s or simulating.is_alive():
        observer.watching(controller.state(), list(route["links"]), elapsed, settings.collect_s)
        simulating.join(0.5)
    if not made:
        raise LaunchError("the flight simulation failed")
    return made[0]


def _exchange(
    settings: DemoSettings,
    layout: StateDir,
    kme_urls: dict[str, str],
    feed: TrackFeed,
    observer: DemoObserver,
    hooks: dict[str, Callable[[bytes], None] | None],
) -> AtcExchange:
    """Run the exchange in a thread of its own; cut the fibre on the route at ``cut_at``."""
    total_s = settings.exchange.duration_s
    channel = settings.exchange.channel
    observer.phase(
        f"ATC exchange {settings.master_sae} -> {settings.slave_sae}: CAT062 over the channel "
        f"({channel.mode.value} keys, a new key every {channel.rekey_seconds:g} s)"
    )
    options: dict[str, Any] = {"timeout_s": 60.0, "attempts": 1}
    with (
        RoutedSaeClient.from_pki(
            layout.pki_dir, settings.master_sae, kme_urls[settings.master_kme], **options
        ) as master,
        SaeClient.from_pki(
            layout.pki_dir, settings.slave_sae, kme_urls[settings.slave_kme], **options
        ) as slave,
    ):
        exchange = AtcExchange(
            feed,
            master,
            slave,
            master_sae_id=settings.master_sae,
            slave_sae_id=settings.slave_sae,
            settings=settings.exchange,
            on_sent=hooks["on_sent"],
            on_received=hooks["on_received"],
        )
        stop = threading.Event()
        running = threading.Thread(target=_run_until, args=(exchange, stop), name="atc-exchange", daemon=True)
        running.start()
        cut_due = None if settings.cut_at is None else settings.cut_at * total_s
        try:
            while running.is_alive():
                progress = exchange.progress()
                observer.exchanging(progress, total_s)
                if cut_due is not None and progress.elapsed_s >= cut_due and progress.route:
                    _cut(settings, layout, exchange, progress, observer)
                    cut_due = None
                running.join(0.25)
        except BaseException:
            stop.set()
            running.join(5.0)
            raise
        observer.exchanging(exchange.progress(), total_s)
    return exchange


def _run_until(exchange: AtcExchange, stop: threading.Event) -> None:
    """Run the exchange; once told to stop, what fails as its clients close under it is no longer news."""
    try:
        exchange.run(stop)
    except Exception:
        if not stop.is_set():
            raise


def _cut(
    settings: DemoSettings,
    layout: StateDir,
    exchange: AtcExchange,
    progress: ExchangeProgress,
    observer: DemoObserver,
) -> None:
    """Cut the fibre of ``cut_link`` (default: the first link of the route in use)."""
    link = settings.cut_link or _link_between(layout, *progress.route[:2])
    attack(layout.root, link, intercept_resend=0.0, cut=True)
    exchange.mark(f"fibre cut: {link}")
    observer.event(
        f"[{progress.elapsed_s:.0f} s] fibre cut on {link} (route in use: {' > '.join(progress.route)}); "
        "the next keys are routed around it"
    )


def _link_between(layout: StateDir, a: str, b: str) -> str:
    with ControllerClient.from_state_dir(layout) as controller:
        for link in controller.state()["links"]:
            if {link["qkdl_local"], link["qkdl_remote"]} == {a, b}:
                return str(link["qkdl_id"])
    raise LaunchError(f"no link joins {a} and {b}")


def _cut_of(exchange: AtcExchange) -> str:
    cuts = [
        what.removeprefix("fibre cut: ") for _, what in exchange.result.events if what.startswith("fibre")
    ]
    return cuts[0] if cuts else ""


def _fresh_state(controller: ControllerClient, asked_at: float, wait_s: float = 15.0) -> dict[str, Any]:
    """The controller's state once every node has reported after ``asked_at`` (or after ``wait_s``)."""
    from datetime import datetime

    deadline = time.monotonic() + wait_s
    while True:
        document = controller.state()
        stamps = [n.get("reported_at") for n in document["nodes"]]
        if all(s and datetime.fromisoformat(s).timestamp() > asked_at for s in stamps):
            return document
        if time.monotonic() > deadline:
            return document
        time.sleep(0.3)


def _figures(before: dict[str, Any], after: dict[str, Any], result: DemoResult) -> list[LinkFigures]:
    """Figures of the links any key crossed, and of the cut one, in route order."""
    used: list[frozenset[str]] = []
    for route in result.exchange.routes() if result.exchange else {}:
        for pair in itertools.pairwise(route):
            if frozenset(pair) not in used:
                used.append(frozenset(pair))
    names = {frozenset((x["qkdl_local"], x["qkdl_remote"])): x["qkdl_id"] for x in after["links"]}
    chosen = [names[pair] for pair in used if pair in names]
    if result.cut_link and result.cut_link not in chosen:
        chosen.append(result.cut_link)
    return link_figures(before, after, chosen, result.exchange)
