"""The demonstration's path on a small mesh: launched from nothing, the ATC exchange, a fibre cut halfway.

:func:`openqci.demo.run_demo` runs as ``openqci demo`` runs it, on ``scenarios/mesh.yaml`` (two disjoint
paths between the SAEs, so the cut fibre can be routed around) with a shorter exchange; the network is left
running for the tests of refused records, then stopped. The draining of a slow link (fail closed) runs
on a slow spur of the same network.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from asterix4py import AsterixParser

from openqci.demo import DemoResult, DemoSettings, run_demo
from openqci.network.launcher import down
from openqci.services.atc import LSB, TrackFeed
from openqci.services.atc.exchange import (
    AtcExchange,
    ExchangeProgress,
    ExchangeSettings,
    RoutedSaeClient,
)
from openqci.services.sae_client import SaeClient
from tests.network.test_launcher import ROOT, processes_of
from tests.services.frame_proxy import FrameProxy, flip, replay, swap

# A launched network for the whole module (about 40 s): in the slow suite, with the full demonstration.
pytestmark = pytest.mark.slow

FLIGHTS, SEED = 200, 3


class Watcher:
    """A :class:`DemoObserver` that keeps what it is told."""

    def __init__(self) -> None:
        self.phases: list[str] = []
        self.events: list[str] = []
        self.progress: list[ExchangeProgress] = []

    def phase(self, name: str) -> None:
        self.phases.append(name)

    def launching(self, ready: int, total: int, waiting: str) -> None:
        pass

    def watching(self, document: dict[str, Any], links: list[str], elapsed_s: float, total_s: float) -> None:
        pass

    def exchanging(self, progress: ExchangeProgress, total_s: float) -> None:
        self.progress.append(progress)

    def event(self, text: str) -> None:
        self.events.append(text)


@dataclass
class DemoRun:
    result: DemoResult
    state_dir: Path
    sent: list[bytes]
    received: list[bytes]
    watcher: Watcher


def _mesh_with_a_slow_spur(folder: Path) -> Path:
    """The mesh, and a KME ``far`` behind ``bob`` over a slow link (60 km of the 2004 GYS system: about
    270 bit/s), where a key for every record drains the route."""
    document = yaml.safe_load((ROOT / "scenarios" / "mesh.yaml").read_text())
    document["sites"].append(
        {
            "name": "far",
            "roles": ["kme", "user-site"],
            "latitude_deg": 48.0,
            "longitude_deg": 3.3,
            "reference": "synthetic",
        }
    )
    document["links"].append(
        {"name": "bob-far", "site_a": "bob", "site_b": "far", "preset": "gys2004", "length_km": 60.0}
    )
    document["saes"].append({"name": "sae-far", "kme": "far"})
    scenario = folder / "mesh-spur.yaml"
    scenario.write_text(yaml.safe_dump(document))
    return scenario


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    folder = tmp_path_factory.mktemp("demo-mesh")
    state_dir = folder / "state"
    channel = replace(ExchangeSettings().channel, rekey_seconds=1.5)
    settings = DemoSettings(
        scenario=_mesh_with_a_slow_spur(folder),
        master_sae="sae-alice",
        master_kme="alice",
        slave_sae="sae-bob",
        slave_kme="bob",
        collect_s=1.0,
        flights=FLIGHTS,
        seed=SEED,
        exchange=ExchangeSettings(duration_s=14.0, channel=channel),
        cut_at=0.3,
    )
    sent: list[bytes] = []
    received: list[bytes] = []
    watcher = Watcher()
    try:
        result = run_demo(settings, state_dir, watcher, on_sent=sent.append, on_received=received.append)
        yield DemoRun(result, state_dir, sent, received, watcher)
    finally:
        if (state_dir / "state.json").exists():
            down(state_dir)
        for pid in processes_of(state_dir):
            import os

            os.kill(pid, 9)


def test_every_record_arrives_identical_under_the_same_keys_each_used_once(demo_run: DemoRun) -> None:
    exchange = demo_run.result.exchange
    assert exchange is not None
    assert exchange.sender_error == exchange.receiver_error == ""
    assert len(demo_run.sent) > 20
    assert demo_run.received == demo_run.sent
    assert exchange.records_sent == exchange.records_received == exchange.records_verified
    assert exchange.records_sent == len(demo_run.sent)
    assert exchange.tracks_received == exchange.tracks_sent == sum((len(r) - 3) // 42 for r in demo_run.sent)
    assert exchange.complete
    assert exchange.sender_key_ids == exchange.receiver_key_ids
    assert len(set(exchange.sender_key_ids)) == len(exchange.sender_key_ids) >= 5
    assert [k.key_id for k in exchange.keys] == exchange.sender_key_ids
    assert all(k.qkd and k.kind.startswith("hybrid: QKD + CatKDF") for k in exchange.keys)
    assert sum(k.records for k in exchange.keys) == exchange.records_sent
    assert exchange.latencies_s
    assert 0 < exchange.latency_percentile_s(50) <= exchange.latency_percentile_s(100)


def test_the_phases_were_shown_and_the_figures_gathered(demo_run: DemoRun) -> None:
    phases = " | ".join(demo_run.watcher.phases)
    assert "creating the PKI and starting the network" in phases
    assert "links making key" in phases
    assert "ATC exchange sae-alice -> sae-bob" in phases
    assert any("mesh is up in" in e for e in demo_run.watcher.events)
    assert any(e.startswith("route from alice to bob:") for e in demo_run.watcher.events)
    progress = demo_run.watcher.progress
    assert progress[-1].records_received == demo_run.result.exchange.records_received  # type: ignore[union-attr]
    record = demo_run.result.record()
    assert record["exchange"]["complete"] is True
    assert record["keys_per_hour_at_policy"] == pytest.approx(3600 / 1.5)
    for link in demo_run.result.links:
        if link.keys_relayed:
            # each key crossing a hop spends one unit of pad and one of authentication key at each end
            assert link.consumed_during_exchange_bits == link.keys_relayed * 2 * 256, link
            assert link.needed_per_hour_bits == pytest.approx(3600 / 1.5 * 512)
            assert link.supply_per_hour_bits > link.needed_per_hour_bits


def _hops(route: tuple[str, ...]) -> set[frozenset[str]]:
    return {frozenset(pair) for pair in itertools.pairwise(route)}


def test_the_cut_fibre_on_the_route_is_routed_around_and_the_exchange_goes_on(demo_run: DemoRun) -> None:
    result, exchange = demo_run.result, demo_run.result.exchange
    assert exchange is not None
    cut = result.cut_link
    first = exchange.keys[0].route
    assert cut in ("alice-n1", "alice-s1")
    assert frozenset(cut.split("-")) in _hops(first)  # the first link of the route in use
    ((cut_at, what),) = exchange.events
    assert what == f"fibre cut: {cut}"
    assert 0.3 * 14 <= cut_at <= 0.5 * 14
    # Key-aware routing may take either path before the cut; once the controller has the link down (a few
    # seconds), every key goes around it.
    cut_hop = frozenset(cut.split("-"))
    around = [
        i for i, k in enumerate(exchange.keys) if k.started_s > cut_at and cut_hop not in _hops(k.route)
    ]
    assert around, "no key went around the cut link"
    rerouted = exchange.keys[around[0]]
    assert all(cut_hop not in _hops(k.route) for k in exchange.keys[around[0] :])
    assert len(exchange.routes()) == 2
    after = [s for s in exchange.timeline if s.second > rerouted.started_s]
    assert sum(s.received for s in after) > 5
    assert not any(s.paused for s in exchange.timeline)
    figures = {link.link: link for link in result.links}
    assert figures[cut].status == "down"


# asterix4py loads its XML with importlib.resources.read_text (and so open_text), deprecated in Python 3.11
@pytest.mark.filterwarnings(r"ignore:\w+ is deprecated. Use files\(\) instead:DeprecationWarning")
def test_an_independent_decoder_gives_back_the_tracks(demo_run: DemoRun) -> None:
    exchange = demo_run.result.exchange
    assert exchange is not None
    data = b"".join(demo_run.received)
    decoded = AsterixParser(data).get_result()
    t0, t1 = exchange.feed_window
    expected = TrackFeed(seed=SEED, flights=FLIGHTS).updates_between(t0, t1)
    assert len(decoded) == len(expected) == exchange.tracks_received
    rows = [decoded[i + 1] for i in range(len(expected))]
    assert [r["040"]["TrkN"] for r in rows] == expected.track_number.tolist()
    assert [r["245"]["TId"].rstrip(" ") for r in rows] == expected.callsign.tolist()
    assert [int(r["060"]["Mode3A"], 8) for r in rows] == expected.mode3a.tolist()
    for name, field in (
        ("latitude", ("105", "Lat")),
        ("longitude", ("105", "Lon")),
        ("time_of_day", ("070", "ToT")),
    ):
        error = np.abs(np.array([r[field[0]][field[1]] for r in rows]) - getattr(expected, name))
        assert error.max() <= LSB[name] / 2 + 1e-9, name
    levels = np.array([r["136"]["MFL"] / 100.0 for r in rows])  # asterix4py gives feet
    assert np.abs(levels - expected.flight_level).max() <= LSB["flight_level"] / 2 + 1e-9


# Frames of a hybrid channel from the sender: 0 OPEN, 1 HELLO, 2 KEY, then DATA: record i is frame i + 3.
ATTACKS = {
    "tampered": (flip(5), "fails authentication"),
    "replayed": (replay(4), "replayed record"),
    "reordered": (swap(5), "record out of order"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_tampered_replayed_or_reordered_record_is_refused(demo_run: DemoRun, attack: str) -> None:
    change, expected = ATTACKS[attack]
    pki = demo_run.state_dir / "pki"
    urls = _urls(demo_run.state_dir)
    received: list[bytes] = []
    proxies: list[FrameProxy] = []

    def through(address: tuple[str, int]) -> tuple[str, int]:
        proxies.append(FrameProxy(address, change))
        return proxies[-1].address

    settings = ExchangeSettings(duration_s=3.0, feed_offset_s=1200.0)
    with (
        RoutedSaeClient.from_pki(pki, "sae-alice", urls["alice"], attempts=1) as master,
        SaeClient.from_pki(pki, "sae-bob", urls["bob"], attempts=1) as slave,
    ):
        exchange = AtcExchange(
            TrackFeed(seed=SEED, flights=FLIGHTS),
            master,
            slave,
            master_sae_id="sae-alice",
            slave_sae_id="sae-bob",
            settings=settings,
            through=through,
            on_received=received.append,
        )
        result = exchange.run()
    proxies[0].join()
    assert expected in result.receiver_error
    assert not result.complete
    assert len(received) == 2  # the records before the changed one, nothing after
    assert result.records_verified == 2


def _drain(pki: Path, url: str, slave: str) -> None:
    """Take keys for ``slave`` until its KME runs out (the route's slowest link is then empty)."""
    from openqci.services.sae_client import SaeUnavailableError

    with SaeClient.from_pki(pki, "sae-alice", url, attempts=1) as master:
        for _ in range(1000):
            try:
                master.enc_keys(slave, number=8)
            except SaeUnavailableError:
                return
    raise AssertionError(f"keys for {slave} never ran out")


def _wait_for_key(state_dir: Path, link: str, bits: int, timeout_s: float = 60.0) -> None:
    from openqci.network.controller_client import ControllerClient
    from openqci.network.statedir import StateDir

    deadline = time.monotonic() + timeout_s
    with ControllerClient.from_state_dir(StateDir(state_dir)) as controller:
        while True:
            (found,) = [x for x in controller.state()["links"] if x["qkdl_id"] == link]
            if (found["available_key_bits"] or 0) >= bits:
                return
            assert time.monotonic() < deadline, f"{link} never held {bits} bits"
            time.sleep(0.5)


def _urls(state_dir: Path) -> dict[str, str]:
    import json

    return dict(json.loads((state_dir / "state.json").read_text())["kme_urls"])


@pytest.mark.slow
def test_a_drained_route_pauses_the_sender_which_says_why(
    demo_run: DemoRun, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="openqci.services.channel")
    # a key per record: each costs the slow link 512 bits, twice what it makes per second. What the spur
    # saved up while the rest of the module ran is spent first, however fast this machine made it, so the
    # sender starts on a dry route, pauses, and sends what the link makes as it comes.
    channel = replace(ExchangeSettings().channel, rekey_records=1, retry_s=0.1, max_retry_s=0.5)
    settings = ExchangeSettings(duration_s=8.0, channel=channel)
    urls = _urls(demo_run.state_dir)
    pki = demo_run.state_dir / "pki"
    _drain(pki, urls["alice"], "sae-far")
    seen: list[ExchangeProgress] = []
    with (
        RoutedSaeClient.from_pki(pki, "sae-alice", urls["alice"], attempts=1) as master,
        SaeClient.from_pki(pki, "sae-far", urls["far"], attempts=1) as slave,
    ):
        exchange = AtcExchange(
            TrackFeed(seed=SEED, flights=FLIGHTS),
            master,
            slave,
            master_sae_id="sae-alice",
            slave_sae_id="sae-far",
            settings=settings,
        )
        running = threading.Thread(target=exchange.run)
        running.start()
        while running.is_alive():
            seen.append(exchange.progress())
            running.join(0.05)
    result = exchange.result
    paused = [p for p in seen if p.paused]
    assert paused, "the sender never paused"
    assert "HTTP 503" in paused[0].pause_reason
    assert "bob-far" in paused[0].pause_reason
    assert "fail-closed policy derives no key without one" in paused[0].pause_reason
    assert "PAUSED: no key from the KME" in caplog.text
    assert result.pauses >= 1
    assert result.pause_reasons
    assert "bob-far" in result.pause_reasons[0]
    assert any(second.paused for second in result.timeline)
    # fail closed: nothing was sent without a QKD key, and what was sent arrived
    assert all(k.qkd for k in result.keys)
    assert result.sender_error == result.receiver_error == ""
    assert result.records_sent == result.records_received == result.records_verified > 0
    assert result.sender_key_ids == result.receiver_key_ids


def test_the_report_is_one_page_that_opens_offline(demo_run: DemoRun, tmp_path: Path) -> None:
    import re

    from openqci.reports.demo_report import write_demo_report

    exchange = demo_run.result.exchange
    assert exchange is not None
    path = write_demo_report(demo_run.result, tmp_path / "report.html")
    page = path.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 3
    # nothing is fetched: no script, stylesheet, image or font from anywhere, and no address but namespaces
    for tag in ("<script", "<link", "<img", "<iframe", "@import"):
        assert tag not in page
    assert re.findall(r"url\((?!#)", page) == []  # the figures' clip paths point inside the page
    assert set(re.findall(r"https?://[^\"' )]+", page)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    assert f"fibre cut: {demo_run.result.cut_link}" in page
    assert (
        f"{exchange.records_sent:,} / {exchange.records_received:,} / {exchange.records_verified:,}" in page
    )
    for key in exchange.keys:
        assert str(key.key_id) in page
    assert " &gt; ".join(exchange.keys[-1].route) in page
