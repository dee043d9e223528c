"""The ``openqci space`` commands: JSON contract, plot, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
XINGLONG = "40.3956,117.575,900"


def _openqci(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from openqci.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def test_passes_json_contract() -> None:
    result = _openqci(
        "space",
        "passes",
        "--tle",
        str(DATA / "micius_like.tle"),
        "--station",
        XINGLONG,
        "--hours",
        "24",
        "--min-elevation",
        "10",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    passes = json.loads(result.stdout)["passes"]
    assert len(passes) >= 2
    for p in passes:
        assert {"start", "end", "max_elevation_deg", "duration_s"} <= set(p)
        assert p["start"].startswith("2017-01-01")
        assert p["max_elevation_deg"] >= 10.0
        assert 0 < p["duration_s"] < 800


def test_pass_key_json_and_plot(tmp_path: Path) -> None:
    picture = tmp_path / "pass.png"
    result = _openqci(
        "space",
        "pass-key",
        "--preset",
        "micius2017",
        "--tle",
        str(DATA / "micius_like.tle"),
        "--station",
        XINGLONG,
        "--json",
        "--plot",
        str(picture),
        "--aggregate",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    best = max(document["passes"], key=lambda p: p["secret_key_bits"])
    assert best["secret_key_bits"] > 100_000
    assert 25.0 < best["loss_db_min"] < best["loss_db_max"]
    assert best["finite_key"]["epsilon_sec"] == 1e-9
    assert document["aggregate"]["passes"] == len(document["passes"])
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--station", "95,10"), "latitude_deg must lie in [-90, 90]"),
        (("--station", XINGLONG, "--hours", "-5"), "--hours must be a finite number >= 0"),
        (("--station", "north"), "LAT,LON[,ALT_M]"),
    ],
)
def test_bad_input_gives_one_line(args: tuple[str, ...], message: str) -> None:
    result = _openqci("space", "passes", "--tle", str(DATA / "micius_like.tle"), *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


def test_bad_tle_gives_one_line(tmp_path: Path) -> None:
    corrupt = tmp_path / "bad.tle"
    lines = (DATA / "micius_like.tle").read_text().splitlines()
    corrupt.write_text(
        "\n".join([lines[0], lines[1][:-1] + "0" if lines[1][-1] != "0" else lines[1][:-1] + "1", lines[2]])
    )
    for path, message in ((corrupt, "checksum"), (tmp_path / "missing.tle", "cannot read TLE file")):
        result = _openqci("space", "passes", "--tle", str(path), "--station", XINGLONG)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1
        assert message in result.stderr
