"""``openqci network`` as users call it: a real process, JSON on stdout, one-line errors on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def openqci(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openqci", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_show_json_lists_links_with_lengths_losses_and_rates() -> None:
    done = openqci("network", "show", str(ROOT / "scenarios" / "franceqci.yaml"), "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["name"] == "franceqci"
    links = {link["link"]: link for link in document["links"]}
    assert links["evry-melun"]["preset"] == "lim2014"
    assert all(link["length_km"] > 0 and link["loss_db"] > 0 for link in links.values())
    assert all(link["expected_key_rate_bps"] > 0 for link in links.values())
    demand = next(d for d in document["demands"] if d["name"] == "atc-toulouse-paris")
    assert demand["required_rate_bps"] == 25.6
    assert {site["name"] for site in document["sites"]} >= {"dsna-blagnac", "enac", "uca-valrose"}


def test_show_table_mentions_every_section() -> None:
    done = openqci("network", "show", str(ROOT / "scenarios" / "line5.yaml"))
    assert done.returncode == 0, done.stderr
    for title in ("Sites (5)", "Fibre links (4)", "Demands (2)"):
        assert title in done.stdout


def test_bad_scenario_is_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nsites:\n  - {name: a, roles: [kme], latitude_deg: 95, longitude_deg: 2}\n")
    done = openqci("network", "show", str(path), "--json")
    assert done.returncode != 0
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0] == f"openqci: error: {path}: sites[0] (a): latitude_deg: must be <= 90"


def test_schema_command_prints_the_committed_schema() -> None:
    done = openqci("network", "schema")
    assert done.returncode == 0, done.stderr
    committed = (ROOT / "docs" / "scenario.schema.json").read_text(encoding="utf-8")
    assert done.stdout == committed
