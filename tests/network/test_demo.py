"""``openqci demo``: FranceQCI launched, keys relayed from Toulouse to the Paris region, everything stopped.

The end-to-end run takes about half a minute on the 2-core machine; Ctrl-C in the middle of it must leave
no process of the network behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.network.test_launcher import ROOT, openqci, processes_of


def demo_processes() -> list[int]:
    """Pids of live processes of a network launched by the demo (its state directory's prefix)."""
    return processes_of("openqci-demo-")


def test_the_demo_relays_keys_from_toulouse_to_paris_and_stops_everything(tmp_path: Path) -> None:
    started = time.monotonic()
    done = openqci("demo", "--output-dir", str(tmp_path), "--keys", "3", "--collect-s", "3", timeout_s=170)
    elapsed_s = time.monotonic() - started
    try:
        assert done.returncode == 0, done.stderr + done.stdout
        out = " ".join(done.stdout.split())
        assert "Decoy-state BB84 secret key rate" in out
        assert (tmp_path / "keyrate.png").exists()
        assert "franceqci is up" in out
        assert "route taken (22 hops): dsna-blagnac > toulouse >" in out
        assert "> dsna-paris" in out
        assert "keys delivered: 3 (3 retrieved by atc-dsna-paris with the same bytes)" in out
        assert "network stopped" in out
        assert elapsed_s < 180.0
    finally:
        for pid in demo_processes():
            os.kill(pid, signal.SIGKILL)
    assert demo_processes() == []


@pytest.mark.slow
def test_ctrl_c_stops_the_network_it_launched(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "openqci", "demo", "--output-dir", str(tmp_path), "--collect-s", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "is up in" in line:
                break
        assert demo_processes()
        demo.send_signal(signal.SIGINT)
        rest = demo.communicate(timeout=60)[0]
        assert "interrupted: stopping the network" in rest
        assert "network stopped" in rest
        assert demo_processes() == []
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        for pid in demo_processes():
            os.kill(pid, signal.SIGKILL)
