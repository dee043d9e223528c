"""The ``openqci`` command as users and scripts call it: a real process, JSON on stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def openqci(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openqci", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_keyrate_json_has_the_contract_fields() -> None:
    done = openqci(
        "keyrate", "--protocol", "decoy-bb84", "--preset", "gys2004", "--distance-km", "50", "--json"
    )
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    for field in (
        "protocol",
        "preset",
        "distance_km",
        "channel_loss_db",
        "mu",
        "gain",
        "qber",
        "secret_key_rate_per_pulse",
        "secret_key_rate_bps",
    ):
        assert field in record
    assert record["channel_loss_db"] == pytest.approx(10.5)
    assert record["secret_key_rate_per_pulse"] == pytest.approx(2.23e-4, rel=0.02)
    assert record["secret_key_rate_bps"] == pytest.approx(record["secret_key_rate_per_pulse"] * 2e6)


def test_finite_key_json_reports_block_size_and_epsilon() -> None:
    done = openqci(
        "keyrate",
        "--preset",
        "lim2014",
        "--distance-km",
        "100",
        "--block-size",
        "1e10",
        "--epsilon",
        "1e-10",
        "--json",
    )
    record = json.loads(done.stdout)
    assert record["block_size"] == 1e10
    assert record["epsilon"] == 1e-10
    assert record["secret_key_rate_per_pulse"] > 0


@pytest.mark.parametrize("protocol", ["bbm92", "plob"])
def test_other_protocols_answer_the_same_way(protocol: str) -> None:
    done = openqci("keyrate", "--protocol", protocol, "--preset", "lim2014", "--distance-km", "100", "--json")
    record = json.loads(done.stdout)
    assert record["protocol"] == protocol
    assert record["secret_key_rate_per_pulse"] > 0


def test_sweep_prints_a_list_and_writes_the_plot(tmp_path: Path) -> None:
    figure = tmp_path / "rate.png"
    done = openqci("keyrate", "--preset", "gys2004", "--sweep", "0:200:1", "--plot", str(figure), "--json")
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert [r["distance_km"] for r in records] == [float(d) for d in range(201)]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_max_distance() -> None:
    done = openqci("keyrate", "--preset", "gys2004", "--max-distance", "--json")
    assert json.loads(done.stdout)["max_distance_km"] == pytest.approx(142.2, abs=0.5)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--distance-km", "-5"], "distance_km"),
        (["--mu", "0"], "mu must be > 0"),
        (["--mu", "-0.3"], "mu must be > 0"),
        (["--preset", "nope"], "unknown preset"),
        (["--block-size", "1e6", "--epsilon", "0"], "epsilon"),
        (["--block-size", "1e6", "--epsilon", "1.5"], "epsilon"),
        (["--protocol", "e91"], "unknown protocol"),
        (["--distance-km", "far"], "--distance-km"),
    ],
)
def test_bad_input_gets_one_line_and_a_non_zero_exit(args: list[str], words: str) -> None:
    done = openqci("keyrate", *args, "--json")
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("openqci: error:")
    assert words in lines[0]
    assert "Traceback" not in done.stderr
