"""A twin run recorded in frames and replayed on the operations dashboard (``openqci plan replay``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from openqci.planner.errors import PlanError
from openqci.planner.metrics import twin_metrics
from openqci.planner.recording import RECORDING_FILE, load_recording, record_twin, save_recording
from openqci.planner.replay import ReplaySource
from openqci.planner.report import write_report
from openqci.planner.twin import TwinResult, run_twin
from tests.ops.chromium import Chromium, chromium_binary
from tests.planner.support import chain

HOURS = 12.0
OUTAGE = (2.0, 1.0)  # link b-c down from hour 2 for an hour


@pytest.fixture(scope="module")
def twin() -> TwinResult:
    outage = {"link": "b-c", "start_hour": OUTAGE[0], "duration_hours": OUTAGE[1], "description": "works"}
    scenario = chain(2000.0, kme_storage_bits=5e6, initial_key_fraction=0.5, outages=[outage])
    return run_twin(scenario, HOURS / 24.0, failures=False)


def test_frames_hold_the_twins_figures(twin: TwinResult) -> None:
    recording = record_twin(twin, max_frames=60)  # 720 minute steps in frames of 12
    run, plan = twin.run, twin.schedule
    assert run.buffers is not None
    assert recording.frames == 60
    assert recording.frame_s == 720.0
    assert np.array_equal(recording.key_bits, run.buffers[11::12])
    # every bit spent on a link in the run is in exactly one frame
    np.testing.assert_allclose(recording.spent_bits.sum(axis=0), run.consumed[0], rtol=1e-5)
    made = recording.made_bps.sum(axis=0, dtype=np.float64) * recording.frame_s
    np.testing.assert_allclose(made, run.produced[0], rtol=1e-5)
    # b-c is down in the frames that overlap hour 2 to 3, and only there
    bc = twin.network.link_index()["b-c"]
    down = np.flatnonzero(~recording.up[:, bc])
    assert list(down) == list(range(10, 15))
    assert recording.up[:, [i for i in range(3) if i != bc]].all()
    assert np.array_equal(recording.up[:, bc], plan.up[11::12, bc] & plan.up[::12, bc])
    # a demand cut off by the outage is not served in full while its route is down (its buffer aside)
    assert recording.served_fraction.min() >= 0.0
    assert recording.served_fraction.max() <= 1.0


def test_a_recording_reads_back_as_written(twin: TwinResult, tmp_path: Path) -> None:
    recording = record_twin(twin, max_frames=60)
    save_recording(recording, tmp_path / RECORDING_FILE)
    again = load_recording(tmp_path / RECORDING_FILE)
    assert again.network == json.loads(json.dumps(recording.network))
    assert again.frame_s == recording.frame_s
    for name in ("key_bits", "made_bps", "spent_bits", "up", "served_fraction", "route"):
        assert np.array_equal(getattr(again, name), getattr(recording, name)), name


def test_what_is_not_a_recording_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"no such file .*--out DIR writes DIR/replay\.npz"):
        load_recording(tmp_path / RECORDING_FILE)
    (tmp_path / "bad.npz").write_bytes(b"not an archive")
    with pytest.raises(PlanError, match="not a twin recording"):
        load_recording(tmp_path / "bad.npz")


def test_the_replay_follows_the_clock_through_the_outage(twin: TwinResult) -> None:
    recording = record_twin(twin, max_frames=60)
    clock = [100.0]
    source = ReplaySource(recording, speed=720.0, clock=lambda: clock[0])  # one frame a second
    start = recording.network["start_s"]

    def at(frame: int) -> dict:
        clock[0] = 100.0 + frame + 0.5
        return source.snapshot(with_history=True)

    before = at(5)
    assert before["replay"]["frame"] == 5
    assert before["now_s"] == start + 6 * 720.0
    assert {link["id"]: link["status"] for link in before["links"]} == {"a-b": "up", "b-c": "up", "c-d": "up"}
    assert not [a for a in before["alarms"]["active"] if a["kind"] == "link-down"]
    assert len(before["history"]["link:b-c"]) == 6
    assert before["routes"][0]["kmes"] == ["a", "b", "c", "d"]
    during = at(12)
    link = next(link for link in during["links"] if link["id"] == "b-c")
    assert (link["status"], link["routable"], link["alarms"]) == ("down", False, ["link-down"])
    (alarm,) = [a for a in during["alarms"]["active"] if a["kind"] == "link-down"]
    assert (alarm["link"], alarm["raised_s"]) == ("b-c", start + 2 * 3600.0)
    after = at(20)
    assert all(link["status"] == "up" for link in after["links"])
    (cleared,) = after["alarms"]["cleared"]
    assert (cleared["raised_s"], cleared["cleared_s"]) == (start + 2 * 3600.0, start + 3 * 3600.0)
    node = next(n for n in after["nodes"] if n["id"] == "b")
    assert node["key_bits"] == pytest.approx(sum(after["links"][i]["key_bits"] for i in (0, 1)))
    assert at(60 + 5)["now_s"] == before["now_s"]  # the replay starts over


def test_sites_far_away_and_satellites_are_drawn_at_the_maps_edges() -> None:
    from openqci.planner.replay import _placed_sites

    sites = [
        {"id": "paris", "lat": 48.86, "lon": 2.35, "roles": ["kme"]},
        {"id": "lyon", "lat": 45.76, "lon": 4.84, "roles": ["kme"]},
        {"id": "nice", "lat": 43.70, "lon": 7.27, "roles": ["kme"]},
        {"id": "reunion", "lat": -21.1, "lon": 55.5, "roles": ["kme"]},
        {"id": "sat", "lat": None, "lon": None, "roles": ["satellite"]},
    ]
    placed = {s["id"]: s for s in _placed_sites(sites)}
    assert (placed["paris"]["lat"], placed["paris"]["lon"]) == (48.86, 2.35)
    assert placed["reunion"]["lat"] == pytest.approx(43.70 - 2.0)
    assert placed["reunion"]["where"] == "-21.100, 55.500, drawn at the map's edge"
    assert placed["sat"]["lat"] == pytest.approx(48.86 + 2.0)
    assert 2.35 <= placed["sat"]["lon"] <= 7.27


# -- the dashboard in a browser ---------------------------------------------------------------------------


@pytest.fixture
def replay_url(twin: TwinResult, tmp_path: Path) -> Iterator[str]:
    write_report(twin, twin_metrics(twin), tmp_path / "report")
    command = [sys.executable, "-m", "openqci", "plan", "replay", str(tmp_path / "report"), "--speed", "5400"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "400"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert process.stdout is not None
        printed = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            printed.append(line)
            found = re.search(r"http://127\.0\.0\.1:\d+/dashboard/\?token=\S+", line)
            if found:
                yield found.group(0)
                break
            if not line and process.poll() is not None:
                pytest.fail(f"openqci plan replay exited: {''.join(printed)}")
        else:
            pytest.fail(f"openqci plan replay printed no address: {''.join(printed)}")
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stdout is not None:
            process.stdout.close()


def test_the_dashboard_replays_the_run_in_a_browser(replay_url: str, tmp_path: Path) -> None:
    binary = chromium_binary()
    with Chromium(binary) as browser:
        browser.open(replay_url)
        browser.wait_for("document.body.dataset.live === '1'", timeout_s=15)
        sites = "[...document.querySelectorAll('circle[data-site]')].map(e => e.dataset.site).sort()"
        assert browser.evaluate(sites) == ["a", "b", "c", "d"]
        links = "[...document.querySelectorAll('line[data-link]')].map(e => e.dataset.link).sort()"
        assert browser.evaluate(links) == ["a-b", "b-c", "c-d"]
        assert "twin replay" in browser.evaluate("document.getElementById('network').textContent")
        clock = "document.getElementById('clock').textContent"
        first = browser.evaluate(clock)
        assert "replay" in first
        browser.wait_for(f"{clock} !== {json.dumps(first)}", timeout_s=5)
        # 12 simulated hours in 8 s a round: the outage of b-c comes round within one
        down = '!!document.querySelector(\'line[data-link="b-c"][data-status="down"]\')'
        alarm = '!!document.querySelector(\'[data-alarm-kind="link-down"][data-alarm-link="b-c"]\')'
        browser.wait_for(f"{down} && {alarm}", timeout_s=12)
        shot = browser.screenshot(tmp_path / "dashboard-replay.png")
    print(f"replay screenshot: {shot}")
