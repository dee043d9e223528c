"""``openqci demo`` as a user runs it: FranceQCI end to end (slow), and Ctrl-C in the middle of a run.

Whatever happens, the demonstration leaves nothing behind: no process of the network it launched, and no
temporary directory (the test points ``TMPDIR`` at a folder of its own and checks that it ends empty).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.network.test_launcher import ROOT, processes_of

MESH = ["--scenario", str(ROOT / "scenarios" / "mesh.yaml"), "--master", "sae-alice", "--slave", "sae-bob"]


def demo_processes() -> list[int]:
    """Pids of live processes of a network launched by the demo (its state directory's prefix)."""
    return processes_of("openqci-demo-")


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    return subprocess.Popen(
        [sys.executable, "-m", "openqci", "demo", "--output-dir", str(tmp_path / "out"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=os.environ | {"TMPDIR": str(temporary), "COLUMNS": "200"},
    )


def _kill_leftovers(demo: subprocess.Popen[str]) -> None:
    if demo.poll() is None:
        demo.kill()
        demo.wait()
    for pid in demo_processes():
        os.kill(pid, signal.SIGKILL)
    if demo.stdout is not None:  # a run cut short leaves its pipe open; the next test would see it collected
        demo.stdout.close()


@pytest.mark.slow
def test_ctrl_c_in_the_exchange_stops_the_network_and_removes_its_directory(tmp_path: Path) -> None:
    demo = _start(tmp_path, *MESH, "--duration-s", "60", "--collect-s", "1", "--flights", "200")
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "route from alice to bob" in line:
                break
        assert demo_processes()
        assert list((tmp_path / "tmp").iterdir())  # the network's state directory
        time.sleep(6.0)  # into the exchange
        demo.send_signal(signal.SIGINT)
        rest = demo.communicate(timeout=60)[0]
        assert demo.returncode == 130, rest
        assert "interrupted: stopping the network" in rest
        assert "network stopped" in rest
        assert "Traceback" not in rest
        assert demo_processes() == []
        assert list((tmp_path / "tmp").iterdir()) == []
    finally:
        _kill_leftovers(demo)


@pytest.mark.slow
def test_the_demo_runs_franceqci_from_nothing_within_three_minutes(tmp_path: Path) -> None:
    started = time.monotonic()
    demo = _start(tmp_path, "--json")
    try:
        out = demo.communicate(timeout=290)[0]
        elapsed_s = time.monotonic() - started
        assert demo.returncode == 0, out
        document = json.loads(out.strip().splitlines()[-1])
        exchange = document["exchange"]
        assert document["network"] == "franceqci"
        assert exchange["complete"] is True
        assert exchange["same_keys_at_both_ends"] is True
        assert exchange["records_sent"] == exchange["records_verified"] > 500
        assert document["cut_link"] == "toulouse-dsna"
        assert len(exchange["routes"]) >= 2
        assert all(route["route"][0] == "dsna-blagnac" for route in exchange["routes"])
        assert all(key["qkd"] for key in exchange["keys"])
        assert Path(document["report"]).stat().st_size > 20_000
        assert demo_processes() == []
        assert list((tmp_path / "tmp").iterdir()) == []
        assert elapsed_s < 180.0
    finally:
        _kill_leftovers(demo)
